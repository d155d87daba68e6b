"""Trust anchors and the checks on a card's auth certificate and signature.

Anchors are PEM files in a directory: `[card] trust_anchors` in the configuration, default
/etc/madoguchi/jpki-roots (the J-LIS auth CA roots). `madoguchi vcard` adds its test CA under
`<data_dir>/trust-anchors`, which the check also reads: it stands in for the hub's certificate
resolution. Expiry is not refused here: the verdict applies the 3-month grace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from madoguchi.edge.card.errors import CertificateRejected
from madoguchi.edge.config import Config

log = logging.getLogger(__name__)

DEFAULT_TRUST_ANCHORS = Path("/etc/madoguchi/jpki-roots")
TEST_ANCHORS_SUBDIR = "trust-anchors"


def trust_anchor_dirs(config: Config) -> list[Path]:
    """The configured anchor directory, then the data directory's (test CA of `madoguchi vcard`)."""
    configured = config.raw.get("card", {}).get("trust_anchors")
    return [Path(configured).expanduser() if configured else DEFAULT_TRUST_ANCHORS,
            config.data_dir / TEST_ANCHORS_SUBDIR]


@dataclass(frozen=True)
class TrustAnchors:
    certificates: tuple[x509.Certificate, ...]

    def issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        for anchor in self.certificates:
            if anchor.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(anchor)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return anchor
        return None


def load_trust_anchors(*directories: Path) -> TrustAnchors:
    """Every certificate in the *.pem / *.crt files of `directories` (missing ones are skipped)."""
    found: list[x509.Certificate] = []
    for directory in directories:
        if not Path(directory).is_dir():
            continue
        for path in sorted(Path(directory).iterdir()):
            if path.suffix not in (".pem", ".crt"):
                continue
            try:
                found.extend(x509.load_pem_x509_certificates(path.read_bytes()))
            except (OSError, ValueError) as exc:
                log.warning("skipping trust anchor %s: %s", path, exc)
    return TrustAnchors(tuple(found))


def check_certificate(der: bytes, anchors: TrustAnchors, now: datetime | None = None) -> x509.Certificate:
    """Parse the auth certificate and check it chains to an anchor and is already valid."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise CertificateRejected("the card's certificate cannot be parsed") from None
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise CertificateRejected("the card's certificate does not hold an RSA key")
    if not anchors.certificates:
        raise CertificateRejected("no trust anchors are configured ([card] trust_anchors)",
                                  "電子証明書を確認するための設定（ルート証明書）がありません。管理者に連絡してください")
    if anchors.issuer_of(cert) is None:
        raise CertificateRejected("the card's certificate does not chain to a trust anchor")
    if (now or datetime.now(timezone.utc)) < cert.not_valid_before_utc:
        raise CertificateRejected("the card's certificate is not valid yet")
    return cert


def not_after(cert: x509.Certificate) -> date:
    return cert.not_valid_after_utc.date()


def check_signature(cert: x509.Certificate, signature: bytes, challenge: bytes) -> None:
    """The card's signature over SHA-256(challenge) must verify with the certificate's key."""
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise CertificateRejected("the card's signature does not match its certificate") from None
