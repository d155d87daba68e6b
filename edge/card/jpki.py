"""The JPKI APDUs: the one module that knows what is sent to a My Number Card (docs/domain.md §6).

Only the JPKI AP may be selected by AID; files inside it are selected by FID. `guard()` is
called by every transport before an APDU leaves the process, so nothing else can be sent.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from madoguchi.edge.card.errors import CardError, CardLocked, NotJpkiCard, WrongPin

JPKI_AP = bytes.fromhex("D392F000260100000001")
# Deny list, for the virtual card to recognise and record violations: never select these.
FORBIDDEN_AIDS = {
    bytes.fromhex("D3921000310001010408"): "券面入力補助AP",  # its EF holds the My Number
    bytes.fromhex("D3921000310001010402"): "券面AP",  # its PIN is the My Number
}

EF_TOKEN = 0x0006
EF_AUTH_CERT = 0x000A
EF_AUTH_CA_CERT = 0x000B
EF_AUTH_KEY = 0x0017
EF_AUTH_PIN = 0x0018
TOKEN_PREFIX = b"JPKIAPICCTOKEN"
TOKEN_LENGTH = 32
AUTH_PIN_MAX_TRIES = 3

INS_SELECT, INS_READ_BINARY, INS_VERIFY, INS_SIGN = 0xA4, 0xB0, 0x20, 0x2A
ALLOWED_INS = frozenset((INS_SELECT, INS_READ_BINARY, INS_VERIFY, INS_SIGN))
SELECT_BY_FID, SELECT_BY_AID = 0x02, 0x04
SW_OK = 0x9000
SW_NOT_FOUND = 0x6A82
BLOCKED_SWS = frozenset((0x6983, 0x6984))  # authentication method blocked / reference data unusable
SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
READ_CHUNK = 256  # Le 00: at most 256 bytes a READ BINARY


class ForbiddenCommand(RuntimeError):
    """An APDU outside the allowlist: a programming error, refused before it reaches the card."""


class ApduChannel(Protocol):
    def transmit(self, apdu: bytes) -> tuple[bytes, int]: ...


def guard(apdu: bytes) -> None:
    """Refuse anything but SELECT of the JPKI AP, SELECT of an EF by FID, READ BINARY, VERIFY and SIGN."""
    if len(apdu) < 4 or apdu[1] not in ALLOWED_INS:
        raise ForbiddenCommand(f"INS {apdu[1:2].hex() or '?'} is not allowed")
    if apdu[1] != INS_SELECT:
        return
    data = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
    if apdu[2] == SELECT_BY_AID and data == JPKI_AP:
        return
    if apdu[2] == SELECT_BY_FID and len(data) == 2:
        return
    raise ForbiddenCommand("only the JPKI AP may be selected by AID; EFs only by FID")


def is_sign_command(apdu: bytes) -> bool:
    return len(apdu) > 1 and apdu[1] == INS_SIGN


def select_ap(channel: ApduChannel) -> None:
    """Select the JPKI AP; this is also how a My Number Card is recognised (not by its ATR)."""
    _, sw = channel.transmit(bytes([0x00, INS_SELECT, SELECT_BY_AID, 0x0C, len(JPKI_AP)]) + JPKI_AP)
    if sw != SW_OK:
        raise NotJpkiCard(f"SELECT JPKI AP answered {sw:04X}")


def select_ef(channel: ApduChannel, fid: int) -> None:
    _, sw = channel.transmit(bytes([0x00, INS_SELECT, SELECT_BY_FID, 0x0C, 0x02]) + fid.to_bytes(2, "big"))
    if sw != SW_OK:
        raise NotJpkiCard(f"SELECT EF {fid:04X} answered {sw:04X}")


def read_binary(channel: ApduChannel, offset: int, length: int) -> bytes:
    le = 0 if length >= READ_CHUNK else length
    data, sw = channel.transmit(bytes([0x00, INS_READ_BINARY, offset >> 8, offset & 0xFF, le]))
    if sw != SW_OK:
        raise NotJpkiCard(f"READ BINARY at {offset} answered {sw:04X}")
    return data


def read_token(channel: ApduChannel) -> bytes:
    """The token EF: `JPKIAPICCTOKEN2` on a My Number Card."""
    select_ef(channel, EF_TOKEN)
    token = read_binary(channel, 0, TOKEN_LENGTH).rstrip(b" \x00")
    if not token.startswith(TOKEN_PREFIX):
        raise NotJpkiCard("the token EF does not name a JPKI card")
    return token


def der_length(head: bytes) -> int:
    """Total length of the DER SEQUENCE starting with `head` (at least 4 bytes)."""
    if len(head) < 2 or head[0] != 0x30:
        raise NotJpkiCard("the certificate EF does not hold a DER certificate")
    first = head[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 2 or len(head) < 2 + count:
        raise NotJpkiCard("bad DER length in the certificate EF")
    return 2 + count + int.from_bytes(head[2:2 + count], "big")


def read_certificate(channel: ApduChannel, fid: int = EF_AUTH_CERT) -> bytes:
    """Read the certificate in EF `fid`: its length from the DER header, then chunk by chunk."""
    select_ef(channel, fid)
    data = read_binary(channel, 0, 4)
    total = der_length(data)
    while len(data) < total:
        chunk = read_binary(channel, len(data), min(READ_CHUNK, total - len(data)))
        if not chunk:
            raise NotJpkiCard("the certificate EF ended early")
        data += chunk
    return data[:total]


def tries_from_sw(sw: int) -> int | None:
    """Tries left from a VERIFY status word (63 Cx); 0 for a blocked PIN; None for anything else."""
    if sw & 0xFFF0 == 0x63C0:
        return sw & 0x0F
    if sw in BLOCKED_SWS:
        return 0
    return None


def pin_tries_left(channel: ApduChannel) -> int:
    """Tries left on the auth PIN, without using one (VERIFY with no data)."""
    select_ef(channel, EF_AUTH_PIN)
    _, sw = channel.transmit(bytes([0x00, INS_VERIFY, 0x00, 0x80]))
    tries = tries_from_sw(sw)
    if tries is None:
        raise CardError(f"PIN status query answered {sw:04X}")
    return tries


def verify_pin(channel: ApduChannel, pin: str) -> None:
    """VERIFY the auth PIN once. WrongPin(tries_left) or CardLocked on failure; never retried."""
    if len(pin) != 4 or not pin.isascii() or not pin.isdigit():
        raise WrongPinFormat()
    select_ef(channel, EF_AUTH_PIN)
    _, sw = channel.transmit(bytes([0x00, INS_VERIFY, 0x00, 0x80, 0x04]) + pin.encode("ascii"))
    if sw == SW_OK:
        return
    tries = tries_from_sw(sw)
    if tries is None:
        raise CardError(f"VERIFY answered {sw:04X}")
    if tries == 0:
        raise CardLocked("the auth PIN is locked")
    raise WrongPin(tries)


class WrongPinFormat(CardError):
    """Not 4 digits: refused before anything is sent, so no try is used."""

    message_ja = "暗証番号は4桁の数字です。もう一度入力してください"


def digest_info_sha256(data: bytes) -> bytes:
    return SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(data).digest()


def sign(channel: ApduChannel, data: bytes) -> bytes:
    """Have the card sign SHA-256(data) with the auth key (CLA 80; needs a verified PIN)."""
    select_ef(channel, EF_AUTH_KEY)
    digest_info = digest_info_sha256(data)
    signature, sw = channel.transmit(
        bytes([0x80, INS_SIGN, 0x00, 0x80, len(digest_info)]) + digest_info + b"\x00")
    if sw != SW_OK:
        raise CardError(f"SIGN answered {sw:04X}")
    return signature
