"""The virtual My Number Card itself: what it answers, what it records."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from madoguchi.edge.card import jpki
from madoguchi.sim import vcard as virtual

from tests.unit import card_helpers

SELECT_AP = bytes.fromhex("00A4040C0A") + jpki.JPKI_AP


def run(card, *apdus: str | bytes) -> list[bytes]:
    return [card.process(bytes.fromhex(a) if isinstance(a, str) else a) for a in apdus]


def test_forbidden_selects_are_answered_6a82_and_recorded():
    card = card_helpers.card(expect_violations=True)  # the one card that may see them
    for aid in jpki.FORBIDDEN_AIDS:
        assert card.process(bytes([0, 0xA4, 4, 0x0C, len(aid)]) + aid) == b"\x6a\x82"
    assert [v.note for v in card.violations] == [f"FORBIDDEN SELECT {n}" for n in jpki.FORBIDDEN_AIDS.values()]
    assert not any(v in card.violations for _, v in virtual.registered_violations())  # not counted suite-wide


def test_the_audit_masks_the_pin():
    card = card_helpers.card("2468")
    run(card, SELECT_AP, "00A4020C020018", "002000800432343638", "002000800431313131")
    assert [e.command for e in card.audit[-2:]] == ["0020008004********"] * 2
    assert [e.sw for e in card.audit[-2:]] == ["9000", "63c2"]
    assert "2468" not in repr(card) and "32343638" not in repr(card.audit)


def test_the_signature_is_pkcs1_v15_over_the_digest_info():
    card = card_helpers.card("1234")
    answers = run(card, SELECT_AP, "00A4020C020018", "002000800431323334", "00A4020C020017",
                  bytes.fromhex("802A008033") + jpki.digest_info_sha256(b"fresh") + b"\x00")
    signature, sw = answers[-1][:-2], answers[-1][-2:]
    assert sw == b"\x90\x00" and len(signature) == 256
    card_helpers.key().public_key().verify(signature, b"fresh", padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("apdus,sw", [
    (["00A4020C020017", "802A00803300"], "6a82"),  # no AP selected: the EF is not found
    ([SELECT_AP.hex(), "00A4020C020017", "802A008003010203"], "6982"),  # no PIN verified
    ([SELECT_AP.hex(), "00A4020C020018", "802A008003010203"], "6981"),  # not the key EF
    ([SELECT_AP.hex(), "00B0000004"], "6986"),  # no EF selected
    ([SELECT_AP.hex(), "00A4020C020001"], "6a82"),  # the 署名用 certificate is not on this card
    ([SELECT_AP.hex(), "00A4020C02000A", "00B0400004"], "6b00"),  # beyond the EF
    ([SELECT_AP.hex(), "00CA000000"], "6d00"),
])
def test_errors_like_the_real_card(apdus, sw):
    assert run(card_helpers.card(), *apdus)[-1][-2:].hex() == sw


def test_a_reset_forgets_the_pin_state():
    card = card_helpers.card("1234")
    run(card, SELECT_AP, "00A4020C020018", "002000800431323334")
    assert card.verified
    card.reset()
    assert not card.verified and run(card, "00A4020C020017")[-1] == b"\x6a\x82"


def test_the_atr_has_a_valid_check_byte():
    atr = card_helpers.card().atr
    check = 0
    for b in atr[1:]:
        check ^= b
    assert atr[0] == 0x3B and check == 0


def test_person_cards_are_kept_so_the_card_link_stays_the_same(tmp_path):
    ca = virtual.load_or_make_ca(tmp_path)
    assert virtual.load_or_make_ca(tmp_path).certificate == ca.certificate
    first = virtual.load_or_make_person_card(tmp_path, ca, 7, "1234")
    second = virtual.load_or_make_person_card(tmp_path, ca, 7, "5678")
    assert first.certificate_der == second.certificate_der
    assert (tmp_path / "person-7.key").stat().st_mode & 0o077 == 0


def test_the_suite_wide_check_sees_the_violations_of_ordinary_cards():
    card = card_helpers.card()
    aid = next(iter(jpki.FORBIDDEN_AIDS))
    try:
        card.process(bytes([0, 0xA4, 4, 0x0C, len(aid)]) + aid)
        assert (card.label, card.violations[0]) in virtual.registered_violations()
    finally:
        virtual._REGISTRY.remove(card)  # this one was on purpose: keep the suite-wide check clean
