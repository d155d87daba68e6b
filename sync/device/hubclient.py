"""The device's HTTPS client for the hub API: mutual TLS with the certificate from enrollment.

Enrollment (`madoguchi sync enroll`) leaves in ``<data_dir>/sync/``: ``hub.json`` (the API's
URL, the device id, the facility), ``hub-ca.pem`` (the hub CA, pinned by the token's hash),
``device.pem`` and ``device.key`` (0600; the key was made on this device and never left it).
Both the desk (live queries) and the sync daemon (facility keys, outbox upload) use this
client, which is why it lives in edge/.

Every call has a timeout; every failure (unreachable, too slow, refused, a bad answer) raises
`OnlineUnavailable` or a subclass of it, with the reason in English.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import requests
import urllib3
from madoguchi.edge import store
from madoguchi.edge.verdict import CheckRequest, Method, OnlineAnswer, OnlineRefused, OnlineSource, OnlineUnavailable

log = logging.getLogger(__name__)

HUB_CONFIG = "hub.json"
CA_FILE, CERT_FILE, KEY_FILE = "hub-ca.pem", "device.pem", "device.key"


class HubRefused(OnlineUnavailable):
    """The hub answered 401/403: this device is not (or no longer) enrolled."""


class HubRequestError(OnlineUnavailable):
    """The hub could not use the request, or answered with something unreadable."""


@dataclass(frozen=True)
class Enrollment:
    """What `sync enroll` wrote about the hub for this device."""

    sync_dir: Path
    hub_url: str
    device_id: str
    facility: str

    @property
    def ca(self) -> Path:
        return self.sync_dir / CA_FILE

    @property
    def cert(self) -> Path:
        return self.sync_dir / CERT_FILE

    @property
    def key(self) -> Path:
        return self.sync_dir / KEY_FILE


def load_enrollment(data_dir: Path) -> Enrollment | None:
    """The device's enrollment, or None when it was never enrolled (sync init only, or nothing)."""
    sync_dir = Path(data_dir) / "sync"
    try:
        raw = json.loads((sync_dir / HUB_CONFIG).read_text())
        enrollment = Enrollment(sync_dir, str(raw["hub_url"]).rstrip("/"), str(raw["device_id"]), str(raw["facility"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OnlineUnavailable(f"cannot read {sync_dir / HUB_CONFIG}: {exc}") from None
    return enrollment


def write_enrollment(enrollment: Enrollment) -> None:
    (enrollment.sync_dir / HUB_CONFIG).write_text(json.dumps(
        {"hub_url": enrollment.hub_url, "device_id": enrollment.device_id, "facility": enrollment.facility}, indent=2))


class HubClient:
    """One keep-alive HTTPS session to the hub API, with this device's client certificate."""

    def __init__(self, enrollment: Enrollment) -> None:
        self.enrollment = enrollment
        self.session = requests.Session()

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> HubClient | None:
        """The client of an enrolled device, None when not enrolled; OnlineUnavailable when the
        enrollment files are unreadable."""
        enrollment = load_enrollment(data_dir)
        return cls(enrollment) if enrollment else None

    def post_json(self, path: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self.request_json("POST", path, body, timeout)

    def get_json(self, path: str, timeout: float) -> dict[str, Any]:
        return self.request_json("GET", path, None, timeout)

    def request_json(self, method: str, path: str, body: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
        """`timeout` bounds the connection, the TLS handshake and the wait for the answer together."""
        url = self.enrollment.hub_url + path
        try:
            # verify and cert per request: a session's own would lose to $REQUESTS_CA_BUNDLE. requests
            # takes a urllib3 Timeout as it is (HTTPAdapter.send), which its stubs do not say.
            response = self.session.request(method, url, json=body,
                                            timeout=urllib3.Timeout(total=timeout),  # type: ignore[arg-type]
                                            verify=str(self.enrollment.ca),
                                            cert=(str(self.enrollment.cert), str(self.enrollment.key)))
        except requests.Timeout:
            raise OnlineUnavailable(f"no answer from the hub within {timeout:.2f} s") from None
        except requests.exceptions.SSLError as exc:
            raise HubRefused(f"TLS with the hub failed (certificate refused or not the pinned hub): "
                             f"{str(exc)[-300:]}") from None
        except (requests.RequestException, OSError) as exc:
            raise OnlineUnavailable(f"cannot reach the hub at {self.enrollment.hub_url}: "
                                    f"{type(exc).__name__}") from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        detail = payload.get("detail") if isinstance(payload, dict) else None
        if response.status_code in (401, 403):
            raise HubRefused(f"the hub refused this device ({response.status_code}): {detail}")
        if response.status_code == 502 and isinstance(detail, str) and detail.startswith("upstream refused: "):
            raise OnlineRefused(detail.removeprefix("upstream refused: ")[:300])
        if response.status_code >= 500:
            raise OnlineUnavailable(f"the hub could not answer ({response.status_code}): {detail}")
        if response.status_code != 200 or not isinstance(payload, dict):
            raise HubRequestError(f"{method} {path}: HTTP {response.status_code}: {str(detail)[:300]}")
        return payload

    def live_source(self, conn: sqlite3.Connection) -> OnlineSource:
        """The desk's `OnlineSource`: asks the hub within the verdict's budget; every answer
        also refreshes the device's view (the `live_record` overlay, never the signed cache)."""

        def ask(request: CheckRequest, budget: float) -> OnlineAnswer:
            started = time.monotonic()
            body = {**_check_body(request, conn), "limit_consent": request.consent.limit}
            remaining = budget - (time.monotonic() - started)
            if remaining <= 0:
                raise OnlineUnavailable("no time left in the budget")
            answer = answer_from_json(self.post_json("/v1/check", {**body, "budget_seconds": remaining}, remaining))
            if answer.records:
                # By card: until the hub's bundle links the certificate, the desk finds them by it here.
                store.save_live_records(conn, [replace(r, card_link=request.card_link)
                                               if request.card_link and not r.card_link else r
                                               for r in answer.records])
            return answer

        return ask

    def close(self) -> None:
        self.session.close()


def _check_body(request: CheckRequest, conn: sqlite3.Connection) -> dict[str, Any]:
    """What the hub is asked: by card link, by numbers, or a 診察券 by the numbers cached for it."""
    if request.card_link:
        return {"card_link": request.card_link}
    if request.method == Method.PATIENT_ID and request.patient_id:
        records = store.find_by_patient_id(conn, request.patient_id)
        if not records:
            raise OnlineUnavailable("a 診察券 unknown to the cache cannot be asked by numbers")
        r = max(records, key=lambda rec: rec.qualification_date or date.min)
        return {"insurer_number": r.insurer_number, "symbol": r.symbol, "number": r.number, "branch": r.branch,
                "birth_date": r.birth_date.isoformat()}
    if request.insurer_number and request.number and request.birth_date:
        return {"insurer_number": request.insurer_number, "symbol": request.symbol, "number": request.number,
                "branch": request.branch, "birth_date": request.birth_date.isoformat()}
    raise OnlineUnavailable("the hub can only be asked by numbers or by card")


def answer_from_json(data: dict[str, Any]) -> OnlineAnswer:
    """The hub's answer (validity, records in QualificationRecord's field names, as_of)."""
    try:
        return OnlineAnswer.from_json(data)
    except ValueError as exc:
        raise HubRequestError(f"unreadable answer from the hub: {exc}") from None


def live_source_for(data_dir: Path, conn: sqlite3.Connection) -> OnlineSource | None:
    """The hub live source when this device is enrolled, else None (the cache only)."""
    try:
        client = HubClient.from_data_dir(data_dir)
    except OnlineUnavailable as exc:
        log.warning("enrollment unreadable, checking from the cache only: %s", exc)
        return None
    return client.live_source(conn) if client else None
