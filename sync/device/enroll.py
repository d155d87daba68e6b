"""`madoguchi sync enroll`: the device's side of enrollment with a one-time token.

1. Fetch the hub CA certificate without trusting the connection, and keep it only if its
   SHA-256 is the hash in the token (so a machine in the middle cannot hand over its own CA).
2. Make the device's key pair here (the private key never leaves the device) and send a
   certificate request with the token, over TLS pinned to that CA.
3. Write what the hub returns under ``<data_dir>/sync/``: the client certificate, the facility
   key (by key id), the facility's trusted TUF root and the repository URL, so that
   `sync once` and `sync daemon` work with no `sync init`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import ssl
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from madoguchi.sync import bundle, protocol
from madoguchi.sync.device import hubclient
from madoguchi.sync.device.client import DeviceConfig, init_device, save_facility_key

MAX_ANSWER = 1_000_000  # bytes read from the unverified connection


class EnrollmentError(RuntimeError):
    """Enrollment did not happen (the message says why)."""


def parse_token(token: str) -> tuple[str, str, str]:
    try:
        return protocol.parse_token(token)
    except ValueError as exc:
        raise EnrollmentError(f"{exc}: give the token `madoguchi hub enroll-token` printed on the hub") from None


def fetch_pinned_ca(hub_url: str, expected_hash: str, timeout: float) -> str:
    """The hub CA certificate (PEM), checked against the token's hash. The connection itself is
    not verified (the device has no anchor yet): the hash is what makes the answer trustworthy."""
    url = urlsplit(hub_url)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        connection = http.client.HTTPSConnection(url.hostname or "", url.port or 443, context=context, timeout=timeout)
        try:
            connection.request("GET", "/v1/ca")
            ca_pem = json.loads(connection.getresponse().read(MAX_ANSWER))["ca_pem"]
        finally:
            connection.close()
        der = ssl.PEM_cert_to_DER_cert(ca_pem)
    except (OSError, http.client.HTTPException) as exc:
        raise EnrollmentError(f"cannot reach the hub at {hub_url}: {type(exc).__name__}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise EnrollmentError(f"{hub_url} did not give a CA certificate: {exc!r}"[:300]) from None
    if hashlib.sha256(der).hexdigest() != expected_hash:
        raise EnrollmentError("the hub's CA certificate does not match the token's hash: refusing "
                              "(wrong hub address, or someone in between)")
    return ca_pem


def enroll_device(data_dir: Path, hub_url: str, token: str, timeout: float = 15.0) -> DeviceConfig:
    hub_url = hub_url.rstrip("/")
    if not hub_url.startswith("https://"):
        raise EnrollmentError(f"the hub URL must be https:// (got {hub_url!r})")
    _, _, expected = parse_token(token)
    ca_pem = fetch_pinned_ca(hub_url, expected, timeout)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, socket.gethostname()[:64] or "device")]))
           .sign(key, hashes.SHA256()))
    with tempfile.TemporaryDirectory() as tmp:
        ca_path = Path(tmp) / "ca.pem"
        ca_path.write_text(ca_pem)
        try:
            response = requests.post(f"{hub_url}/v1/enroll", verify=str(ca_path), timeout=timeout, json={
                "token": token.strip(), "name": socket.gethostname()[:100],
                "csr_pem": csr.public_bytes(serialization.Encoding.PEM).decode()})
            answer = response.json()
        except requests.RequestException as exc:
            raise EnrollmentError(f"enrollment request failed: {type(exc).__name__}: {str(exc)[:200]}") from None
        except ValueError:
            raise EnrollmentError(f"the hub answered HTTP {response.status_code} without JSON") from None
        if response.status_code != 200:
            detail = answer.get("detail") if isinstance(answer, dict) else answer
            raise EnrollmentError(f"the hub refused the enrollment: {detail}")
        try:
            key_hex, key_id = answer["facility_key"], answer["key_id"]
            if bundle.key_id(bytes.fromhex(key_hex)) != key_id:
                raise ValueError("the facility key does not match its key id")
            (Path(tmp) / "root.json").write_text(answer["trusted_root"])
            (Path(tmp) / "facility.key").write_text(key_hex)
            config = init_device(Path(data_dir), Path(tmp) / "root.json", Path(tmp) / "facility.key",
                                 answer["repository_url"])
            enrollment = hubclient.Enrollment(config.sync_dir, hub_url, str(answer["device_id"]),
                                              str(answer["facility"]))
            enrollment.ca.write_text(ca_pem)
            enrollment.cert.write_text(answer["certificate_pem"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EnrollmentError(f"unreadable enrollment answer: {exc!r}"[:300]) from None
    _write_secret(enrollment.key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    save_facility_key(config, bytes.fromhex(key_hex))
    hubclient.write_enrollment(enrollment)
    return config


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
