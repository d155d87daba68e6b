"""The core's commands: check, cache stats, audit verify, reconcile list/done, population.

Exit codes: 0 the command ran (whatever the verdict), 2 bad input (one-line reason),
3 the environment lacks something (no database yet, unreadable configuration).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

from madoguchi.cli import card as card_cli
from madoguchi.cli import qr as qr_cli
from madoguchi.edge import reconcile, store
from madoguchi.edge.config import JST, Config, ConfigError, load_config
from madoguchi.edge.desk import run_check
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.numbers import (
    InputError,
    normalize_branch,
    normalize_symbol,
    parse_birth_date,
    parse_insurer_number,
)
from madoguchi.edge.verdict import CheckRequest, Method, format_verdict
from madoguchi.sim import population

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ENVIRONMENT = 0, 1, 2, 3


class CommandError(Exception):
    """Ends a command with an exit code and a one-line reason."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check one patient's qualification",
                       description="Check a patient by printed numbers, by 診察券 (patient id) or by card link.")
    p.add_argument("--insurer", help="保険者番号 (8 digits, or 6 for 国保)")
    p.add_argument("--symbol", default="", help="記号 (empty for 後期高齢者)")
    p.add_argument("--number", help="番号")
    p.add_argument("--branch", default="", help="枝番 (2 digits)")
    p.add_argument("--birth", help="生年月日: 1975-01-02, 19750102, 3500102 or 昭和50年1月2日")
    p.add_argument("--patient-id", help="診察券番号 / 照会番号")
    p.add_argument("--card-link", help="card link (keyed hash of the card's auth certificate)")
    p.add_argument("--qr-file", nargs="+", type=Path, metavar="F",
                   help="a scanned code: raw bytes or an image; several files = the symbols of a split code")
    p.add_argument("--document", choices=[k.value for k in DocumentKind], default=None,
                   help="document presented (default: 資格確認書 for numbers)")
    p.add_argument("--card-presented", action="store_true",
                   help="the My Number Card was shown with a notice or portal screen")
    p.add_argument("--valid-until", help="有効期限 printed on the document")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    card_cli.add_check_options(p)
    p.set_defaults(func=cmd_check)
    card_cli.register(sub)

    p = sub.add_parser("cache", help="the local cache").add_subparsers(dest="cache_command", required=True)
    s = p.add_parser("stats", help="what the local cache holds and how old it is")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_cache_stats)

    p = sub.add_parser("audit", help="the audit log of checks").add_subparsers(dest="audit_command", required=True)
    s = p.add_parser("verify", help="verify the hash chain: detects edited and deleted entries (exit 1 if any)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_audit_verify)

    p = sub.add_parser("reconcile", help="the 要対応 list: offline checks the hub contradicted").add_subparsers(
        dest="reconcile_command", required=True)
    s = p.add_parser("list", help="open followups (with --all, handled ones too)")
    s.add_argument("--all", action="store_true", help="include followups already handled")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_reconcile_list)
    s = p.add_parser("done", help="mark a followup as handled (exit 1 if there is no such open followup)")
    s.add_argument("id", type=int)
    s.set_defaults(func=cmd_reconcile_done)

    p = sub.add_parser("population", help="generate the synthetic population",
                       description="Write a synthetic population into the data directory's cache (as a sync "
                       "would), or with --out into a JSON-lines file for the simulator and the hub.")
    p.add_argument("--patients", type=int, default=1000, help="number of people (default 1000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--today", help="the day the population is generated for (default: today, JST)")
    p.add_argument("--out", type=Path, help="write every record (with person_id and registered_on) to this file")
    p.add_argument("--json", action="store_true", help="print a summary and sample people as JSON")
    p.add_argument("--sample", metavar="KIND", help="only print the check options of one sample person "
                   "(valid, lost, ...): the people move with the date, their options stay usable")
    p.set_defaults(func=cmd_population)

    qr_cli.register(sub)


def data_config(args: argparse.Namespace) -> Config:
    try:
        return load_config(args.data_dir)
    except ConfigError as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None


def open_store(config: Config):
    try:
        return store.open_database(config.data_dir)
    except store.StoreMissing as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None


# ---- check -------------------------------------------------------------------

def build_request(args: argparse.Namespace) -> CheckRequest:
    """A CheckRequest from command-line arguments; InputError on bad input."""
    by_numbers = any((args.insurer, args.number, args.birth))
    chosen = sum(bool(x) for x in (by_numbers, args.patient_id, args.card_link, args.qr_file))
    if chosen != 1:
        raise InputError("give exactly one of: --insurer/--number/--birth, --patient-id, --card-link, --qr-file")
    document = DocumentKind(args.document) if args.document else None
    if args.qr_file:
        return qr_cli.request_from_files(args.qr_file, document, args.card_presented)
    valid_until = parse_birth_date(args.valid_until, today=date.max) if args.valid_until else None
    if args.patient_id:
        return CheckRequest(Method.PATIENT_ID, document or DocumentKind.ELIGIBILITY_CERTIFICATE,
                            patient_id=args.patient_id.strip(), card_presented=args.card_presented,
                            printed_valid_until=valid_until)
    if args.card_link:
        return CheckRequest(Method.CARD, document or DocumentKind.MYNA_CARD, card_link=args.card_link.strip().lower())
    missing = [flag for flag, value in (("--insurer", args.insurer), ("--number", args.number),
                                        ("--birth", args.birth)) if not value]
    if missing:
        raise InputError(f"a check by numbers also needs {', '.join(missing)}")
    insurer = parse_insurer_number(args.insurer)
    symbol = normalize_symbol(args.symbol)
    if not symbol and not insurer.is_kouki:
        raise InputError("--symbol (記号) is needed except for 後期高齢者 (法別39) numbers")
    return CheckRequest(
        Method.NUMBERS, document or DocumentKind.ELIGIBILITY_CERTIFICATE,
        insurer_number=insurer.digits, symbol=symbol, number=normalize_symbol(args.number),
        branch=normalize_branch(args.branch), birth_date=parse_birth_date(args.birth),
        card_presented=args.card_presented, printed_valid_until=valid_until,
    )


def cmd_check(args: argparse.Namespace) -> int:
    if args.card:
        return card_cli.cmd_check_card(args)
    try:
        request = build_request(args)
    except InputError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    config = data_config(args)
    conn = open_store(config)
    from madoguchi.sync.device import hubclient  # requests: only when a check may go online

    result = run_check(conn, request, config.policy, hubclient.live_source_for(config.data_dir, conn))
    if args.json:
        print(json.dumps({**result.verdict.to_json(), "audit_id": result.audit_id}, ensure_ascii=False, indent=2))
    else:
        print(format_verdict(result.verdict))
    return EXIT_OK


# ---- cache, audit --------------------------------------------------------------

def cmd_cache_stats(args: argparse.Namespace) -> int:
    config = data_config(args)
    conn = open_store(config)
    now = store.utcnow()
    stats = store.cache_stats(conn, config.data_dir, now.astimezone(JST).date())
    sync = stats.sync
    data = {
        "data_dir": str(config.data_dir),
        "records": stats.records, "valid_today": stats.valid_today, "patients": stats.patients,
        "insurers": stats.insurers, "revoked_certificates": stats.revoked_certificates,
        "audit_entries": stats.audit_entries, "outbox_pending": stats.outbox_pending,
        "database_bytes": stats.database_bytes,
        "data_version": sync.data_version if sync else None,
        "generated_at": sync.generated_at.astimezone(JST).isoformat() if sync else None,
        "applied_at": sync.applied_at.astimezone(JST).isoformat() if sync else None,
        "data_age_seconds": int((now - sync.generated_at).total_seconds()) if sync else None,
    }
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for key, value in data.items():
            print(f"{key:22} {value}")
    return EXIT_OK


def cmd_reconcile_list(args: argparse.Namespace) -> int:
    conn = open_store(data_config(args))
    items = reconcile.list_followups(conn, include_handled=args.all)
    if args.json:
        print(json.dumps([dataclasses.asdict(f) for f in items], ensure_ascii=False, indent=2))
    for f in [] if args.json else items:
        handled = f"  (handled {f.handled_at})" if f.handled_at else ""
        print(f"{f.id:5} {f.created_at[:16]} {f.kind:20} {f.message_ja}{handled}\n      → {f.correction_ja}")
    if not items and not args.json:
        print("no followups" if args.all else "no open followups")
    return EXIT_OK


def cmd_reconcile_done(args: argparse.Namespace) -> int:
    conn = open_store(data_config(args))
    if reconcile.mark_handled(conn, args.id):
        return EXIT_OK
    print(f"no open followup {args.id}", file=sys.stderr)
    return EXIT_FAILED


def cmd_audit_verify(args: argparse.Namespace) -> int:
    conn = open_store(data_config(args))
    count, problems = store.verify_audit(conn)
    if args.json:
        print(json.dumps({"entries": count, "ok": not problems,
                          "problems": [{"entry": p.entry_id, "problem": p.problem} for p in problems]}, indent=2))
    else:
        print(f"{count} entries checked: " + ("chain intact" if not problems else f"{len(problems)} problem(s)"))
        for p in problems:
            print(f"  entry {p.entry_id}: {p.problem}")
    return EXIT_OK if not problems else EXIT_FAILED


# ---- population -------------------------------------------------------------------

def progress(items: Iterable, total: int, label: str) -> Iterator:
    """Yield items, drawing a progress bar on stderr when it is a terminal."""
    if not sys.stderr.isatty() or total < 10000:
        yield from items
        return
    step = max(total // 100, 1)
    started = time.monotonic()
    for i, item in enumerate(items, 1):
        if i % step == 0:
            filled = min(30 * i // total, 30)
            rate = i / max(time.monotonic() - started, 1e-6)
            sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {i:,} ({rate:,.0f}/s)")
            sys.stderr.flush()
        yield item
    sys.stderr.write("\n")


def cmd_population(args: argparse.Namespace) -> int:
    if args.patients < 1:
        raise CommandError(EXIT_BAD_INPUT, "--patients must be at least 1")
    try:
        today = parse_birth_date(args.today, today=date.max) if args.today else None
    except InputError as exc:
        raise CommandError(EXIT_BAD_INPUT, f"--today: {exc}") from None
    now = population.default_now(today) if today else datetime.now(JST)
    today = today or now.date()
    if args.sample:
        try:
            print(population.check_options(population.samples(args.patients, args.seed, today, now), args.sample))
        except InputError as exc:
            raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
        return EXIT_OK
    records = progress(population.generate(args.patients, args.seed, today, now), int(args.patients * 1.04), "population")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            count = 0
            for rec in records:
                out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
                count += 1
        summary = {"out": str(args.out), "records": count}
    else:
        config = data_config(args)
        conn = store.open_database(store.secure_dir(config.data_dir), create=True)
        count = population.load_population(conn, records, today, now)
        summary = {"data_dir": str(config.data_dir), "records_in_cache": count}
    summary["samples"] = population.samples(args.patients, args.seed, today, now)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(", ".join(f"{k}: {v}" for k, v in summary.items() if k != "samples"))
        print("sample people (try: madoguchi check --insurer ... --symbol ... --number ... --birth ...):")
        for kind, rec in summary["samples"].items():
            branch = rec["branch"] or "''"
            print(f"  {kind:18} {rec['name']}  --insurer {rec['insurer_number']} --symbol '{rec['symbol']}' "
                  f"--number {rec['number']} --branch {branch} --birth {rec['birth_date']}")
    return EXIT_OK
