"""`madoguchi reconcile list|done`: the 要対応 list, offline checks the hub contradicted."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from madoguchi.cli.base import EXIT_FAILED, EXIT_OK, Subcommands, command, data_config, emit, group, open_store
from madoguchi.edge import store


def register(sub: Subcommands) -> None:
    commands = group(sub, "reconcile", "the 要対応 list: offline checks the hub contradicted")
    p = command(commands, "list", cmd_reconcile_list, "open followups (with --all, handled ones too)")
    p.add_argument("--all", action="store_true", help="include followups already handled")
    p = command(commands, "done", cmd_reconcile_done,
                "mark a followup as handled (exit 1 if there is no such open followup)")
    p.add_argument("id", type=int)


def cmd_reconcile_list(args: argparse.Namespace) -> int:
    conn = open_store(data_config(args))
    items = store.list_followups(conn, include_handled=args.all)
    lines = []
    for f in items:
        handled = f"  (handled {f.handled_at})" if f.handled_at else ""
        lines.append(f"{f.id:5} {f.created_at[:16]} {f.kind:20} {f.message_ja}{handled}\n      → {f.correction_ja}")
    emit(args, [dataclasses.asdict(f) for f in items], "\n".join(lines) if lines else "no followups" if args.all else "no open followups")
    return EXIT_OK


def cmd_reconcile_done(args: argparse.Namespace) -> int:
    conn = open_store(data_config(args))
    handled = store.mark_handled(conn, args.id)
    if handled or args.json:
        emit(args, {"id": args.id, "handled": handled}, f"followup {args.id} handled")
    if not handled:
        print(f"no open followup {args.id}", file=sys.stderr)
    return EXIT_OK if handled else EXIT_FAILED
