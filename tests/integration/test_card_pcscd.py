"""The card through the real stack: pyscard → pcscd → vsmartcard-vpcd → the virtual My Number Card."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
import time

import pytest
from madoguchi.edge import store
from madoguchi.edge.card import CardLocked, CardRemoved, CardSession, CardTimeout, WrongPin, jpki, request_for
from madoguchi.edge.card.certs import TrustAnchors
from madoguchi.edge.card.transport import PcscMonitor, PcscReaders
from madoguchi.edge.config import Policy
from madoguchi.edge.desk import run_check
from madoguchi.sim import vcard as virtual

from tests.conftest import NOW
from tests.integration.pcscd_fixture import READER, SECOND_READER

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def key():
    return virtual.new_key()


@pytest.fixture
def make_card(card_ca, key):
    def make(pin: str = "1234", **options) -> virtual.VirtualJpkiCard:
        return virtual.make_card(card_ca, pin, key, virtual.issue_auth_certificate(card_ca, key), **options)
    return make


def open_session(card_ca, reader: str = READER, timeout: float = 5.0) -> tuple[CardSession, PcscReaders]:
    readers = PcscReaders(reader, timeout=timeout)
    return CardSession(readers.open(), TrustAnchors((card_ca.certificate,))), readers


def test_insertion_and_removal_are_seen_for_the_named_reader(inserted, make_card):
    events: list[tuple[str, str, float]] = []
    seen = threading.Event()

    def record(kind):
        def callback(reader):
            events.append((kind, reader, time.monotonic()))
            seen.set()
        return callback

    monitor = PcscMonitor(record("in"), record("out"), READER).start()
    try:
        time.sleep(0.3)  # the monitor's first look: no card yet
        assert events == []
        started = time.monotonic()
        plug = inserted.insert(make_card(), wait=False)
        assert seen.wait(5)
        seen.clear()
        inserted.remove(plug, wait=False)
        assert seen.wait(5)
    finally:
        monitor.stop()
    assert [(kind, reader) for kind, reader, _ in events] == [("in", READER), ("out", READER)]
    assert events[0][2] - started < 2


def test_the_whole_flow_gives_the_verdict_of_the_cards_holder(inserted, make_card, card_ca, populated,
                                                               population_samples):
    _, conn = populated
    card = make_card("4321")
    inserted.insert(card)
    session, readers = open_session(card_ca)
    try:
        assert session.pin_tries_left() == 3
        proof = session.prove_holder("4321")
    finally:
        session.close()
        readers.close()
    assert proof.pin_verified and proof.certificate_der == card.certificate_der
    assert any(e.command.startswith("802a") and e.sw == "9000" for e in card.audit)
    assert card.audit[-1].command == "00a4040c0ad392f000260100000001"
    link = store.card_link_for(conn, proof.certificate_der)
    with store.transaction(conn):
        store.link_card(conn, population_samples["valid"]["patient_id"], link)
    verdict = run_check(conn, request_for(proof, link), Policy(), clock=lambda: NOW).verdict
    assert verdict.outcome.value == "ok"
    assert verdict.record.name == population_samples["valid"]["name"]


def test_wrong_pins_then_lockout_after_three(inserted, make_card, card_ca):
    card = make_card("1234")
    inserted.insert(card)
    session, readers = open_session(card_ca)
    try:
        tries = [session.pin_tries_left()]
        for pin in ("0000", "1111"):
            with pytest.raises(WrongPin) as wrong:
                session.prove_holder(pin)
            tries.append(wrong.value.tries_left)
        with pytest.raises(CardLocked):
            session.prove_holder("2222")
        assert session.pin_tries_left() == 0
        with pytest.raises(CardLocked):
            session.prove_holder("1234")
    finally:
        session.close()
        readers.close()
    assert tries == [3, 2, 1]


def test_removal_mid_command_then_the_next_insertion_works(inserted, make_card, card_ca):
    card = make_card("1234", remove_on_ins=jpki.INS_SIGN)
    plug = inserted.insert(card)
    session, readers = open_session(card_ca)
    try:
        with pytest.raises(CardRemoved):
            session.prove_holder("1234")
    finally:
        session.close()
        readers.close()
    assert not plug.inserted
    inserted.insert(card)
    session, readers = open_session(card_ca)
    try:
        assert session.prove_holder("1234").pin_verified
    finally:
        session.close()
        readers.close()


def test_removal_between_commands(inserted, make_card, card_ca):
    card = make_card()
    plug = inserted.insert(card)
    session, readers = open_session(card_ca)
    try:
        assert session.pin_tries_left() == 3
        inserted.remove(plug)
        with pytest.raises(CardRemoved):
            session.prove_holder("1234")
    finally:
        session.close()
        readers.close()
    assert card.pin_tries_left == 3


def test_a_card_that_never_answers_times_out(inserted, make_card, card_ca):
    card = make_card("1234", hang_on_ins=jpki.INS_VERIFY)
    plug = inserted.insert(card)
    session, readers = open_session(card_ca, timeout=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(CardTimeout):
            session.prove_holder("1234")
        assert time.monotonic() - started < 3
    finally:
        inserted.remove(plug)  # releases the hanging card: it leaves the reader
        session.close()
        readers.close()
    inserted.insert(card)
    session, readers = open_session(card_ca)
    try:
        assert session.pin_tries_left() == 3
    finally:
        session.close()
        readers.close()


def test_the_reader_is_chosen_by_name_among_several(inserted, make_card, card_ca):
    card = make_card()
    inserted.insert(card, port=35964)
    readers = PcscReaders()
    assert {READER, SECOND_READER} <= set(readers.readers())
    assert readers.with_card() == [SECOND_READER]
    readers.close()
    with pytest.raises(CardRemoved):
        PcscReaders(READER).open()
    session, readers = open_session(card_ca, "Virtual PCD 00 01")
    try:
        assert session.read_for_visual_check().certificate_der == card.certificate_der
    finally:
        session.close()
        readers.close()


def test_forbidden_selects_never_leave_the_process(inserted, make_card, card_ca):
    card = make_card()
    inserted.insert(card)
    readers = PcscReaders(READER)
    transport = readers.open()
    try:
        for aid in jpki.FORBIDDEN_AIDS:
            with pytest.raises(jpki.ForbiddenCommand):
                transport.transmit(bytes([0x00, 0xA4, 0x04, 0x0C, len(aid)]) + aid)
    finally:
        transport.close()
        readers.close()
    assert card.violations == [] and not any(e.command.startswith("00a40400") for e in card.audit)


def test_the_virtual_card_records_a_forbidden_select_sent_around_our_code(inserted, make_card):
    from smartcard import scard

    card = make_card(expect_violations=True)
    inserted.insert(card)
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    hresult, handle, protocol = scard.SCardConnect(context, READER, scard.SCARD_SHARE_SHARED,
                                                   scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
    assert hresult == scard.SCARD_S_SUCCESS
    aid = next(iter(jpki.FORBIDDEN_AIDS))
    hresult, response = scard.SCardTransmit(handle, protocol, [0x00, 0xA4, 0x04, 0x0C, len(aid), *aid])
    scard.SCardDisconnect(handle, scard.SCARD_RESET_CARD)
    scard.SCardReleaseContext(context)
    assert bytes(response) == b"\x6a\x82"
    assert [v.note for v in card.violations] == [f"FORBIDDEN SELECT {jpki.FORBIDDEN_AIDS[aid]}"]


@pytest.mark.skipif(not shutil.which("pkcs15-tool"), reason="OpenSC is not installed")
def test_opensc_recognises_a_jpki_card(inserted, make_card):
    card = make_card()
    inserted.insert(card)
    name = subprocess.run(["opensc-tool", "-r", READER, "-n"], capture_output=True, text=True, timeout=30)
    assert name.stdout.strip().splitlines()[-1] == "jpki", name.stdout + name.stderr
    listing = subprocess.run(["pkcs15-tool", "--reader", READER, "--list-certificates"],
                             capture_output=True, text=True, timeout=30)
    assert "User Authentication Certificate" in listing.stdout, listing.stdout + listing.stderr
    serial = format(virtual.x509.load_der_x509_certificate(card.certificate_der).serial_number, "X")
    assert serial in listing.stdout.replace(" ", "").upper()


def test_no_pin_in_any_log(inserted, make_card, card_ca, caplog, pcscd):
    caplog.set_level(logging.DEBUG)
    card = make_card("9753")
    inserted.insert(card)
    session, readers = open_session(card_ca)
    try:
        with pytest.raises(WrongPin):
            session.prove_holder("8642")
        session.prove_holder("9753")
    finally:
        session.close()
        readers.close()
    logs = caplog.text + "".join(repr(e) for e in card.audit) + pcscd.log_path.read_text(errors="replace")
    for pin in ("9753", "8642"):  # as a number of its own: timestamps may hold any 4 digits
        assert not re.search(rf"(?<!\d){pin}(?!\d)", logs) and pin.encode().hex() not in logs.replace(" ", "").lower()


def test_the_monitor_and_the_readers_survive_a_pcscd_restart(pcscd, inserted, make_card, card_ca):
    events: list[tuple[str, str]] = []
    changed = threading.Condition()

    def record(kind):
        def callback(reader):
            with changed:
                events.append((kind, reader))
                changed.notify_all()
        return callback

    def wait_for(count):
        with changed:
            assert changed.wait_for(lambda: len(events) >= count, timeout=10), events

    card = make_card()
    monitor = PcscMonitor(record("in"), record("out"), READER).start()
    try:
        inserted.insert(card)
        wait_for(1)
        pcscd.stop()  # the reader goes away with pcscd
        wait_for(2)
        pcscd.start()
        inserted.seen.clear()  # a new pcscd: its event counters start again
        inserted.insert(card)
        wait_for(3)
    finally:
        monitor.stop()
    assert events == [("in", READER), ("out", READER), ("in", READER)]
    session, readers = open_session(card_ca)
    try:
        assert session.pin_tries_left() == 3
    finally:
        session.close()
        readers.close()
