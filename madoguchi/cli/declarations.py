"""`madoguchi declarations export|resolve|unresolved|paid`: the 申立 on their way to the claim.

`export --month YYYY-MM` gives the レセコン what to claim for each 申立 made in that month (the
desk's time zone): the numbers it was resolved to, or the 7-filled numbers with the 申立書's
address and contact for 摘要 (edge/claim.py). CSV on stdout, or JSON with --json.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from datetime import datetime
from typing import Any

from madoguchi.cli.base import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    Subcommands,
    command,
    data_config,
    emit,
    group,
    open_store,
)
from madoguchi.edge import store
from madoguchi.edge.claim import claim_for
from madoguchi.edge.numbers import InputError, normalize_branch, normalize_symbol, parse_insurer_number

COLUMNS = ("id", "checked_on", "state", "claim_basis", "insurer_number", "symbol", "number", "branch",
           "remarks_ja", "copay_percent", "name", "name_kana", "birth_date", "address", "phone", "workplace",
           "insurer_declared", "card_presented", "card_name", "card_birth_date", "card_sex", "card_address",
           "resolved_at", "resolved_by", "claim_paid_at")


def register(sub: Subcommands) -> None:
    commands = group(sub, "declarations", "the 申立 (被保険者資格申立書) on their way to the claim")
    p = command(commands, "export", cmd_export,
                "what to claim for each 申立 of a month: resolved numbers, or 7-filled ones with 摘要 (CSV, --json)")
    p.add_argument("--month", required=True, help="the month of the visits, YYYY-MM (the desk's time zone)")
    p = command(commands, "resolve", cmd_resolve,
                "set the numbers of a 申立: the new ones the patient reported, or with --old the 旧資格 ones "
                "(exit 1 if there is no such unpaid 申立)")
    p.add_argument("id", type=int)
    p.add_argument("--insurer", required=True, help="保険者番号 (8 digits, or 6 for 国保)")
    p.add_argument("--symbol", default="", help="記号 (empty for 後期高齢者)")
    p.add_argument("--number", required=True, help="番号")
    p.add_argument("--branch", default="", help="枝番 (2 digits)")
    p.add_argument("--old", action="store_true", help="the old (旧資格) numbers, decided by the facility")
    p = command(commands, "unresolved", cmd_unresolved,
                "claim a 申立 with the numbers unknown (7-filled, 摘要) (exit 1 if there is no such unpaid 申立)")
    p.add_argument("id", type=int)
    p = command(commands, "paid", cmd_paid,
                "the claim of a 申立 was paid: it is then kept as the audit log is "
                "(exit 1 if there is no such unpaid 申立)")
    p.add_argument("id", type=int)


def month_bounds(month: str, tz) -> tuple[datetime, datetime]:
    """The first instant of `month` (YYYY-MM) and of the month after, in `tz`."""
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", month):
        raise CommandError(EXIT_BAD_INPUT, f"--month must be YYYY-MM, not {month[:20]!r}")
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year, number, 1, tzinfo=tz)
    return start, datetime(year + number // 12, number % 12 + 1, 1, tzinfo=tz)


def export_rows(rows: list[store.DeclarationRow], tz) -> list[dict[str, Any]]:
    result = []
    for row in rows:
        form = row.form
        claim = claim_for(row.state, form, row.insurer_number, row.symbol, row.number, row.branch)
        result.append({
            "id": row.id, "checked_on": datetime.fromisoformat(row.checked_at).astimezone(tz).date().isoformat(),
            "state": row.state, "claim_basis": claim.basis, "insurer_number": claim.insurer_number,
            "symbol": claim.symbol, "number": claim.number, "branch": claim.branch, "remarks_ja": claim.remarks_ja,
            "copay_percent": row.copay_percent, "name": form.name, "name_kana": form.name_kana,
            "birth_date": form.birth_date.isoformat(), "address": form.address, "phone": form.phone,
            "workplace": form.workplace, "insurer_declared": form.insurer, "card_presented": True,
            "card_name": form.card_name,
            "card_birth_date": form.card_birth_date.isoformat() if form.card_birth_date else "",
            "card_sex": form.card_sex or "", "card_address": form.card_address,
            "resolved_at": row.resolved_at, "resolved_by": row.resolved_by, "claim_paid_at": row.claim_paid_at,
        })
    return result


def cmd_export(args: argparse.Namespace) -> int:
    config = data_config(args)
    tz = config.policy.timezone
    start, end = month_bounds(args.month, tz)
    rows = export_rows(store.declarations_between(open_store(config), start, end), tz)
    if args.json:
        emit(args, {"month": args.month, "declarations": rows})
        return EXIT_OK
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    sys.stdout.write(out.getvalue())
    return EXIT_OK


def _done(args: argparse.Namespace, changed: bool, what: str) -> int:
    if changed or args.json:
        emit(args, {"id": args.id, "changed": changed}, f"申立 {args.id}: {what}")
    if not changed:
        print(f"no unpaid declaration {args.id}", file=sys.stderr)
    return EXIT_OK if changed else EXIT_FAILED


def cmd_resolve(args: argparse.Namespace) -> int:
    try:
        insurer = parse_insurer_number(args.insurer)
        numbers = {"insurer_number": insurer.digits, "symbol": normalize_symbol(args.symbol),
                   "number": normalize_symbol(args.number), "branch": normalize_branch(args.branch)}
    except InputError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    if not numbers["number"]:
        raise CommandError(EXIT_BAD_INPUT, "--number: nothing left once normalised")
    state = "resolved_old" if args.old else "resolved_new"
    conn = open_store(data_config(args))
    return _done(args, store.resolve_by_staff(conn, args.id, state, numbers, store.utcnow()), state)


def cmd_unresolved(args: argparse.Namespace) -> int:
    conn = open_store(data_config(args))
    return _done(args, store.resolve_by_staff(conn, args.id, "unresolved", None, store.utcnow()), "unresolved")


def cmd_paid(args: argparse.Namespace) -> int:
    conn = open_store(data_config(args))
    return _done(args, store.mark_claim_paid(conn, args.id, store.utcnow()), "claim paid")
