"""One inserted card: prove who holds it (PIN + signature + certificate chain), or read it for 目視確認."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import date

from cryptography import x509
from madoguchi.edge.card import certs, jpki
from madoguchi.edge.card.errors import CardError, CardLocked
from madoguchi.edge.card.transport import Transport
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.verdict import CheckRequest, Method

log = logging.getLogger(__name__)

CHALLENGE_BYTES = 32


@dataclass(frozen=True)
class HolderProof:
    """What the card proved: its auth certificate, and whether the holder knew the PIN."""

    certificate_der: bytes
    certificate_not_after: date
    pin_verified: bool

    @property
    def method(self) -> Method:
        return Method.CARD if self.pin_verified else Method.VISUAL

    def __repr__(self) -> str:  # never the full certificate in a log
        return (f"HolderProof(certificate=<{len(self.certificate_der)} bytes>, "
                f"not_after={self.certificate_not_after}, pin_verified={self.pin_verified})")


def request_for(proof: HolderProof, card_link: str, document: DocumentKind = DocumentKind.MYNA_CARD) -> CheckRequest:
    """The check for the holder: by the link of the certificate read, with its expiry for the grace
    rule. A スマホ保険証 (document SMARTPHONE) has its own certificate, hence its own link."""
    return CheckRequest(proof.method, document, card_link=card_link, certificate_not_after=proof.certificate_not_after)


def advice_ja(tries_left: int) -> str:
    """What the desk tells the patient before PIN entry."""
    if tries_left <= 0:
        return CardLocked.message_ja
    if tries_left == 1:
        return ("暗証番号の残り回数が1回です。間違えるとロックされるため、"
                "目視確認、または資格確認書などでの確認をおすすめします")
    return f"暗証番号（4桁）を入力してください（残り{tries_left}回）"


class CardSession:
    """One inserted card over a transport. Not thread-safe: use it from one worker at a time."""

    def __init__(self, transport: Transport, anchors: certs.TrustAnchors) -> None:
        self.transport = transport
        self.anchors = anchors
        self._certificate: tuple[bytes, x509.Certificate] | None = None

    def pin_tries_left(self) -> int:
        """Tries left on the auth PIN (0: locked); uses no try."""
        return self.transport.call(self._pin_tries_left)

    def read_for_visual_check(self) -> HolderProof:
        """目視確認: the certificate only (staff compare the photo); no PIN is asked."""
        der, cert = self.transport.call(self._checked_certificate)
        return HolderProof(der, certs.not_after(cert), pin_verified=False)

    def prove_holder(self, pin: str) -> HolderProof:
        """VERIFY the PIN just typed (once: never retried, never kept), have the card sign a fresh
        challenge, check the signature with the certificate (which must chain to an anchor), and
        re-select the AP so that the PIN state is dropped whatever happened."""
        return self.transport.call(self._prove_holder, pin)

    def _pin_tries_left(self) -> int:
        jpki.select_ap(self.transport)
        return jpki.pin_tries_left(self.transport)

    def _prove_holder(self, pin: str) -> HolderProof:
        der, cert = self._checked_certificate()  # before VERIFY: a bad card costs no PIN try
        try:
            jpki.verify_pin(self.transport, pin)
            challenge = secrets.token_bytes(CHALLENGE_BYTES)
            signature = jpki.sign(self.transport, challenge)
        finally:
            self._drop_pin_state()
        certs.check_signature(cert, signature, challenge)
        return HolderProof(der, certs.not_after(cert), pin_verified=True)

    def _checked_certificate(self) -> tuple[bytes, x509.Certificate]:
        if self._certificate is None:
            jpki.select_ap(self.transport)
            jpki.read_token(self.transport)
            der = jpki.read_certificate(self.transport, jpki.EF_AUTH_CERT)
            self._certificate = der, certs.check_certificate(der, self.anchors)
        else:
            jpki.select_ap(self.transport)
        return self._certificate

    def _drop_pin_state(self) -> None:
        try:
            jpki.select_ap(self.transport)
        except CardError as exc:  # the card is gone or dead: its PIN state went with it
            log.info("could not re-select the JPKI AP after the PIN: %s", exc)

    def close(self) -> None:
        self.transport.close()
