"""Upstream adapters: where qualification data really comes from (docs/domain.md §1, §5).

`base.Upstream` is the one interface; `simulator.SimulatedUpstream` serves the synthetic
population (a simulator, for demos, tests and training); `terminal.FileTerminal` speaks to a
資格確認端末 through its shared folders.
"""
