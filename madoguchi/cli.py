"""`madoguchi`: one command line for the desk, the sync daemon and the hub."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from edge import cli as edge_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="madoguchi",
        description="madoguchi (窓口): insurance qualification checks at a clinic or pharmacy desk.",
    )
    parser.add_argument("--data-dir", help="data directory (default: $MADOGUCHI_DATA_DIR, then the "
                        "configuration's data_dir, then ~/.local/share/madoguchi)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (English, to stderr)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    edge_cli.register(sub)
    p = sub.add_parser("demo", help="a demonstration on a temporary synthetic population")
    p.set_defaults(func=cmd_demo)
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    """Until the desk UI exists: a population in a temporary directory and a few checks printed."""
    import tempfile
    from edge.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="madoguchi-demo-") as tmp:
        run_demo(tmp)
    return edge_cli.EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
