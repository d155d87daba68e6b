"""The hub's certificate authority, its enrollment tokens and its device registry.

Files under ``<hub>/pki/`` (never served): ``ca.key``/``ca.pem`` (the hub CA, ECDSA P-256, 10
years), ``server.key``/``server.pem`` (the API's TLS certificate, signed by the CA). Each
facility's store holds its `enroll_token` rows (SHA-256 of the secret only, an expiry, used
once) and its `device` rows (id, SHA-256 fingerprint of the client certificate, revoked_at).

A token reads ``<facility>.<secret>.<sha256 of the CA certificate, hex>``: the device fetches
the CA certificate over an unverified connection, keeps it only if its hash is the one in the
token, then talks to the hub over TLS pinned to that CA (the kubeadm discovery-hash idea).
A device certificate names the device id (CN) and its facility (O); the registry decides
whether it is still welcome, so a revocation refuses the device at its next request.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import secrets
import socket
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from madoguchi.edge import store
from madoguchi.sync import bundle
from madoguchi.sync.hub import repository as hub
from madoguchi.sync.hub import store as hubstore
from madoguchi.sync.hub.repository import (
    FacilityStores,
    HubError,
    HubPaths,
    check_facility_name,
    open_facility_store,
)
from madoguchi.sync.protocol import parse_token

CA_VALIDITY = timedelta(days=3650)
SERVER_VALIDITY = timedelta(days=825)
DEVICE_VALIDITY = timedelta(days=825)
DEFAULT_TOKEN_TTL = timedelta(hours=24)


class EnrollmentRefused(HubError):
    """A token the hub will not honour: unknown, spent or expired (the message says which)."""


class BadRequest(EnrollmentRefused):
    """A certificate request the hub cannot sign (the token is not spent)."""


@dataclass(frozen=True)
class Device:
    """An enrolled device (端末) of a facility, as the registry knows it."""

    id: str
    facility: str
    name: str
    enrolled_at: str
    revoked_at: str | None
    fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "facility": self.facility, "name": self.name, "enrolled_at": self.enrolled_at,
                "revoked_at": self.revoked_at}


# ---- files -----------------------------------------------------------------------------

def pki_dir(paths: HubPaths) -> Path:
    return paths.hub_dir / "pki"


def ca_cert_path(paths: HubPaths) -> Path:
    return pki_dir(paths) / "ca.pem"


def server_cert_path(paths: HubPaths) -> Path:
    return pki_dir(paths) / "server.pem"


def server_key_path(paths: HubPaths) -> Path:
    return pki_dir(paths) / "server.key"


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def ca_hash(ca_pem: bytes) -> str:
    """SHA-256 of the CA certificate in DER form: what a token pins."""
    return fingerprint(x509.load_pem_x509_certificate(ca_pem))


def ensure_ca(paths: HubPaths) -> x509.Certificate:
    """The hub CA, made on first use."""
    if ca_cert_path(paths).exists():
        return x509.load_pem_x509_certificate(ca_cert_path(paths).read_bytes())
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "madoguchi hub CA")])
    now = store.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    hub.write_private(pki_dir(paths) / "ca.key", _key_pem(key))
    hub.atomic_write(ca_cert_path(paths), cert.public_bytes(serialization.Encoding.PEM))
    return cert


def _ca_key(paths: HubPaths) -> ec.EllipticCurvePrivateKey:
    path = pki_dir(paths) / "ca.key"
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):  # ensure_ca makes one: only a replaced file is not
        raise HubError(f"{path} is not the hub CA's EC key")
    return key


def default_server_names(host: str = "") -> list[str]:
    """The names devices may use for this hub: loopback, the host name, the address it listens on
    (or, listening on all, the address of the interface that carries the default route)."""
    names = ["localhost", "127.0.0.1", socket.gethostname(), socket.getfqdn()]
    if host and host not in ("0.0.0.0", "::"):
        names.append(host)
    else:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect(("192.0.2.1", 9))  # UDP: no packet is sent, only the route is looked up
                names.append(probe.getsockname()[0])
        except OSError:
            pass
    return list(dict.fromkeys(n for n in names if n))


def _san(names: list[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def ensure_server_cert(paths: HubPaths, names: list[str]) -> None:
    """The API's TLS certificate for `names` (host names and IP addresses the devices use);
    remade when a name is missing or it expires within 30 days."""
    ca = ensure_ca(paths)
    if server_cert_path(paths).exists():
        current = x509.load_pem_x509_certificate(server_cert_path(paths).read_bytes())
        san = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if set(_san(names)) <= set(san) and current.not_valid_after_utc - store.utcnow() > timedelta(days=30):
            return
    key = _new_key()
    now = store.utcnow()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + SERVER_VALIDITY)
            .add_extension(x509.SubjectAlternativeName(_san(names)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(_ca_key(paths), hashes.SHA256()))
    hub.write_private(server_key_path(paths), _key_pem(key))
    hub.atomic_write(server_cert_path(paths), cert.public_bytes(serialization.Encoding.PEM))


# ---- the registry (in each facility's store) -------------------------------------------------

def _facility_store(paths: HubPaths, facility: str) -> sqlite3.Connection:
    return open_facility_store(paths, check_facility_name(facility), create=True)


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def make_token(paths: HubPaths, facility: str, ttl: timedelta = DEFAULT_TOKEN_TTL,
               now: datetime | None = None) -> str:
    """A one-time enrollment token for `facility` (its secret is stored hashed only)."""
    if ttl <= timedelta(0):
        raise HubError("the token's lifetime must be positive")
    now = now or store.utcnow()
    if check_facility_name(facility) not in paths.facilities():
        raise HubError(f"no facility {facility!r} on this hub: run `madoguchi hub import` first")
    hub.ensure_facility(paths, facility, now)  # its repository, if never published yet
    secret = secrets.token_urlsafe(24)
    conn = _facility_store(paths, facility)
    try:
        with store.transaction(conn):
            hubstore.add_token(conn, _secret_hash(secret), now, now + ttl)
    finally:
        conn.close()
    return f"{facility}.{secret}.{ca_hash(ensure_ca(paths).public_bytes(serialization.Encoding.PEM))}"


def enroll(paths: HubPaths, token: str, csr_pem: str, name: str = "",
           now: datetime | None = None) -> tuple[Device, bytes]:
    """Spend the token and sign the device's certificate request: (the device, its certificate PEM).
    Raises EnrollmentRefused for a bad, used or expired token or a bad request."""
    now = now or store.utcnow()
    try:
        facility, secret, _ = parse_token(token)
    except ValueError as exc:
        raise EnrollmentRefused(str(exc)) from None
    if facility not in paths.facilities():
        raise EnrollmentRefused("unknown or spent token")
    device_id = "dev-" + secrets.token_hex(8)
    conn = _facility_store(paths, facility)
    try:
        with store.transaction(conn):
            state = hubstore.token_state(conn, _secret_hash(secret))
            if state is None or state[1] is not None:
                raise EnrollmentRefused("unknown or spent token")
            if state[0] <= now:
                raise EnrollmentRefused("the token has expired: make a new one with `madoguchi hub enroll-token`")
            cert = _sign_device(paths, _requested_key(csr_pem), device_id, facility, now)
            device = Device(device_id, facility, name[:100], now.isoformat(), None, fingerprint(cert))
            hubstore.spend_token(conn, _secret_hash(secret), now, device_id)
            hubstore.add_device(conn, device.id, device.name, device.enrolled_at, device.fingerprint)
    finally:
        conn.close()
    return device, cert.public_bytes(serialization.Encoding.PEM)


def _requested_key(pem: str) -> ec.EllipticCurvePublicKey:
    """The device's public key from its certificate request, once the request's signature verifies."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
        valid = csr.is_signature_valid
        key = csr.public_key()
    except (ValueError, UnicodeEncodeError) as exc:
        raise BadRequest(f"not a PEM certificate request: {exc}") from None
    if not valid:
        raise BadRequest("the certificate request's signature does not verify")
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise BadRequest("the certificate request must hold an EC key")
    return key


def _sign_device(paths: HubPaths, public_key: ec.EllipticCurvePublicKey, device_id: str, facility: str,
                 now: datetime) -> x509.Certificate:
    ca = ensure_ca(paths)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, facility)])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + DEVICE_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(_ca_key(paths), hashes.SHA256()))


def device_for_certificate(paths: HubPaths, der: bytes, stores: FacilityStores | None = None) -> Device | None:
    """The enrolled device holding this client certificate (already verified against the CA by
    TLS), or None when the registry does not know it; `revoked_at` says if it was revoked.
    `stores`: the connections the API keeps open (else the facility's store is opened for this)."""
    identity = _certificate_identity(der)
    if identity is None:
        return None
    facility, device_id, print_ = identity
    if facility not in paths.facilities():
        return None
    if stores is None:
        conn = open_facility_store(paths, facility)  # no schema work
        try:
            row = hubstore.device(conn, device_id)
        finally:
            conn.close()
    else:
        with stores.connection(facility) as conn:
            row = hubstore.device(conn, device_id)
    if row is None or row[4] != print_:
        return None
    return Device(row[0], facility, row[1], row[2], row[3], row[4])


@functools.lru_cache(maxsize=1024)
def _certificate_identity(der: bytes) -> tuple[str, str, str] | None:
    """(facility, device id, fingerprint) named by a client certificate: parsed once per certificate."""
    try:
        cert = x509.load_der_x509_certificate(der)
        facility = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
        device_id = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    except (ValueError, IndexError):
        return None
    return str(facility), str(device_id), fingerprint(cert)


def list_devices(paths: HubPaths, facility: str) -> list[Device]:
    conn = _facility_store(paths, facility)
    try:
        return [Device(r[0], facility, r[1], r[2], r[3], r[4]) for r in hubstore.devices(conn)]
    finally:
        conn.close()


def revoke_device(paths: HubPaths, device_id: str, now: datetime | None = None) -> tuple[Device, str]:
    """Refuse the device from now on and rotate its facility's key (a new key id for future
    bundles; the hub republishes the full bundle with it). Returns the device and the new key id."""
    now = now or store.utcnow()
    for facility in paths.facilities():
        conn = _facility_store(paths, facility)
        try:
            with store.transaction(conn):
                found = hubstore.revoke_device(conn, device_id, now)
        finally:
            conn.close()
        if found:
            key_id = rotate_facility_key(paths, facility)
            if (paths.store_dir(facility) / store.DATABASE_NAME).exists() and _published(paths, facility):
                hub.publish(paths, facility, now, full=True)
            device = next(d for d in list_devices(paths, facility) if d.id == device_id)
            return device, key_id
    raise HubError(f"no device {device_id!r} on this hub (see `madoguchi hub devices --facility F`)")


def _published(paths: HubPaths, facility: str) -> bool:
    conn = open_facility_store(paths, facility)
    try:
        return bool(store.get_meta(conn, "published_version"))
    finally:
        conn.close()


# ---- facility keys by key id ---------------------------------------------------------------

def old_keys_dir(paths: HubPaths, facility: str) -> Path:
    return paths.keys(facility) / "old-facility-keys"


def rotate_facility_key(paths: HubPaths, facility: str) -> str:
    """A new facility key for future bundles; the old one is kept (by key id) for the bundles
    still listed that it encrypts. Returns the new key id."""
    with hub.locked(paths, facility):
        old = bundle.load_facility_key(paths.facility_key(facility))
        hub.write_private(old_keys_dir(paths, facility) / f"{bundle.key_id(old)}.key", old.hex().encode())
        new = bundle.new_facility_key()
        hub.write_private(paths.facility_key(facility), new.encode())
    return bundle.key_id(bytes.fromhex(new))


def current_facility_key(paths: HubPaths, facility: str) -> tuple[str, bytes]:
    """(key id, key) of the key that encrypts the facility's new bundles."""
    key = bundle.load_facility_key(paths.facility_key(facility))
    return bundle.key_id(key), key


def facility_key(paths: HubPaths, facility: str, key_id: str) -> tuple[str, bytes] | None:
    """(key id, key) with `key_id`, the current key or an older one (None if the hub has none such)."""
    current = current_facility_key(paths, facility)
    if key_id == current[0]:
        return current
    if not all(c in "0123456789abcdef" for c in key_id):
        return None
    path = old_keys_dir(paths, facility) / f"{key_id}.key"
    return (key_id, bundle.load_facility_key(path)) if path.exists() else None
