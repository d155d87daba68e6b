"""`madoguchi`: one command line for the desk, the sync daemon and the hub."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from madoguchi.cli import check as edge_cli

# The desk's commands start the screen: they do not load the other commands' modules (the sync
# daemon, the hub, the doctor), for a faster, smaller start (bench/tui_startup.py).
DESK_COMMANDS = ("demo", "tui")


def build_parser(desk_only: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="madoguchi",
        description="madoguchi (窓口): insurance qualification checks at a clinic or pharmacy desk.",
    )
    parser.add_argument("--data-dir", help="data directory (default: $MADOGUCHI_DATA_DIR, then the "
                        "configuration's data_dir, then ~/.local/share/madoguchi)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (English, to stderr)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if not desk_only:
        from madoguchi.cli import doctor
        from madoguchi.cli import sync as sync_cli

        edge_cli.register(sub)
        sync_cli.register(sub)
        doctor.register(sub)
    p = sub.add_parser("demo", help="the desk on a temporary synthetic population, no hardware needed")
    p.add_argument("--text", action="store_true", help="print one check of each kind instead (for CI logs)")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("tui", help="the desk (reception UI) on the configured data directory")
    p.set_defaults(func=cmd_tui)
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    """The desk on a temporary synthetic world; --text prints a few checks instead."""
    import tempfile

    if args.text:
        from madoguchi.sim.demo import run_demo

        with tempfile.TemporaryDirectory(prefix="madoguchi-demo-") as tmp:
            run_demo(tmp)
        return edge_cli.EXIT_OK
    from madoguchi.sim.desk import run_demo_desk

    return run_demo_desk()


def cmd_tui(args: argparse.Namespace) -> int:
    from madoguchi.edge import store
    from madoguchi.sync.device.hubclient import live_source_for
    from madoguchi.tui.run import run_desk

    config = edge_cli.data_config(args)
    try:  # no database yet is fine (the desk says so); one it cannot open is a one-line error
        return run_desk(config, live_source_for)
    except store.StoreLocked as exc:
        raise edge_cli.CommandError(edge_cli.EXIT_ENVIRONMENT, str(exc)) from None


def command_of(argv: list[str]) -> str | None:
    """The command named on the line, if any (the options before it are skipped)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--data-dir")
    pre.add_argument("-v", "--verbose", action="store_true")
    pre.add_argument("command", nargs="?")
    return pre.parse_known_args(argv)[0].command


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(desk_only=command_of(argv) in DESK_COMMANDS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except edge_cli.CommandError as exc:
        print(f"madoguchi {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return edge_cli.EXIT_OK
