"""The demo world (a synthetic population, the national-system stand-in, a hub in-process)
and the text demo.

`build_world` is what `madoguchi demo` starts the desk on; `run_demo` prints one check of each
kind (`madoguchi demo --text`, useful in CI logs).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from madoguchi.edge import store
from madoguchi.edge.card import TrustAnchors
from madoguchi.edge.card.transport import InProcessReader
from madoguchi.edge.config import JST, Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.funds import PublicFund, parse_fund
from madoguchi.edge.model import DocumentKind, IncomeClass
from madoguchi.edge.numbers import InputError, check_digit, parse_insurer_number
from madoguchi.edge.qr.jahis import PrescriptionData, build_jahis
from madoguchi.edge.qr.mynumber import my_number_check_digit
from madoguchi.edge.verdict import CheckRequest, Declaration, Method, format_verdict
from madoguchi.sim import population
from madoguchi.sim.national import NationalSystem
from madoguchi.sim.population import load_population
from madoguchi.sim.simulator import SimulatedUpstream
from madoguchi.sim.vcard import TestCA, VirtualJpkiCard, make_card, make_test_ca
from madoguchi.sync.device.upload import upload_outbox
from madoguchi.sync.hub import store as hubstore
from madoguchi.sync.hub.reconciliation import parse_entries, recheck_uploaded

DEMO_DEVICE_ID = "demo-desk"
RECHECK_TIMEOUT, UPLOAD_BUDGET = 2.0, 8.0  # as the hub API's (sync.hub.api)


class DemoHub:
    """The hub's side of reconciliation, in-process: a facility store holding the roster, the
    national-system stand-in as its upstream. The demo desk reconciles the way a real desk does:
    its outbox is uploaded (sync.device.upload) to the hub's re-check (sync.hub.reconciliation),
    and each answer is settled in the desk's store; only the HTTP between them is left out."""

    def __init__(self, directory: Path, records: Iterable[dict], today: date, now: datetime,
                 national: NationalSystem, policy: Policy, clock: Callable[[], datetime]) -> None:
        self.conn = hubstore.open_facility_store(directory, create=True)
        load_population(self.conn, records, today, now)
        self.upstream = SimulatedUpstream(national)
        self.policy = policy
        self.clock = clock

    def post_json(self, path: str, body: dict, timeout: float) -> dict[str, Any]:
        """The hub's POST /v1/outbox."""
        results = recheck_uploaded(self.conn, DEMO_DEVICE_ID, parse_entries(body), self.upstream, self.policy,
                                   self.clock(), RECHECK_TIMEOUT, min(UPLOAD_BUDGET, timeout))
        return {"results": results}

    def reconcile(self, conn: sqlite3.Connection) -> int:
        """Upload the desk's outbox and settle the answers; the number of new followups (要対応)."""
        return upload_outbox(conn, self.post_json, clock=self.clock).followups


@dataclass
class DemoWorld:
    data_dir: Path
    conn: sqlite3.Connection
    national: NationalSystem
    records: list[dict]  # every generated record (with person_id and registered_on)
    samples: dict[str, dict]  # population.samples(): one person of each kind
    clock: Callable[[], datetime]
    hub: DemoHub


def build_world(data_dir: Path, patients: int = 1000, seed: int = 1,
                clock: Callable[[], datetime] | None = None, policy: Policy | None = None) -> DemoWorld:
    """A cache loaded as a sync would leave it, a national system that knows the same people, and
    a hub whose roster holds them (it re-checks the desk's offline decisions with that system).

    `clock` (timezone-aware) drives both; a fixed clock makes the world reproducible.
    """
    clock = clock or (lambda: datetime.now(JST))
    now = clock().astimezone(JST)
    today = now.date()
    records = list(population.generate(patients, seed, today, now))
    conn = store.open_database(store.secure_dir(Path(data_dir)), create=True)
    load_population(conn, records, today, now)
    national = NationalSystem(records, clock=lambda: clock().astimezone(JST))
    hub = DemoHub(Path(data_dir) / "hub", records, today, now, national, policy or Policy(), clock)
    return DemoWorld(Path(data_dir), conn, national, records, population.samples(patients, seed, today, now), clock,
                     hub)


DEMO_PIN = "1234"


class DemoCards:
    """Virtual My Number Cards of sample people in an in-process reader.

    Keys are made on first use (RSA keys take a moment), in the caller's thread. Each card's
    link is registered as a sync would bring it: in the cache's records of the person and in
    the national system. A `locked` card has no PIN tries left.
    """

    def __init__(self, world: DemoWorld) -> None:
        self.world = world
        self.reader = InProcessReader("Demo reader 00")
        self._conn = store.open_database(world.data_dir)  # its own connection: used from demo threads
        self._ca: TestCA | None = None
        self._cards: dict[tuple[str, bool], VirtualJpkiCard] = {}
        self._lock = threading.Lock()

    def anchors(self) -> TrustAnchors:
        with self._lock:
            if self._ca is None:
                self._ca = make_test_ca()
            return TrustAnchors((self._ca.certificate,))

    def insert(self, kind: str, locked: bool = False) -> VirtualJpkiCard:
        """Put the card of the sample person `kind` in the reader (removing any card there).

        Each time a card is placed, its PIN counter starts afresh (three tries, or none for the
        locked card): three wrong PINs while trying the demo do not lock a card for the session.
        """
        self.anchors()
        assert self._ca is not None  # made by anchors()
        with self._lock:
            card = self._cards.get((kind, locked))
            if card is None:
                person = self.world.samples[kind]
                card = make_card(self._ca, DEMO_PIN, label=f"demo {kind}")
                link = store.card_link_for(self._conn, card.certificate_der)
                with store.transaction(self._conn):
                    store.link_card(self._conn, person["patient_id"], link)
                self.world.national.link_card(link, person["patient_id"])
                self._cards[(kind, locked)] = card
            card.auth_pin.tries = 0 if locked else card.auth_pin.max_tries
        self.reader.remove()
        self.reader.insert(card)
        return card


def jahis_prescription(person: dict) -> bytes:
    """A 院外処方箋 QR payload (JAHIS Ver.1.10, Shift_JIS) for a sample person."""
    number = person["insurer_number"]
    return build_jahis(PrescriptionData(
        layout="JAHIS10", institution_code="1312345678", institution_prefecture="13", institution_name="見本クリニック",
        patient_code=person["patient_id"], name=person["name"], name_kana=person["name_kana"], sex=1,
        birth_date=date.fromisoformat(person["birth_date"]),
        insurance_kind="7" if number.startswith("39") else ("2" if len(number) == 6 else "1"),
        insurer_number=number, insurer_number_valid=True, symbol=person["symbol"], number=person["number"],
        personal_family=1 if person["branch"] in ("", "00") else 2, branch=person["branch"],
    ))


def my_number_code() -> bytes:
    """What the QR on the back of a My Number Card holds: a 12-digit number (synthetic here),
    for showing that the desk refuses it."""
    body = "12345678901"
    return (body + str(my_number_check_digit(body))).encode()


def _by_numbers(sample: dict, **extra) -> CheckRequest:
    return CheckRequest(
        Method.NUMBERS, extra.pop("document", DocumentKind.ELIGIBILITY_CERTIFICATE),
        insurer_number=sample["insurer_number"], symbol=sample["symbol"], number=sample["number"],
        branch=sample["branch"], birth_date=date.fromisoformat(sample["birth_date"]), **extra,
    )


def _numbered(body: str) -> str:
    return body + check_digit(body)


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
        ("転職直後（カード＋前のお知らせ、新しい資格が未登録）",
         _by_numbers(samples["job_change_pending"], document=DocumentKind.NOTICE, card_presented=True)),
        ("該当なし（オフライン）", _by_numbers(samples["not_found"])),
        ("不開示", _by_numbers(samples["nondisclosure"])),
        ("●を含む氏名", _by_numbers(samples["masked_name"])),
        ("古い情報（オフライン）", _by_numbers(samples["stale"])),
        ("お知らせのみ（カードなし）", _by_numbers(samples["valid"], document=DocumentKind.NOTICE)),
        ("お知らせ＋カード", _by_numbers(samples["valid"], document=DocumentKind.NOTICE, card_presented=True)),
        ("従来の保険証", _by_numbers(samples["valid"], document=DocumentKind.LEGACY_CARD)),
        ("診察券", CheckRequest(Method.PATIENT_ID, DocumentKind.PATIENT_CARD, patient_id=samples["valid"]["patient_id"])),
        ("医療扶助（医療券、75歳以上）", CheckRequest(
            Method.NUMBERS, DocumentKind.MEDICAL_TICKET, insurer_number=samples["welfare_75"]["insurer_number"],
            number=samples["welfare_75"]["number"], birth_date=date.fromisoformat(samples["welfare_75"]["birth_date"]),
            public_funds=(PublicFund(samples["welfare_75"]["insurer_number"], samples["welfare_75"]["number"]),))),
        ("難病の公費（月上限 5,000円）", _by_numbers(samples["valid"], public_funds=(
            parse_fund(_numbered("5413201"), _numbered("765432"), "5000"),))),
        ("子ども医療費（負担ルール未設定の市）", _by_numbers(samples["preschool"], public_funds=(
            parse_fund(_numbered("8813202"), _numbered("765432")),))),
        ("申立（4歳）", CheckRequest(Method.DECLARATION, DocumentKind.DECLARATION, card_presented=True, declaration=Declaration(
            "見本　太郎", "ミホン　タロウ", today.replace(year=today.year - 4)))),
        ("申立（72歳・現役並み）", CheckRequest(Method.DECLARATION, DocumentKind.DECLARATION, card_presented=True, declaration=Declaration(
            "見本　花子", "ミホン　ハナコ", today.replace(year=today.year - 73), income_class=IncomeClass.ACTIVE))),
        ("カードも資格確認書もない（10割）", CheckRequest(Method.SELF_PAY, DocumentKind.NONE)),
    ]
    for title, request in cases:
        print(f"■ {title}")
        print(format_verdict(run_check(conn, request, policy).verdict), end="\n\n")
    try:
        parse_insurer_number("01130013")
    except InputError as exc:
        print(f"■ 入力誤り: {exc}\n")
    entries, problems = store.verify_audit(conn)
    print(f"audit log: {entries} entries, "
          f"{'chain intact' if not problems else 'TAMPERED'}")
