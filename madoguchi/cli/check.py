"""`madoguchi check`: one patient's qualification, by printed numbers, 診察券, card link, a
scanned code (qr.py) or the My Number Card in the reader (card.py). When the device is enrolled,
every way of checking asks the hub live first (within the policy's budget), as the desk does."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import date
from pathlib import Path

from madoguchi.cli import card, qr
from madoguchi.cli.base import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    CommandError,
    Subcommands,
    command,
    data_config,
    emit,
    open_store,
)
from madoguchi.edge.desk import run_check
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.numbers import (
    InputError,
    normalize_branch,
    normalize_symbol,
    parse_birth_date,
    parse_insurer_number,
)
from madoguchi.edge.verdict import CheckRequest, Consent, Method, by_medical_ticket, format_verdict
from madoguchi.sync.device.hubclient import live_source_for


def register(sub: Subcommands) -> None:
    p = command(sub, "check", cmd_check, "check one patient's qualification",
                description="Check a patient by printed numbers, by 診察券 (patient id), by card link, by a "
                "scanned code or by the My Number Card in the reader.")
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
    p.add_argument("--limit-consent", choices=("0", "1", "3"), default="",
                   help="the patient's consent to share 限度額 information: 1 yes, 0 no, 3 同意取得困難 "
                   "(default: not asked, sent as not given)")
    p.add_argument("--medical-consent", choices=("0", "1", "3"), default="",
                   help="the patient's consent to share 薬剤・診療・特定健診・手術 information")
    p.add_argument("--public-fund", action="append", default=[], metavar="PAYER[:RECIPIENT[:CAP]]",
                   help="公費 from a 受給者証 or 医療券 (up to 4): 公費負担者番号 (8 digits), 受給者番号 (7 digits) "
                   "and the monthly 自己負担上限額 in yen if it prints one; a 医療券 (法別 12) with --birth alone "
                   "checks a 医療扶助 patient")
    card.add_check_options(p)


def build_request(args: argparse.Namespace) -> CheckRequest:
    """A CheckRequest from command-line arguments; InputError on bad input."""
    funds = card.public_funds(args.public_fund)
    welfare = next((f for f in funds if f.is_welfare), None)
    if welfare is not None and args.birth and not (args.insurer or args.number):
        if not welfare.recipient_number:
            raise InputError("a 医療券 (法別 12) check needs its 受給者番号: --public-fund PAYER:RECIPIENT")
        return by_medical_ticket(welfare, parse_birth_date(args.birth), funds,
                                 document=DocumentKind(args.document or DocumentKind.MEDICAL_TICKET.value),
                                 printed_valid_until=parse_birth_date(args.valid_until, today=date.max)
                                 if args.valid_until else None)
    by_numbers = any((args.insurer, args.number, args.birth))
    chosen = sum(bool(x) for x in (by_numbers, args.patient_id, args.card_link, args.qr_file))
    if chosen != 1:
        raise InputError("give exactly one of: --insurer/--number/--birth, --patient-id, --card-link, --qr-file, "
                         "--card")
    document = DocumentKind(args.document) if args.document else None
    if args.qr_file:
        request = qr.request_from_files(args.qr_file, document, args.card_presented)
        return replace(request, public_funds=funds) if funds else request
    valid_until = parse_birth_date(args.valid_until, today=date.max) if args.valid_until else None
    if args.patient_id:
        return CheckRequest(Method.PATIENT_ID, document or DocumentKind.PATIENT_CARD,
                            patient_id=args.patient_id.strip(), card_presented=args.card_presented,
                            printed_valid_until=valid_until, public_funds=funds)
    if args.card_link:
        return CheckRequest(Method.CARD, document or DocumentKind.MYNA_CARD, card_link=args.card_link.strip().lower(),
                            public_funds=funds)
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
        card_presented=args.card_presented, printed_valid_until=valid_until, public_funds=funds,
    )


def cmd_check(args: argparse.Namespace) -> int:
    if args.card:
        try:
            funds = card.public_funds(args.public_fund)
        except InputError as exc:
            raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
        return card.cmd_check_card(args, funds)
    try:
        request = replace(build_request(args), consent=Consent(args.limit_consent, args.medical_consent))
    except InputError as exc:  # ScanError (a refused or unreadable code) is one
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    config = data_config(args)
    conn = open_store(config)
    result = run_check(conn, request, config.policy, live_source_for(config.data_dir, conn))
    emit(args, {**result.verdict.to_json(), "audit_id": result.audit_id}, format_verdict(result.verdict))
    return EXIT_OK
