"""Command-line parts of the scan fallback: `check --qr-file` and `qr sample`.

`madoguchi check --qr-file F [F ...]`: each file holds one symbol's raw bytes (as a USB-COM
scanner delivers them; several files = the symbols of a split code, in order) or an image
(PNG, JPEG...) decoded with zxing-cpp.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from madoguchi.cli.base import EXIT_BAD_INPUT, EXIT_OK, CommandError, Subcommands, command, emit, group
from madoguchi.edge.config import JST
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.numbers import InputError, parse_birth_date
from madoguchi.edge.qr.camera import decode_image, is_image
from madoguchi.edge.qr.codes import ScanSource, check_request, classify
from madoguchi.edge.qr.jahis import ScanError, build_jahis
from madoguchi.edge.qr.split import SymbolPart, join_in_order
from madoguchi.edge.verdict import CheckRequest

SAMPLE_KINDS = ("jahis", "notice", "slip")
BIRTH_FORMS = ("western", "era", "year_month", "era_year_month")


def read_symbols(paths: list[Path]) -> list[SymbolPart]:
    parts: list[SymbolPart] = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ScanError(f"cannot read {path}: {exc.strerror}") from None
        if is_image(data):
            found = decode_image(path)
            if not found:
                raise ScanError(f"画像にコードが見つかりません: {Path(path).name} (no code found in the image)")
            parts.extend(found)
        else:
            parts.append(SymbolPart(data))
    return parts


def request_from_files(paths: list[Path], document: DocumentKind | None, card_presented: bool) -> CheckRequest:
    """The check for the patient in a scanned code; ScanError (exit 2) for anything else,
    a My Number code included."""
    payload = join_in_order(read_symbols(paths))
    result = classify(payload, ScanSource.FILE)
    del payload  # a My Number must not be kept beyond the refusal
    if result.refused:
        raise ScanError(f"refused: the code is a My Number (個人番号). {result.message_ja}")
    return check_request(result, document, card_presented)


def register(sub: Subcommands) -> None:
    qr = group(sub, "qr", "QR codes: test documents")
    p = command(qr, "sample", cmd_qr_sample, "write sample documents as PNG (demos, tests, technician training)",
                description="Write a JAHIS prescription code (whole or split), a notice-like sheet or a "
                "受付票 check slip as PNG files; a prescription's raw payload is written beside it "
                "(.bin, for `check --qr-file`).")
    p.add_argument("kind", choices=SAMPLE_KINDS)
    p.add_argument("--out", type=Path, default=Path("."), help="directory to write into (default: here)")
    p.add_argument("--version", type=int, default=10, help="JAHIS version 2-10 (default 10)")
    p.add_argument("--split", type=int, default=1, help="structured-append symbols, 1-16 (default 1)")
    p.add_argument("--birth-form", choices=BIRTH_FORMS, default="western", help="how record 13 is written")
    p.add_argument("--person", help="a population sample kind (valid, kouki, ...) instead of the invented person")
    p.add_argument("--patients", type=int, default=1000, help="population size for --person (default 1000)")
    p.add_argument("--seed", type=int, default=1, help="population seed for --person (default 1)")
    p.add_argument("--today", help="population day for --person (default: today, JST)")
    p.add_argument("--check-id", type=int, default=1, help="check (audit) id for a slip")


def _person(args: argparse.Namespace) -> dict:
    from madoguchi.sim import population  # start-up cost: `check` loads this module too
    from madoguchi.sim.documents import SAMPLE_PERSON

    if not args.person:
        return SAMPLE_PERSON
    today = parse_birth_date(args.today, today=datetime.max.date()) if args.today else None
    now = population.default_now(today) if today else datetime.now(JST)
    samples = population.samples(args.patients, args.seed, now.date(), now)
    if args.person not in samples:
        raise InputError(f"--person: no {args.person!r} sample; choose from {', '.join(samples)}")
    return samples[args.person]


def cmd_qr_sample(args: argparse.Namespace) -> int:
    from madoguchi.sim import documents as generate  # start-up cost, as above

    if not 1 <= args.split <= 16:
        raise CommandError(EXIT_BAD_INPUT, "--split must be 1 to 16")
    try:
        person = _person(args)
    except InputError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    args.out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def save(image, name: str) -> None:
        path = args.out / name
        image.save(path)
        written.append(str(path))

    if args.kind == "jahis":
        data = generate.prescription_from_person(person)
        payload = build_jahis(data, args.version, args.birth_form)
        symbols = generate.jahis_symbols(payload, args.split)
        stem = f"jahis{args.version}" + (f"-split{args.split}" if args.split > 1 else "")
        (args.out / f"{stem}.bin").write_bytes(payload)
        written.append(str(args.out / f"{stem}.bin"))
        for i, symbol in enumerate(symbols, 1):
            save(symbol, f"{stem}-{i}.png" if args.split > 1 else f"{stem}.png")
        save(generate.prescription_sheet(data, symbols), f"{stem}-sheet.png")
    elif args.kind == "notice":
        save(generate.notice_sheet(person), "notice-sheet.png")
    else:
        save(generate.check_slip(args.check_id, datetime.now(JST)), f"slip-{args.check_id}.png")
    emit(args, {"files": written}, "\n".join(written))
    return EXIT_OK
