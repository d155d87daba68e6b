"""Proof of the card holder over the in-process transport (the virtual card, no pcscd)."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from madoguchi.edge import store
from madoguchi.edge.card import (
    CardLocked,
    CardRemoved,
    CardSession,
    CardTimeout,
    CertificateRejected,
    NotJpkiCard,
    WrongPin,
    advice_ja,
    request_for,
)
from madoguchi.edge.card.certs import TrustAnchors
from madoguchi.edge.card.jpki import INS_SIGN, INS_VERIFY, WrongPinFormat
from madoguchi.edge.card.transport import InProcessReader
from madoguchi.edge.config import Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.verdict import Method
from madoguchi.sim import vcard as virtual

from tests.conftest import NOW
from tests.unit import card_helpers


def session_for(card, reader=None, timeout=5.0) -> tuple[CardSession, InProcessReader]:
    reader = reader or InProcessReader()
    reader.insert(card)
    return CardSession(reader.open(timeout), card_helpers.anchors()), reader


def verifies(card) -> list[str]:
    """The VERIFY commands that carried a PIN."""
    return [e.command for e in card.audit if e.command.startswith("00200080") and len(e.command) > 8]


def test_the_holder_is_proved_with_one_verify_a_signature_and_the_pin_state_dropped():
    card = card_helpers.card("4821")
    session, _ = session_for(card)
    assert session.pin_tries_left() == 3
    proof = session.prove_holder("4821")
    assert proof.pin_verified and proof.method == Method.CARD
    assert proof.certificate_der == card.certificate_der
    assert proof.certificate_not_after == card_helpers.certificate().not_valid_after_utc.date()
    assert verifies(card) == ["0020008004********"]
    assert any(e.command.startswith("802a0080") and e.sw == "9000" for e in card.audit)
    assert card.audit[-1].command == "00a4040c0ad392f000260100000001"  # the AP re-selected last
    assert not card.verified
    assert card.pin_tries_left == 3
    session.close()


def test_asking_for_the_tries_uses_none():
    card = card_helpers.card()
    session, _ = session_for(card)
    assert [session.pin_tries_left() for _ in range(5)] == [3] * 5
    assert card.pin_tries_left == 3 and verifies(card) == []


def test_wrong_pins_count_down_then_lock_and_the_right_pin_no_longer_helps():
    card = card_helpers.card("1234")
    session, _ = session_for(card)
    with pytest.raises(WrongPin) as first:
        session.prove_holder("1111")
    assert first.value.tries_left == 2 and "残り2回" in first.value.message_ja
    with pytest.raises(WrongPin) as second:
        session.prove_holder("2222")
    assert second.value.tries_left == 1 and "目視確認" in second.value.message_ja
    with pytest.raises(CardLocked) as locked:
        session.prove_holder("3333")
    assert "市区町村窓口でロック解除" in locked.value.message_ja
    assert session.pin_tries_left() == 0
    with pytest.raises(CardLocked):
        session.prove_holder("1234")
    assert len(verifies(card)) == 4  # one VERIFY per attempt: never retried
    assert not any(e.command.startswith("802a") and e.sw == "9000" for e in card.audit)


@pytest.mark.parametrize("blocked_sw", [0x6984, 0x6983, 0x63C0])
def test_every_blocked_status_word_means_locked(blocked_sw):
    card = card_helpers.card("1234", blocked_sw=blocked_sw)
    session, _ = session_for(card)
    for pin in ("0000", "0001"):
        with pytest.raises(WrongPin):
            session.prove_holder(pin)
    with pytest.raises(CardLocked):
        session.prove_holder("0002")
    assert session.pin_tries_left() == 0
    with pytest.raises(CardLocked):
        session.prove_holder("1234")


def test_a_correct_pin_resets_the_counter():
    card = card_helpers.card("1234")
    session, _ = session_for(card)
    with pytest.raises(WrongPin):
        session.prove_holder("9999")
    session.prove_holder("1234")
    assert session.pin_tries_left() == 3


@pytest.mark.parametrize("pin", ["", "123", "12345", "12a4", "１２３４", "12 4"])
def test_a_malformed_pin_is_refused_before_anything_is_sent(pin):
    card = card_helpers.card()
    session, _ = session_for(card)
    with pytest.raises(WrongPinFormat):
        session.prove_holder(pin)
    assert verifies(card) == [] and card.pin_tries_left == 3


def test_advice_before_entry():
    assert "残り3回" in advice_ja(3)
    assert "目視確認" in advice_ja(1)
    assert "市区町村窓口でロック解除" in advice_ja(0)


def test_visual_check_reads_the_certificate_only():
    card = card_helpers.card()
    session, _ = session_for(card)
    proof = session.read_for_visual_check()
    assert not proof.pin_verified and proof.method == Method.VISUAL
    assert proof.certificate_der == card.certificate_der
    assert not any(e.command.startswith(("0020", "802a")) for e in card.audit)


def test_removal_during_the_signature_is_recoverable_and_the_next_insertion_works():
    card = card_helpers.card("1234", remove_on_ins=INS_SIGN)
    session, reader = session_for(card)
    with pytest.raises(CardRemoved) as removed:
        session.prove_holder("1234")
    assert "カードが外されました" in removed.value.message_ja
    assert reader.card is None
    with pytest.raises(CardRemoved):
        session.pin_tries_left()
    session.close()
    again, _ = session_for(card, reader)
    assert again.prove_holder("1234").pin_verified


def test_removal_between_commands():
    card = card_helpers.card()
    session, reader = session_for(card)
    session.pin_tries_left()
    reader.remove()
    with pytest.raises(CardRemoved):
        session.prove_holder("1234")
    assert verifies(card) == []


def test_a_card_that_never_answers_times_out_and_the_next_insertion_works():
    card = card_helpers.card("1234", hang_on_ins=INS_VERIFY)
    session, reader = session_for(card, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(CardTimeout):
        session.prove_holder("1234")
    assert time.monotonic() - started < 2
    with pytest.raises(CardTimeout):  # the transport is dead until the card comes back
        session.pin_tries_left()
    card.release()
    session.close()
    reader.remove()
    again, _ = session_for(card, reader)
    assert again.pin_tries_left() == 3


def test_latency_is_simulated():
    card = card_helpers.card(latency=0.02)
    session, _ = session_for(card)
    started = time.monotonic()
    session.pin_tries_left()
    assert time.monotonic() - started >= 0.06  # three APDUs


class BlankCard:
    """Some other smart card: no JPKI AP."""

    atr = bytes.fromhex("3b8080010101")

    def process(self, apdu: bytes) -> bytes:
        return b"\x6a\x82"

    def reset(self) -> None:
        pass


def test_another_card_is_not_a_my_number_card():
    reader = InProcessReader()
    reader.insert(BlankCard())
    session = CardSession(reader.open(), card_helpers.anchors())
    with pytest.raises(NotJpkiCard):
        session.pin_tries_left()
    with pytest.raises(NotJpkiCard):
        session.read_for_visual_check()


def test_a_certificate_from_another_ca_is_rejected_before_any_pin_try():
    other = virtual.make_test_ca()
    key = card_helpers.key()
    card = virtual.make_card(other, "1234", key, virtual.issue_auth_certificate(other, key))
    session, _ = session_for(card)
    with pytest.raises(CertificateRejected):
        session.prove_holder("1234")
    assert verifies(card) == []


def test_no_anchors_configured_is_rejected_with_a_clear_message():
    reader = InProcessReader()
    reader.insert(card_helpers.card())
    with pytest.raises(CertificateRejected) as rejected:
        CardSession(reader.open(), TrustAnchors(())).read_for_visual_check()
    assert "ルート証明書" in rejected.value.message_ja


def test_a_card_whose_key_does_not_match_its_certificate_is_rejected():
    impostor = virtual.make_card(card_helpers.ca(), "1234", virtual.new_key(), card_helpers.certificate())
    session, _ = session_for(impostor)
    with pytest.raises(CertificateRejected) as rejected:
        session.prove_holder("1234")
    assert "signature" in str(rejected.value)
    assert not impostor.verified


def test_no_pin_in_any_log(caplog):
    caplog.set_level(logging.DEBUG)
    card = card_helpers.card("8642", remove_on_ins=INS_SIGN)
    session, reader = session_for(card)
    for pin in ("7531", "8642"):
        try:
            session.prove_holder(pin)
        except (WrongPin, CardRemoved) as exc:
            logging.getLogger("test").info("card error: %s / %s", exc, exc.message_ja)
    reader.insert(card)
    proof = CardSession(reader.open(), card_helpers.anchors()).prove_holder("8642")
    logging.getLogger("test").info("proof %r card %r", proof, card)
    text = caplog.text + repr(card) + repr(proof) + "".join(repr(e) for e in card.audit)
    text = re.sub(r"at=\d+\.\d+", "at=T", text)  # the audit's timestamps may contain any 4 digits
    for pin in ("7531", "8642"):
        assert pin not in text and pin.encode().hex() not in text


# ---- the verdict for the card's holder ---------------------------------------------

def linked(conn, sample: dict, certificate_der: bytes) -> str:
    link = store.card_link_for(conn, certificate_der)
    with store.transaction(conn):
        assert store.link_card(conn, sample["patient_id"], link) >= 1
    return link


def test_a_verified_holder_gets_the_verdict_of_their_record(populated, population_samples):
    _, conn = populated
    card = card_helpers.card("1234")
    session, _ = session_for(card)
    proof = session.prove_holder("1234")
    link = linked(conn, population_samples["valid"], proof.certificate_der)
    result = run_check(conn, request_for(proof, link), Policy(), clock=lambda: NOW)
    assert result.verdict.outcome.value == "ok"
    assert result.verdict.record.patient_id == population_samples["valid"]["patient_id"]
    method = conn.execute("SELECT method FROM audit WHERE id = ?", (result.audit_id,)).fetchone()[0]
    assert method == "card"


def test_visual_check_is_recorded_as_such(populated, population_samples):
    _, conn = populated
    session, _ = session_for(card_helpers.card())
    proof = session.read_for_visual_check()
    link = linked(conn, population_samples["valid"], proof.certificate_der)
    result = run_check(conn, request_for(proof, link), Policy(), clock=lambda: NOW)
    assert result.verdict.outcome.value == "ok"
    assert conn.execute("SELECT method FROM audit WHERE id = ?", (result.audit_id,)).fetchone()[0] == "visual"


def card_with_expiry(not_after) -> virtual.VirtualJpkiCard:
    cert = virtual.issue_auth_certificate(card_helpers.ca(), card_helpers.key(),
                                          not_before=not_after - timedelta(days=1000), not_after=not_after)
    return virtual.make_card(card_helpers.ca(), "1234", card_helpers.key(), cert)


@pytest.mark.parametrize("days_expired,outcome,warning", [
    (10, "ok", "certificate_grace"), (200, "confirm", None),
])
def test_an_expired_certificate_works_for_three_months(populated, population_samples, days_expired, outcome, warning):
    _, conn = populated
    card = card_with_expiry(NOW - timedelta(days=days_expired))
    proof = session_for(card)[0].prove_holder("1234")
    assert proof.certificate_not_after == (NOW - timedelta(days=days_expired)).date()
    link = linked(conn, population_samples["valid"], proof.certificate_der)
    verdict = run_check(conn, request_for(proof, link), Policy(), clock=lambda: NOW).verdict
    assert verdict.outcome.value == outcome
    if warning:
        assert warning in [w.code for w in verdict.warnings]
    else:
        assert verdict.reason == "certificate_expired"


def test_a_revoked_certificate_gets_ng_with_the_reason(populated, population_samples):
    _, conn = populated
    proof = session_for(card_helpers.card())[0].prove_holder("1234")
    link = linked(conn, population_samples["valid"], proof.certificate_der)
    with store.transaction(conn):
        conn.execute("INSERT INTO revoked_certificate (card_link, reason) VALUES (?, ?)", (link, "紛失"))
    verdict = run_check(conn, request_for(proof, link), Policy(), clock=lambda: NOW).verdict
    assert verdict.outcome.value == "ng" and verdict.reason == "certificate_revoked" and "紛失" in verdict.headline_ja


def test_the_card_link_is_a_keyed_hash_not_the_serial(populated):
    _, conn = populated
    link = store.card_link_for(conn, card_helpers.card().certificate_der)
    serial = format(card_helpers.certificate().serial_number, "x")
    assert len(link) == 64 and serial not in link
    assert card_helpers.certificate().public_bytes(serialization.Encoding.DER).hex() not in link


def test_in_process_insertion_and_removal_events():
    reader = InProcessReader()
    events: list[str] = []
    monitor = reader.monitor(lambda name: events.append(f"in {name}"),
                             lambda name: events.append(f"out {name}")).start()
    reader.insert(card_helpers.card())
    reader.remove()
    reader.remove()
    monitor.stop()
    reader.insert(card_helpers.card())
    assert events == [f"in {reader.name}", f"out {reader.name}"]


class SlowVerify(virtual.VirtualJpkiCard):
    """Answers VERIFY only after half a second."""

    def process(self, apdu: bytes) -> bytes:
        if apdu[1] == INS_VERIFY and len(apdu) > 5:
            time.sleep(0.5)
        return super().process(apdu)


def test_after_a_timeout_the_abandoned_sequence_sends_nothing_more():
    template = card_helpers.card()
    card = SlowVerify(template.certificate_der, card_helpers.key(), template.ca_certificate_der, "1234")
    session, _ = session_for(card, timeout=0.2)
    with pytest.raises(CardTimeout):
        session.prove_holder("1234")
    time.sleep(0.6)  # VERIFY has been answered by now
    assert card.audit[-1].command == "0020008004********" and card.audit[-1].sw == "9000"
