"""What every command shares: exit codes, the one-line error, the data directory, JSON output,
and the options accepted before or after any command.

Exit codes, one meaning everywhere:
  0  the command ran (whatever the verdict)
  1  a verification or check failed (audit chain broken, update rejected, doctor failure,
     card refused, no such open followup, terminal did not answer)
  2  bad input: a one-line reason names the problem (a usage error included)
  3  the environment lacks something: no database, not enrolled, no hub here, no reader,
     unreadable configuration
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Callable

from madoguchi.edge import store
from madoguchi.edge.config import Config, ConfigError, load_config

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ENVIRONMENT = 0, 1, 2, 3


class CommandError(Exception):
    """Ends a command with an exit code and a one-line reason."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """A usage error is bad input like any other: one line, exit 2, JSON with --json."""

    def error(self, message: str):
        raise CommandError(EXIT_BAD_INPUT, f"{message} (see `{self.prog} --help`)")


def global_options(parser: argparse.ArgumentParser, default: object = None) -> None:
    """--data-dir, -v, --json: on the top parser with real defaults, on every subcommand with
    argparse.SUPPRESS, so that one given after the command is not reset by the command's parser."""
    flag = False if default is None else default
    parser.add_argument("--data-dir", default=default, help="data directory (default: $MADOGUCHI_DATA_DIR, then "
                        "the configuration's data_dir, then ~/.local/share/madoguchi)")
    parser.add_argument("-v", "--verbose", action="store_true", default=flag, help="log more (English, to stderr)")
    parser.add_argument("--json", action="store_true", default=flag, help="print the result (or the error) as JSON")


COMMON = Parser(add_help=False)
global_options(COMMON, argparse.SUPPRESS)

Subcommands = argparse._SubParsersAction


def group(sub: Subcommands, name: str, help_text: str) -> Subcommands:
    """A command holding subcommands (`hub import`, `sync once`...)."""
    p = sub.add_parser(name, parents=[COMMON], help=help_text)
    return p.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def command(sub: Subcommands, name: str, func: Callable[[argparse.Namespace], int], help_text: str,
            **kwargs) -> argparse.ArgumentParser:
    """A leaf command: the global options, and `func(args)` to run it."""
    p = sub.add_parser(name, parents=[COMMON], help=help_text, **kwargs)
    p.set_defaults(func=func, prog=p.prog)
    return p


def data_config(args: argparse.Namespace) -> Config:
    try:
        return load_config(args.data_dir)
    except ConfigError as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None


def open_store(config: Config) -> sqlite3.Connection:
    try:
        return store.open_database(config.data_dir)
    except (store.StoreMissing, store.StoreLocked) as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None


def to_json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def emit(args: argparse.Namespace, data: object, text: str | None = None) -> None:
    """The command's result on stdout: JSON with --json; else `text`, or a key/value table."""
    if args.json:
        print(to_json(data))
    elif text is not None:
        print(text)
    elif isinstance(data, dict):
        for key, value in data.items():
            print(f"{key:22} {value}")
    else:
        print(data)


def refuse_json(args: argparse.Namespace) -> None:
    """Interactive commands have no result to print as JSON."""
    if args.json:
        raise CommandError(EXIT_BAD_INPUT, "an interactive command: --json does not apply")
