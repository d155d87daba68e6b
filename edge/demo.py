"""The text demo: a synthetic population and one check of each kind, printed."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from edge import population, store
from edge.cli import format_verdict, load_population
from edge.config import JST, Policy
from edge.desk import run_check
from edge.model import DocumentKind, IncomeClass
from edge.numbers import InputError, parse_insurer_number
from edge.verdict import CheckRequest, Declaration, Method


def _by_numbers(sample: dict, **extra) -> CheckRequest:
    return CheckRequest(
        Method.NUMBERS, extra.pop("document", DocumentKind.ELIGIBILITY_CERTIFICATE),
        insurer_number=sample["insurer_number"], symbol=sample["symbol"], number=sample["number"],
        branch=sample["branch"], birth_date=date.fromisoformat(sample["birth_date"]), **extra,
    )


def run_demo(data_dir: str | Path, patients: int = 1000, seed: int = 1) -> None:
    now = datetime.now(JST)
    today = now.date()
    conn = store.open_database(Path(data_dir), create=True)
    count = load_population(conn, population.generate(patients, seed, today, now), today, now)
    samples = population.samples(patients, seed, today, now)
    print(f"madoguchi demo: {count} qualification records of {patients} synthetic people in {data_dir}\n")
    policy = Policy()
    cases = [
        ("有効な資格確認書", _by_numbers(samples["valid"])),
        ("家族（枝番あり）", _by_numbers(samples["family_member"])),
        ("資格喪失", _by_numbers(samples["lost"])),
        ("転職直後（新しい資格が未登録）", _by_numbers(samples["job_change_pending"])),
        ("該当なし（オフライン）", _by_numbers(samples["not_found"])),
        ("不開示", _by_numbers(samples["nondisclosure"])),
        ("●を含む氏名", _by_numbers(samples["masked_name"])),
        ("古い情報（オフライン）", _by_numbers(samples["stale"])),
        ("お知らせのみ（カードなし）", _by_numbers(samples["valid"], document=DocumentKind.NOTICE)),
        ("お知らせ＋カード", _by_numbers(samples["valid"], document=DocumentKind.NOTICE, card_presented=True)),
        ("従来の保険証", _by_numbers(samples["valid"], document=DocumentKind.LEGACY_CARD)),
        ("診察券", CheckRequest(Method.PATIENT_ID, patient_id=samples["valid"]["patient_id"])),
        ("申立（4歳）", CheckRequest(Method.DECLARATION, DocumentKind.DECLARATION, declaration=Declaration(
            "見本　太郎", "ミホン　タロウ", today.replace(year=today.year - 4)))),
        ("申立（72歳・現役並み）", CheckRequest(Method.DECLARATION, DocumentKind.DECLARATION, declaration=Declaration(
            "見本　花子", "ミホン　ハナコ", today.replace(year=today.year - 73), income_class=IncomeClass.ACTIVE))),
    ]
    for title, request in cases:
        print(f"■ {title}")
        print(format_verdict(run_check(conn, request, policy).verdict), end="\n\n")
    try:
        parse_insurer_number("01130013")
    except InputError as exc:
        print(f"■ 入力誤り: {exc}\n")
    problems = store.verify_audit(conn)[1]
    print(f"audit log: {conn.execute('SELECT count(*) FROM audit').fetchone()[0]} entries, "
          f"{'chain intact' if not problems else 'TAMPERED'}")
