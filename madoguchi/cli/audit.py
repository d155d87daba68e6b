"""`madoguchi audit verify`: the hash chain of the audit log (exit 1 if an entry was edited or deleted)."""

from __future__ import annotations

import argparse

from madoguchi.cli.base import EXIT_FAILED, EXIT_OK, Subcommands, command, data_config, emit, group, open_store
from madoguchi.edge import store


def register(sub: Subcommands) -> None:
    audit = group(sub, "audit", "the audit log of checks")
    command(audit, "verify", cmd_audit_verify,
            "verify the hash chain: detects edited and deleted entries (exit 1 if any)")


def cmd_audit_verify(args: argparse.Namespace) -> int:
    conn = open_store(data_config(args))
    count, problems = store.verify_audit(conn)
    lines = [f"{count} entries checked: " + ("chain intact" if not problems else f"{len(problems)} problem(s)")]
    lines += [f"  entry {p.entry_id}: {p.problem}" for p in problems]
    emit(args, {"entries": count, "ok": not problems,
                "problems": [{"entry": p.entry_id, "problem": p.problem} for p in problems]}, "\n".join(lines))
    return EXIT_OK if not problems else EXIT_FAILED
