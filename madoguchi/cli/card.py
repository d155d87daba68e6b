"""The card on the command line: `madoguchi check --card` and `madoguchi vcard`."""

from __future__ import annotations

import argparse
import getpass
import json
import signal
import sqlite3
import sys
import time
from dataclasses import asdict, replace

from madoguchi.cli.base import (
    EXIT_BAD_INPUT,
    EXIT_ENVIRONMENT,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    Subcommands,
    command,
    data_config,
    emit,
    open_store,
)
from madoguchi.edge import store
from madoguchi.edge.card import certs, jpki
from madoguchi.edge.card.errors import CardError, CardLocked, ReaderUnavailable, WrongPin
from madoguchi.edge.card.session import CardSession, HolderProof, advice_ja, request_for
from madoguchi.edge.card.transport import PcscReaders, PcscTransport
from madoguchi.edge.config import Config
from madoguchi.edge.desk import CheckResult, run_check
from madoguchi.edge.funds import MAX_FUNDS, PublicFund, parse_fund
from madoguchi.edge.numbers import InputError
from madoguchi.edge.verdict import Consent, format_verdict
from madoguchi.sync.device.hubclient import live_source_for

REINSERT_AFTER = 1.0  # seconds out of the reader: pcscd polls every 0.4 s and must see the removal
REMOVE_DURING = {"read": jpki.INS_READ_BINARY, "verify": jpki.INS_VERIFY, "sign": jpki.INS_SIGN}
FALLBACK_STEPS_JA = ("目視確認（写真と本人の照合）か、資格確認書などの書類で受け付けてください",
                     "書類がなければ被保険者資格申立書（F5）で受け付けます")


def add_check_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--card", action="store_true",
                   help="check the holder of the My Number Card in the reader (PIN typed at the terminal)")
    p.add_argument("--visual", action="store_true", help="with --card: 目視確認 (no PIN; staff compared the photo)")
    p.add_argument("--pin-stdin", action="store_true", help="with --card: read the PIN from standard input")
    p.add_argument("--reader", help="with --card: the PC/SC reader's name (default: the first holding a card)")
    p.add_argument("--wait", type=float, default=10.0, help="with --card: seconds to wait for a card (default 10)")


def register(sub: Subcommands) -> None:
    p = command(sub, "vcard", cmd_vcard, "attach a virtual My Number Card to pcscd (vsmartcard-vpcd)",
                description="A virtual JPKI card for a person of the synthetic population, plugged into vpcd's "
                "reader until Ctrl-C (it prints JSON lines). Registers the card link for the person's records and "
                "puts the test CA under <data-dir>/trust-anchors so `check --card` can use it.")
    p.add_argument("--person", type=int, required=True, help="person_id in the synthetic population")
    p.add_argument("--pin", default="1234", help="the card's 4-digit auth PIN (default 1234)")
    p.add_argument("--port", type=int, help="vpcd port (default 35963 = Virtual PCD 00 00)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay before each answer")
    p.add_argument("--remove-during", choices=sorted(REMOVE_DURING), help="leave the reader during this command once")
    p.add_argument("--blocked-sw", default="6984", help="status word of a locked PIN (6984, 6983 or 63C0)")
    p.add_argument("--audit-log", help="write the card's APDU audit (PIN masked) to this JSON-lines file")


# ---- check --card -------------------------------------------------------------------

def wait_for_card(readers: PcscReaders, seconds: float) -> PcscTransport:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return readers.open()
        except CardError as exc:
            if isinstance(exc, ReaderUnavailable) or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def read_pin(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().strip()
    return getpass.getpass("暗証番号（4桁）: ")


def card_error_json(exc: CardError) -> dict:
    data: dict[str, object] = {"card_error": type(exc).__name__, "message_ja": exc.message_ja, "message_en": str(exc)}
    if isinstance(exc, WrongPin):
        data["tries_left"] = exc.tries_left
    if isinstance(exc, (CardLocked, WrongPin)):
        data["next_steps_ja"] = list(FALLBACK_STEPS_JA) if isinstance(exc, CardLocked) or exc.tries_left == 1 else []
    return data


def public_funds(values: list[str]) -> tuple[PublicFund, ...]:
    """`check --public-fund PAYER[:RECIPIENT[:CAP]]` values, each number checked (a wrong check
    digit is named); with --card too: a child shows a マイナ保険証 and a 子ども医療証."""
    if len(values) > MAX_FUNDS:
        raise InputError(f"at most {MAX_FUNDS} --public-fund (公費は{MAX_FUNDS}つまでです)")
    funds = []
    for value in values:
        payer, _, rest = value.partition(":")
        recipient, _, cap = rest.partition(":")
        funds.append(parse_fund(payer, recipient, cap))
    return tuple(funds)


def cmd_check_card(args: argparse.Namespace, funds: tuple[PublicFund, ...] = ()) -> int:
    config = data_config(args)
    conn = open_store(config)
    anchors = certs.load_trust_anchors(*certs.trust_anchor_dirs(config))
    try:
        readers = PcscReaders(args.reader)
    except CardError as exc:
        raise CommandError(EXIT_ENVIRONMENT, f"{exc} (is pcscd running?)") from None
    session = None
    try:
        session = CardSession(wait_for_card(readers, args.wait), anchors)
        if args.visual:
            proof = session.read_for_visual_check()
        else:
            tries = session.pin_tries_left()
            if tries == 0:
                raise CardLocked("the auth PIN is locked")
            print(advice_ja(tries), file=sys.stderr)
            proof = session.prove_holder(read_pin(args.pin_stdin))
    except CardError as exc:
        data = card_error_json(exc)
        emit(args, data, "\n".join([exc.message_ja, *(f"  → {step}" for step in data.get("next_steps_ja", []))]))
        return EXIT_FAILED
    finally:
        if session is not None:
            session.close()
        readers.close()
    result = check_holder(config, conn, proof, Consent(args.limit_consent, args.medical_consent), funds)
    emit(args, {**result.verdict.to_json(), "audit_id": result.audit_id, "method": proof.method.value},
         format_verdict(result.verdict))
    return EXIT_OK


def check_holder(config: Config, conn: sqlite3.Connection, proof: HolderProof,
                 consent: Consent | None = None, funds: tuple[PublicFund, ...] = ()) -> CheckResult:
    """The check for the card's holder, with the patient's consent answers and the funds of a
    受給者証: the hub is asked live first when the device is enrolled, as for every other way of checking."""
    try:
        card_link = store.card_link_for(conn, proof.certificate_der)
    except store.StoreMissing as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None
    request = replace(request_for(proof, card_link), consent=consent or Consent(), public_funds=funds)
    return run_check(conn, request, config.policy, live_source_for(config.data_dir, conn))


# ---- vcard --------------------------------------------------------------------------------

def cmd_vcard(args: argparse.Namespace) -> int:
    # the simulated world, imported by this command only: `check` loads this module too
    from madoguchi.sim import vcard as virtual
    from madoguchi.sim.vpcd import VPCD_PORT, VpcdCard

    port = args.port or VPCD_PORT
    if len(args.pin) != 4 or not args.pin.isdigit():
        raise CommandError(EXIT_BAD_INPUT, "--pin must be 4 digits")
    try:
        blocked_sw = int(args.blocked_sw, 16)
    except ValueError:
        raise CommandError(EXIT_BAD_INPUT, "--blocked-sw must be 4 hex digits") from None
    config = data_config(args)
    conn = open_store(config)
    patient_id = f"{args.person:08d}"
    records = store.find_by_patient_id(conn, patient_id)
    if not records:
        raise CommandError(EXIT_BAD_INPUT, f"no records for person {args.person} in the cache")
    card_dir = config.data_dir / "vcard"
    ca = virtual.load_or_make_ca(card_dir)
    anchor_dir = config.data_dir / certs.TEST_ANCHORS_SUBDIR
    anchor_dir.mkdir(parents=True, exist_ok=True)
    (anchor_dir / "madoguchi-test-ca.pem").write_bytes(ca.pem)
    card = virtual.load_or_make_person_card(
        card_dir, ca, args.person, args.pin, latency=args.latency_ms / 1000, blocked_sw=blocked_sw,
        remove_on_ins=REMOVE_DURING.get(args.remove_during or ""))
    try:
        card_link = store.card_link_for(conn, card.certificate_der)
    except store.StoreMissing as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None
    with store.transaction(conn):
        store.link_card(conn, patient_id, card_link)
    conn.close()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    plug = VpcdCard(card, port=port)
    try:
        try:
            plug.insert()
        except ConnectionError as exc:
            raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None
        print(json.dumps({"person_id": args.person, "patient_id": patient_id, "name": records[0].name,
                          "port": port, "status": "inserted"}, ensure_ascii=False), flush=True)  # always JSON
        print("virtual card in the reader; Ctrl-C removes it", file=sys.stderr)
        while True:
            plug.wait()  # vpcd closed the connection (pcscd restarted), or the card left mid-command
            time.sleep(REINSERT_AFTER)
            plug.insert(timeout=60)
            print(json.dumps({"status": "inserted again"}), flush=True)
    finally:
        plug.remove()
        if args.audit_log:
            with open(args.audit_log, "w", encoding="utf-8") as out:
                for entry in card.audit:
                    out.write(json.dumps(asdict(entry)) + "\n")
        if card.violations:
            print(f"{len(card.violations)} forbidden SELECT(s) reached the card", file=sys.stderr)
