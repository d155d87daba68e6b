"""The JPKI APDUs and the allowlist at the transport."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from madoguchi.edge.card import jpki
from madoguchi.edge.card.errors import NotJpkiCard
from madoguchi.edge.card.transport import InProcessReader

from tests.unit import card_helpers

SELECT_AP = bytes.fromhex("00A4040C0A") + jpki.JPKI_AP


def select_aid(aid: bytes, p2: int = 0x0C) -> bytes:
    return bytes([0x00, 0xA4, 0x04, p2, len(aid)]) + aid


def test_the_guard_lets_the_jpki_commands_through():
    for apdu in (SELECT_AP, bytes.fromhex("00A4020C020018"), bytes.fromhex("00B0000004"),
                 bytes.fromhex("00200080"), bytes.fromhex("002000800431323334"),
                 bytes.fromhex("802A008033") + jpki.digest_info_sha256(b"x") + b"\x00"):
        jpki.guard(apdu)


@pytest.mark.parametrize("aid", list(jpki.FORBIDDEN_AIDS))
@pytest.mark.parametrize("p2", [0x0C, 0x00, 0x04])
def test_the_guard_refuses_the_my_number_applications(aid, p2):
    with pytest.raises(jpki.ForbiddenCommand):
        jpki.guard(select_aid(aid, p2))


@pytest.mark.parametrize("apdu", [
    "00A4040007A0000003080000",  # another application (PIV)
    "00A4040C09D392F0002601000000",  # a prefix of the JPKI AP
    "00A40000023F00",  # MF by FID
    "00A4080C04D3921000",  # by path
    "00A4020C0300180A",  # FID of 3 bytes
    "00CA7F6800",  # GET DATA
    "0084000008",  # GET CHALLENGE
    "002400800831323334",  # CHANGE REFERENCE DATA
    "00A4",  # too short
])
def test_the_guard_refuses_everything_else(apdu):
    with pytest.raises(jpki.ForbiddenCommand):
        jpki.guard(bytes.fromhex(apdu))


@given(st.binary(min_size=0, max_size=40))
def test_no_apdu_selects_an_application_other_than_jpki(apdu):
    try:
        jpki.guard(apdu)
    except jpki.ForbiddenCommand:
        return
    assert apdu[1] in jpki.ALLOWED_INS
    if apdu[1] == jpki.INS_SELECT:
        body = apdu[5:5 + apdu[4]]
        assert (apdu[2], body) == (jpki.SELECT_BY_AID, jpki.JPKI_AP) or (apdu[2], len(body)) == (jpki.SELECT_BY_FID, 2)


@given(st.sampled_from(list(jpki.FORBIDDEN_AIDS)), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=4))
def test_a_forbidden_aid_never_passes_whatever_the_framing(aid, cla, p2, tail):
    with pytest.raises(jpki.ForbiddenCommand):
        jpki.guard(bytes([cla, 0xA4, 0x04, p2, len(aid)]) + aid + tail)


def test_a_forbidden_select_never_reaches_the_card():
    reader = InProcessReader()
    card = card_helpers.card()
    reader.insert(card)
    transport = reader.open()
    for aid in jpki.FORBIDDEN_AIDS:
        with pytest.raises(jpki.ForbiddenCommand):
            transport.transmit(select_aid(aid))
    assert card.audit == [] and card.violations == []
    transport.close()


@pytest.mark.parametrize("head,length", [
    (bytes.fromhex("30820349"), 0x349 + 4),
    (bytes.fromhex("30819f00"), 0x9F + 3),
    (bytes.fromhex("307f0000"), 0x7F + 2),
])
def test_certificate_length_from_the_der_header(head, length):
    assert jpki.der_length(head) == length


@pytest.mark.parametrize("head", ["04820349", "30830100", "3080aaaa", "30"])
def test_a_bad_der_header_is_not_a_jpki_certificate(head):
    with pytest.raises(NotJpkiCard):
        jpki.der_length(bytes.fromhex(head))


@pytest.mark.parametrize("padding", [0, 1, 300, 2000])
def test_the_certificate_is_read_whole_from_an_ef_of_any_length(padding):
    reader = InProcessReader()
    card = card_helpers.card(ef_padding=padding)
    reader.insert(card)
    transport = reader.open()
    jpki.select_ap(transport)
    assert jpki.read_certificate(transport) == card.certificate_der
    reads = [e for e in card.audit if e.command.startswith("00b0")]
    assert len(reads) == 1 + -(-(len(card.certificate_der) - 4) // 256)
    transport.close()


def test_the_token_names_a_jpki_card():
    reader = InProcessReader()
    reader.insert(card_helpers.card())
    transport = reader.open()
    jpki.select_ap(transport)
    assert jpki.read_token(transport) == b"JPKIAPICCTOKEN2"
    transport.close()


def test_the_sign_command_carries_a_sha256_digest_info():
    digest_info = jpki.digest_info_sha256(b"challenge")
    assert len(digest_info) == 0x33 and digest_info.startswith(jpki.SHA256_DIGEST_INFO_PREFIX)
