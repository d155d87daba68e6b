"""A virtual My Number Card (JPKI AP only) for the demo, the tests and field training.

It behaves like the real card as far as the desk and OpenSC can tell (docs/domain.md §6): the JPKI
AP with the token EF, the auth certificate (in an EF longer than the certificate), the auth CA
certificate, the auth key and the auth PIN (3 tries, then blocked). It also keeps an audit log
of every APDU with PIN digits masked, answers SELECT of 券面AP / 券面入力補助AP with 6A82 and
records it as a violation, and can simulate latency, a removal mid-command and a card that
never answers. `edge.card.vpcd` plugs it into pcscd through vsmartcard-vpcd.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import InitVar, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from madoguchi.edge.card import jpki
from madoguchi.edge.card.transport import CardPulled

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_SECURITY = b"\x69\x82"  # security status not satisfied
SW_NO_EF = b"\x69\x86"  # command not allowed: no current EF
SW_WRONG_FILE = b"\x69\x81"  # command incompatible with file structure
SW_NOT_FOUND = b"\x6a\x82"
SW_WRONG_P1P2 = b"\x6b\x00"
SW_INS = b"\x6d\x00"
SW_CLA = b"\x6e\x00"
SIGN_PIN_TRIES = 5
HANG_LIMIT = 120.0  # seconds a hanging card waits for release() before leaving anyway
EF_SIGN_PIN = 0x001B  # the 署名用 PIN: present so OpenSC's emulator can query it; never verifiable here


def _atr(historical: bytes) -> bytes:
    """An ATR offering T=1 with `historical` bytes (not one of the real cards' ATRs: the desk and
    OpenSC must recognise the card by SELECT)."""
    body = bytes([0x80 | len(historical), 0x80, 0x01]) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes([tck])


@dataclass(frozen=True)
class AuditEntry:
    at: float
    command: str  # hex; PIN digits replaced by ** ("VERIFY 00208004********")
    sw: str
    note: str = ""


@dataclass
class Pin:
    value: bytes = field(repr=False)
    max_tries: int
    tries: int = -1

    def __post_init__(self) -> None:
        if self.tries < 0:
            self.tries = self.max_tries


_REGISTRY: list[VirtualJpkiCard] = []
_REGISTRY_LOCK = threading.Lock()


def registered_violations() -> list[tuple[str, AuditEntry]]:
    """Forbidden SELECTs seen by every virtual card of this process (except those made to expect them)."""
    with _REGISTRY_LOCK:
        return [(card.label, v) for card in _REGISTRY for v in card.violations]


@dataclass
class VirtualJpkiCard:
    certificate_der: bytes
    private_key: rsa.RSAPrivateKey
    ca_certificate_der: bytes
    pin: InitVar[str] = "1234"
    label: str = "virtual JPKI card"
    blocked_sw: int = 0x6984  # what VERIFY answers once the PIN is locked (6984 as in myna; 6983, 63C0)
    latency: float = 0.0  # seconds before each answer
    ef_padding: int = 300  # the auth cert EF is longer than the certificate, like the real card's
    expect_violations: bool = False  # for the one test that sends forbidden SELECTs on purpose
    atr: bytes = field(default_factory=lambda: _atr(b"madoguchi"))
    remove_on_ins: int | None = None  # leave the reader when this INS arrives (once)
    hang_on_ins: int | None = None  # answer this INS (once) only by leaving when release() is called
    audit: list[AuditEntry] = field(default_factory=list)
    violations: list[AuditEntry] = field(default_factory=list)

    def __post_init__(self, pin: str) -> None:
        if len(pin) != 4 or not pin.isdigit():
            raise ValueError("the auth PIN is 4 digits")
        self.auth_pin = Pin(pin.encode("ascii"), jpki.AUTH_PIN_MAX_TRIES)
        self._unhang = threading.Event()
        self.sign_pin = Pin(secrets.token_hex(8).encode(), SIGN_PIN_TRIES)
        token = jpki.TOKEN_PREFIX + b"2"
        self.files: dict[int, bytes] = {
            jpki.EF_TOKEN: token + b" " * (jpki.TOKEN_LENGTH - len(token)),
            jpki.EF_AUTH_CERT: self.certificate_der + b"\xff" * self.ef_padding,
            jpki.EF_AUTH_CA_CERT: self.ca_certificate_der,
        }
        self._lock = threading.Lock()
        self.reset()
        if not self.expect_violations:
            with _REGISTRY_LOCK:
                _REGISTRY.append(self)

    def reset(self) -> None:
        """Power on / reset: nothing selected, no PIN verified."""
        self.ap_selected = False
        self.current: int | None = None
        self.verified = False

    def release(self) -> None:
        """End a hang: the card leaves the reader without answering."""
        self._unhang.set()

    @property
    def pin_tries_left(self) -> int:
        return self.auth_pin.tries

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU (response data + SW). May raise CardPulled; may sleep."""
        with self._lock:
            if self.latency:
                time.sleep(self.latency)
            ins = apdu[1] if len(apdu) > 1 else None
            if ins is not None and ins == self.remove_on_ins:
                self.remove_on_ins = None
                self._log(apdu, b"", "removed mid-command")
                raise CardPulled()
            if ins is not None and ins == self.hang_on_ins:
                self.hang_on_ins = None
                self._log(apdu, b"", "never answered")
                self._unhang.clear()  # a release() before the hang does not end it
                self._unhang.wait(HANG_LIMIT)
                raise CardPulled()
            response, note = self._answer(apdu)
            self._log(apdu, response[-2:], note)
            return response

    def _log(self, apdu: bytes, sw: bytes, note: str) -> None:
        command = apdu.hex()
        if len(apdu) > 5 and apdu[1] == jpki.INS_VERIFY:
            command = apdu[:5].hex() + "**" * (len(apdu) - 5)
        entry = AuditEntry(time.time(), command, sw.hex(), note)
        self.audit.append(entry)
        if note.startswith("FORBIDDEN"):
            self.violations.append(entry)

    def _answer(self, apdu: bytes) -> tuple[bytes, str]:
        if len(apdu) < 4:
            return SW_WRONG_LENGTH, ""
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
        if ins == jpki.INS_SELECT and cla == 0x00:
            return self._select(p1, body)
        if not self.ap_selected:
            return (SW_NOT_FOUND if ins in jpki.ALLOWED_INS else SW_INS), ""
        if ins == jpki.INS_READ_BINARY and cla == 0x00:
            le = (apdu[4] or 256) if len(apdu) == 5 else 256
            return self._read(p1 << 8 | p2, le), ""
        if ins == jpki.INS_VERIFY and cla == 0x00 and p1 == 0x00 and p2 == 0x80:
            return self._verify(body if len(apdu) > 4 else None), ""
        if ins == jpki.INS_SIGN and cla == 0x80 and p1 == 0x00 and p2 == 0x80:
            return self._sign(body), ""
        if ins in jpki.ALLOWED_INS:
            return (SW_CLA if cla not in (0x00, 0x80) else SW_WRONG_P1P2), ""
        return SW_INS, ""

    def _select(self, p1: int, body: bytes) -> tuple[bytes, str]:
        if p1 == jpki.SELECT_BY_AID:
            if body in jpki.FORBIDDEN_AIDS:
                return SW_NOT_FOUND, f"FORBIDDEN SELECT {jpki.FORBIDDEN_AIDS[body]}"
            if body != jpki.JPKI_AP:
                return SW_NOT_FOUND, ""
            self.reset()
            self.ap_selected = True
            return SW_OK, ""
        if p1 == jpki.SELECT_BY_FID and len(body) == 2 and self.ap_selected:
            fid = int.from_bytes(body, "big")
            if fid in self.files or fid in (jpki.EF_AUTH_KEY, jpki.EF_AUTH_PIN, EF_SIGN_PIN):
                self.current = fid
                return SW_OK, ""
        return SW_NOT_FOUND, ""

    def _read(self, offset: int, le: int) -> bytes:
        if self.current is None:
            return SW_NO_EF
        data = self.files.get(self.current)
        if data is None:
            return SW_WRONG_FILE
        if offset >= len(data):
            return SW_WRONG_P1P2
        chunk = data[offset:offset + le]
        return chunk + (SW_OK if len(chunk) == le else b"\x62\x82")  # 6282: end of file before Le

    def _pin_file(self) -> Pin | None:
        return {jpki.EF_AUTH_PIN: self.auth_pin, EF_SIGN_PIN: self.sign_pin}.get(self.current or -1)

    def _verify(self, entered: bytes | None) -> bytes:
        pin = self._pin_file()
        if pin is None:
            return SW_WRONG_FILE
        if pin.tries == 0:
            return self.blocked_sw.to_bytes(2, "big")
        if entered is None:
            return bytes([0x63, 0xC0 | pin.tries])
        if pin is self.auth_pin and hmac.compare_digest(entered, pin.value):
            pin.tries = pin.max_tries
            self.verified = True
            return SW_OK
        pin.tries -= 1
        self.verified = False
        return bytes([0x63, 0xC0 | pin.tries])

    def _sign(self, digest_info: bytes) -> bytes:
        if self.current != jpki.EF_AUTH_KEY:
            return SW_WRONG_FILE
        if not self.verified:
            return SW_SECURITY
        numbers = self.private_key.private_numbers()
        k = self.private_key.key_size // 8
        if len(digest_info) > k - 11:
            return SW_WRONG_LENGTH
        # PKCS#1 v1.5 type 1 padding over whatever DigestInfo was sent, as the card does.
        block = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info
        m = int.from_bytes(block, "big")
        p, q = numbers.p, numbers.q
        s1, s2 = pow(m, numbers.dmp1, p), pow(m, numbers.dmq1, q)
        s = s2 + q * ((numbers.iqmp * (s1 - s2)) % p)
        return s.to_bytes(k, "big") + SW_OK


# ---- a test CA and cards for people of the synthetic population ------------------------

@dataclass(frozen=True)
class TestCA:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def _name(*units: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI")]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, u) for u in units]
    return x509.Name(attrs)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_test_ca(now: datetime | None = None) -> TestCA:
    now = now or datetime.now(timezone.utc)
    key = new_key()
    name = _name("JPKI for user authentication", "madoguchi TEST CA (not J-LIS)")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    return TestCA(cert, key)


def issue_auth_certificate(ca: TestCA, key: rsa.RSAPrivateKey, *, not_before: datetime | None = None,
                           not_after: datetime | None = None) -> x509.Certificate:
    """An auth certificate like J-LIS's: no name, no address, no My Number; a serial only."""
    now = datetime.now(timezone.utc)
    not_before = not_before or now - timedelta(days=30)
    not_after = not_after or now + timedelta(days=365 * 5)
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                         x509.NameAttribute(NameOID.COMMON_NAME, secrets.token_hex(12).upper())])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.certificate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .sign(ca.key, hashes.SHA256()))


def make_card(ca: TestCA, pin: str = "1234", key: rsa.RSAPrivateKey | None = None,
              certificate: x509.Certificate | None = None, **options) -> VirtualJpkiCard:
    key = key or new_key()
    certificate = certificate or issue_auth_certificate(ca, key)
    der = lambda c: c.public_bytes(serialization.Encoding.DER)  # noqa: E731
    return VirtualJpkiCard(der(certificate), key, der(ca.certificate), pin, **options)


# ---- files kept by `madoguchi vcard` in the data directory -------------------------

def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(data)


def load_or_make_ca(directory: Path) -> TestCA:
    """The data directory's test CA (made once, kept so card links stay the same)."""
    cert_path, key_path = directory / "test-ca.pem", directory / "test-ca.key"
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return TestCA(x509.load_pem_x509_certificate(cert_path.read_bytes()), key)
    ca = make_test_ca()
    _write_private(key_path, _pem_key(ca.key))
    _write_private(cert_path, ca.pem)
    return ca


def load_or_make_person_card(directory: Path, ca: TestCA, person_id: int, pin: str, **options) -> VirtualJpkiCard:
    """The virtual card of one person (key and certificate kept, so the card link stays the same)."""
    cert_path, key_path = directory / f"person-{person_id}.pem", directory / f"person-{person_id}.key"
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    else:
        key = new_key()
        cert = issue_auth_certificate(ca, key)
        _write_private(key_path, _pem_key(key))
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return make_card(ca, pin, key, cert, label=f"person {person_id}", **options)
