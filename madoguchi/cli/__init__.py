"""`madoguchi`: one command line for the desk, the sync daemon and the hub.

One module per command group, each thin over the library; exit codes, errors and JSON output in
base.py. A run loads only the module of the command it names (the desk's `demo` and `tui` start
without the sync, hub and doctor modules: bench/tui_startup.py); --help and usage errors load all.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from importlib.metadata import PackageNotFoundError, version

from madoguchi.cli.base import EXIT_OK, CommandError, Parser, global_options, to_json

# command -> the module registering it, in the order --help lists them
COMMANDS = {
    "check": "check", "funds": "funds", "vcard": "card", "cache": "cache", "audit": "audit", "reconcile": "reconcile",
    "declarations": "declarations",
    "population": "population", "qr": "qr", "hub": "hub", "sync": "sync", "upstream": "upstream",
    "doctor": "doctor", "support": "doctor", "demo": "desk", "tui": "desk",
}


def package_version() -> str:
    try:
        return version("madoguchi")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser(command: str | None = None) -> Parser:
    """The parser for `command` alone when it is known, else for every command."""
    parser = Parser(prog="madoguchi",
                    description="madoguchi (窓口): insurance qualification checks at a clinic or pharmacy desk.",
                    epilog="Exit codes: 0 ran, 1 a verification or check failed, 2 bad input, "
                    "3 the environment lacks something (no database, not enrolled, no hub).")
    parser.add_argument("--version", action="version", version=f"madoguchi {package_version()}")
    global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in names:
        importlib.import_module(f"madoguchi.cli.{name}").register(sub)
    return parser


def command_of(argv: list[str]) -> str | None:
    """The command named on the line, if any (the global options before it are skipped)."""
    pre = argparse.ArgumentParser(add_help=False)
    global_options(pre)
    pre.add_argument("command", nargs="?")
    return pre.parse_known_args(argv)[0].command


def wants_json(argv: list[str]) -> bool:
    return "--json" in (argv[:argv.index("--")] if "--" in argv else argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prog = "madoguchi"
    try:
        args = build_parser(command_of(argv)).parse_args(argv)
        prog = args.prog
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
        return args.func(args)
    except CommandError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        if wants_json(argv):
            print(to_json({"error": str(exc), "exit_code": exc.code}))
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
