"""The desk's commands: `madoguchi demo` (a temporary synthetic world) and `madoguchi tui` (the
production desk). Both are interactive: --json is refused (exit 2). The desk's modules are
imported when the command runs, not when --help lists it (start-up cost of every other command)."""

from __future__ import annotations

import argparse
import tempfile

from madoguchi.cli.base import EXIT_ENVIRONMENT, EXIT_OK, CommandError, Subcommands, command, data_config, refuse_json
from madoguchi.edge import store


def register(sub: Subcommands) -> None:
    p = command(sub, "demo", cmd_demo, "the desk on a temporary synthetic population, no hardware needed")
    p.add_argument("--text", action="store_true", help="print one check of each kind instead (for CI logs)")
    command(sub, "tui", cmd_tui, "the desk (reception UI) on the configured data directory")


def cmd_demo(args: argparse.Namespace) -> int:
    """The desk on a temporary synthetic world; --text prints a few checks instead."""
    refuse_json(args)
    if args.text:
        from madoguchi.sim.demo import run_demo

        with tempfile.TemporaryDirectory(prefix="madoguchi-demo-") as tmp:
            run_demo(tmp)
        return EXIT_OK
    from madoguchi.sim.desk import run_demo_desk

    return run_demo_desk()


def cmd_tui(args: argparse.Namespace) -> int:
    from madoguchi.sync.device.hubclient import live_source_for
    from madoguchi.tui.run import run_desk

    refuse_json(args)
    config = data_config(args)
    try:  # no database yet is fine (the desk says so); one it cannot open is a one-line error
        return run_desk(config, live_source_for)
    except store.StoreLocked as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None
