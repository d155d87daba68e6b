"""The simulated world (synthetic data, for the demo, tests, benchmarks and training only): the
population, the national-system simulator and its server, the virtual My Number Card and its vpcd
link, sample documents and the demo desk. Production code never imports this package."""
