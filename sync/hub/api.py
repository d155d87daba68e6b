"""The hub API (FastAPI over uvicorn, extra `hub`), served over TLS with client certificates.

  GET  /v1/ca            the hub CA certificate (a device checks it against its token's hash)
  POST /v1/enroll        token + certificate request → certificate, facility key, TUF root, repository URL
  GET  /v1/device        the device the client certificate belongs to
  GET  /v1/facility-key  the current facility key (or ?key_id=), for enrolled, unrevoked devices
  POST /v1/check         live query: the hub asks its upstream within the device's budget
  POST /v1/outbox        reconciliation: the device's offline decisions re-checked (sync/reconciliation.py)

Every endpoint but the first two needs the client certificate of an enrolled, unrevoked device
(`authenticated_device`). TLS is set up with the hub CA as the only client trust anchor and
client certificates optional (enrollment has none yet): a certificate from another CA fails
the handshake, no certificate gets 401, an unknown or revoked device 403. uvicorn does not
hand the peer certificate to the app, so `ClientCertH11Protocol` adds it to each request's
scope as the ASGI TLS extension (``scope["extensions"]["tls"]["client_cert_chain"]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, NoReturn

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.numbers import MAX_LENGTH, InputError, normalize_branch, normalize_symbol
from madoguchi.edge.verdict import CheckRequest, Consent, Method, OnlineRefused, OnlineUnavailable
from madoguchi.sync.hub import pki, reconciliation, roster
from madoguchi.sync.hub import repository as hub
from madoguchi.sync.hub.repository import HubPaths
from madoguchi.sync.hub.upstream.base import Upstream, answer_to_json, online_source
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.types import Message, Receive, Scope, Send
from uvicorn import Config, Server
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

DEFAULT_API_PORT = 8443
MAX_BUDGET = 10.0
RETURN_MARGIN = 0.05  # seconds of the device's budget kept for the answer's way back
UPSTREAM_TIMEOUT = 2.0  # seconds per re-checked outbox entry
UPLOAD_BUDGET = 8.0  # seconds per outbox upload, within the device's 10 s wait (sync/upload.py)
# The largest body each endpoint reads (bytes); any other path reads none. Each holds the largest
# valid body even with every character escaped as a surrogate pair (12 bytes): an enrollment's
# 10000-character certificate request; an outbox upload is at most 500 entries of well under 1 kB.
BODY_LIMITS = {"/v1/enroll": 128 * 1024, "/v1/check": 4 * 1024, "/v1/outbox": 1024 * 1024}
OPEN_PATHS = {"/v1/ca", "/v1/enroll"}  # the two endpoints a device without a certificate may call
KNOWN_PATHS = {"/v1/ca", "/v1/enroll", "/v1/device", "/v1/facility-key", "/v1/check", "/v1/outbox"}
OUTBOX_DESCRIPTION = ('{"entries": [{"entry_id": int, "checked_at": ISO 8601 with offset, "payload": the outbox '
                      'request, "verdict": "ok"|"ng"|"confirm", "copay_percent": int|null}]}, at most 500')


class ClientCertH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, passing the TLS peer certificate to the app (ASGI TLS extension),
    with TCP_NODELAY: asyncio leaves accepted sockets with Nagle on, and h11 writes headers and
    body apart, so every answer waited ~40 ms for the client's delayed ACK (bench/live_query.py)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        tls = {"client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
               "tls_version": None, "cipher_suite": None, "server_cert": None,
               "client_cert_name": None, "client_cert_error": None}
        app = self.app

        async def with_tls(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": tls}}
            await app(scope, receive, send)

        self.app = with_tls


async def authenticated_device(request: Request) -> pki.Device:
    """The enrolled, unrevoked device whose client certificate made this request (401/403 else).
    Async, so on the event loop: one indexed read on a kept connection costs less than a hop to
    the thread pool and back (the stores are used by the loop's thread only)."""
    chain = ((request.scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or []
    if not chain:
        raise HTTPException(401, "a client certificate is needed: enroll this device (madoguchi sync enroll)")
    device = pki.device_for_certificate(request.app.state.paths, ssl.PEM_cert_to_DER_cert(chain[0]),
                                        request.app.state.stores)
    if device is None:
        raise HTTPException(403, "this certificate belongs to no enrolled device")
    if device.revoked_at:
        raise HTTPException(403, f"device {device.id} was revoked on {device.revoked_at[:10]}")
    return device


DeviceDep = Annotated[pki.Device, Depends(authenticated_device)]


class Guard:
    """Pure ASGI, in front of FastAPI: a request reaches the app only for a known path, with a
    client certificate unless the path is open, and with a body within the path's limit, read
    here (at most the limit is ever held) and checked to be strict JSON (no NaN, no lone
    surrogate) before FastAPI parses it. No answer of this guard, nor any error answer of the
    app, repeats the request's content; an exception in the app is logged by its type only
    (its message may hold personal data) and answered 500."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path not in KNOWN_PATHS:
            await _refuse(send, 404, "no such endpoint")
            return
        chain = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or []
        if path not in OPEN_PATHS and not chain:
            await _refuse(send, 401, "a client certificate is needed: enroll this device (madoguchi sync enroll)")
            return
        limit = BODY_LIMITS.get(path, 0)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, 413, f"the body may hold at most {limit} bytes")
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(send, 413, f"the body may hold at most {limit} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and (problem := _json_problem(body)):
            await _refuse(send, 400, problem)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, replay, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the type only: the message may repeat the body
            log.error("%s %s failed: %s", scope["method"], path, type(exc).__name__)
            if not started:
                await _refuse(send, 500, "internal error (see the hub's log)")


def _json_problem(body: bytes) -> str | None:
    """Why `body` is not strict JSON (NaN and Infinity refused, text must be valid UTF-8), or None."""
    def constant(name: str) -> NoReturn:
        raise ValueError(f"{name} is not a JSON number")

    try:
        value = json.loads(body, parse_constant=constant)
        _check_text(value)
    except RecursionError:
        return "the body is nested too deeply"
    except (ValueError, UnicodeError) as exc:
        return f"the body is not strict JSON ({type(exc).__name__})"
    return None


def _check_text(value: object) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")  # a lone surrogate (\ud800) raises
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 in FastAPI's form (where, what, kind), without the input or the context it echoes."""
    problems = [{"loc": [part for part in error.get("loc", ()) if isinstance(part, (str, int))][:10],
                 "msg": str(error.get("msg", "invalid"))[:200], "type": str(error.get("type", ""))[:50]}
                for error in exc.errors()[:10]]
    return JSONResponse({"detail": problems}, status_code=422)


class EnrollBody(BaseModel):
    token: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}\.[0-9a-f]{64}$",
                       description="from `madoguchi hub enroll-token`: FACILITY.SECRET.CAHASH")
    csr_pem: str = Field(max_length=10000, description="PEM certificate request for the device's own EC key")
    name: str = Field("", max_length=100, description="a name for the device (host name)")


BUDGET = Field(1.5, gt=0, le=MAX_BUDGET, strict=True, description="seconds the device waits for the answer")


LIMIT_CONSENT = Field("", pattern=r"^[013]?$",
                      description="the patient's answer on 限度額 information: 1 yes, 0 no, 3 同意取得困難, empty not asked")


def _date_text(value: object) -> object:
    if not isinstance(value, str):  # pydantic would read a number as seconds since 1970
        raise ValueError("a date as YYYY-MM-DD")
    return value


class CheckByNumbers(BaseModel):
    """A check by the numbers on a document: 保険者番号, 記号, 番号, 枝番, 生年月日."""

    model_config = ConfigDict(extra="forbid")
    insurer_number: str = Field(pattern=r"^([0-9]{6}|[0-9]{8})$")
    symbol: str = Field("", max_length=MAX_LENGTH["symbol"])
    number: str = Field(min_length=1, max_length=MAX_LENGTH["number"])
    branch: str = Field("", pattern=r"^[0-9]{0,2}$")
    birth_date: Annotated[date, BeforeValidator(_date_text)]
    budget_seconds: float = BUDGET
    limit_consent: str = LIMIT_CONSENT


class CheckByCard(BaseModel):
    """A check by card link (the keyed hash of the card's auth certificate)."""

    model_config = ConfigDict(extra="forbid")
    card_link: str = Field(min_length=1, max_length=128)
    budget_seconds: float = BUDGET
    limit_consent: str = LIMIT_CONSENT


def create_app(paths: HubPaths, upstream_factory: Callable[[], Upstream], repository_url: str | None = None,
               repository_port: int = hub.DEFAULT_PORT, policy: Policy | None = None) -> FastAPI:
    """The API app. The upstream (`upstream_factory()`) is at `app.state.upstream`, the hub's
    paths at `app.state.paths`. `repository_url` is the repositories' base URL given to enrolling
    devices; by default http://<the host name the device used>:<repository_port>."""
    app = FastAPI(title="madoguchi hub API", version="1", docs_url=None, redoc_url=None, openapi_url=None,
                  exception_handlers={RequestValidationError: validation_error})
    app.state.paths = paths
    app.state.upstream_factory = upstream_factory  # a forked worker makes its own (ApiServer)
    app.state.upstream = upstream_factory()
    app.state.stores = hub.FacilityStores(paths)
    app.state.live_answers = roster.LiveAnswers(paths)
    app.state.policy = policy or Policy()
    app.state.repository_url = repository_url.rstrip("/") if repository_url else None
    app.state.repository_port = repository_port

    @app.get("/v1/ca")
    def get_ca() -> dict[str, str]:
        """The hub CA certificate (PEM)."""
        return {"ca_pem": pki.ca_cert_path(paths).read_text()}

    @app.post("/v1/enroll", responses={413: {"description": "the body is larger than this endpoint takes"},
                                       400: {"description": "the body is not JSON, or a bad certificate request"},
                                       403: {"description": "unknown, spent or expired token"}})
    def post_enroll(body: EnrollBody, request: Request) -> dict[str, Any]:
        try:
            device, cert_pem = pki.enroll(paths, body.token, body.csr_pem, body.name)
        except pki.BadRequest as exc:
            raise HTTPException(400, str(exc)) from None
        except pki.EnrollmentRefused as exc:
            raise HTTPException(403, str(exc)) from None
        key_id, key = pki.current_facility_key(paths, device.facility)
        host = request.url.hostname or "localhost"
        host = f"[{host}]" if ":" in host else host
        base = app.state.repository_url or f"http://{host}:{app.state.repository_port}"
        log.info("enrolled device %s for %s", device.id, device.facility)
        return {"device_id": device.id, "facility": device.facility, "certificate_pem": cert_pem.decode(),
                "ca_pem": pki.ca_cert_path(paths).read_text(), "key_id": key_id, "facility_key": key.hex(),
                "trusted_root": paths.trusted_root(device.facility).read_text(),
                "repository_url": f"{base}/{device.facility}"}

    @app.get("/v1/device", responses={401: {"description": "no client certificate"},
                                      403: {"description": "unknown or revoked device"}})
    def get_device(device: DeviceDep) -> dict[str, Any]:
        return device.to_json()

    @app.get("/v1/facility-key", responses={401: {"description": "no client certificate"},
                                            403: {"description": "unknown or revoked device"},
                                            404: {"description": "no such key id"}})
    def get_facility_key(device: DeviceDep,
                         key_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{16}$")] = None) -> dict[str, str]:
        found = (pki.current_facility_key(paths, device.facility) if key_id is None
                 else pki.facility_key(paths, device.facility, key_id))
        if found is None:
            raise HTTPException(404, f"no facility key {key_id!r}")
        return {"key_id": found[0], "facility_key": found[1].hex()}

    @app.post("/v1/check", responses={413: {"description": "the body is larger than this endpoint takes"},
                                       400: {"description": "the body is not JSON"},
                                      401: {"description": "no client certificate"},
                                      403: {"description": "unknown or revoked device"},
                                      502: {"description": "the upstream answered with an error (its message)"},
                                      503: {"description": "the upstream gave no answer within the budget"}},
              response_model=dict[str, Any])
    def post_check(body: CheckByNumbers | CheckByCard, device: DeviceDep) -> JSONResponse:
        try:
            if isinstance(body, CheckByCard):
                request = CheckRequest(Method.CARD, card_link=body.card_link, consent=Consent(limit=body.limit_consent))
            else:
                request = CheckRequest(Method.NUMBERS, insurer_number=body.insurer_number,
                                       symbol=normalize_symbol(body.symbol), number=normalize_symbol(body.number),
                                       branch=normalize_branch(body.branch), birth_date=body.birth_date,
                                       consent=Consent(limit=body.limit_consent))
                if not request.number:
                    raise InputError("number: nothing left once normalised")
        except InputError:  # over-long or malformed fields: named by the model, never echoed
            raise HTTPException(400, "a field of the check is malformed or too long") from None
        try:
            answer = online_source(app.state.upstream)(request, max(body.budget_seconds - RETURN_MARGIN, 0.01))
        except OnlineRefused as exc:
            raise HTTPException(502, f"upstream refused: {exc}") from None
        except OnlineUnavailable as exc:
            raise HTTPException(503, f"upstream: {exc}") from None
        if answer.records:  # into the roster for the next bundle, in the next batch (roster.LiveAnswers)
            app.state.live_answers.add(device.facility, answer, request.card_link)
        return JSONResponse(answer_to_json(answer))  # plain JSON already: no response validation per check

    @app.post("/v1/outbox", responses={413: {"description": "the body is larger than this endpoint takes"},
                                       400: {"description": "the body is not JSON"},
                                       401: {"description": "no client certificate"},
                                       403: {"description": "unknown or revoked device"},
                                       422: {"description": "not a list of outbox entries"}})
    def post_outbox(body: Annotated[dict[str, Any], Body(description=OUTBOX_DESCRIPTION)],
                    device: DeviceDep) -> dict[str, Any]:
        """Re-check the device's offline decisions against the upstream (sync/reconciliation.py)."""
        try:
            entries = reconciliation.parse_entries(body)
        except reconciliation.BadUpload as exc:
            raise HTTPException(422, str(exc)) from None
        conn = hub.open_facility_store(paths, device.facility)
        try:
            results = reconciliation.recheck_uploaded(conn, device.id, entries, app.state.upstream,
                                                      app.state.policy, store.utcnow(), UPSTREAM_TIMEOUT,
                                                      UPLOAD_BUDGET)
        finally:
            conn.close()
        return {"results": results}

    return app


# ---- serving ----------------------------------------------------------------------------------

class ApiServer:
    """uvicorn serving `app` over TLS (hub CA for client certificates): in a thread of this
    process, and in `workers - 1` forked processes on the same listening socket, so that the
    API uses every core (one Python process serves on one). Each worker has its own upstream
    (`app.state.upstream_factory`), store connections and roster writer, over the same stores."""

    def __init__(self, app: FastAPI, paths: HubPaths, host: str = "127.0.0.1", port: int = DEFAULT_API_PORT,
                 server_names: list[str] | None = None, workers: int = 1) -> None:
        pki.ensure_server_cert(paths, server_names or pki.default_server_names(host))
        self.socket = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                           reuse_port=False)
        self.host, self.port = host, self.socket.getsockname()[1]
        config = Config(Guard(app), http=ClientCertH11Protocol, lifespan="off", log_level="warning", access_log=False,
                        ssl_certfile=str(pki.server_cert_path(paths)), ssl_keyfile=str(pki.server_key_path(paths)),
                        ssl_ca_certs=str(pki.ca_cert_path(paths)), ssl_cert_reqs=ssl.CERT_OPTIONAL,
                        timeout_keep_alive=30)
        self.app = app
        self.server = Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       name="hub-api", daemon=True)
        self.workers = max(1, workers)
        self.children: list[int] = []

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def start(self, wait: float = 10.0) -> ApiServer:
        """Fork the workers first (call before this process starts other threads), then serve."""
        for _ in range(self.workers - 1):
            pid = os.fork()
            if pid == 0:
                self._worker()
            self.children.append(pid)
        self.thread.start()
        deadline = time.monotonic() + wait
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the hub API did not start (see the log)")
            time.sleep(0.01)
        return self

    def _worker(self) -> None:
        """A forked worker: serve until SIGTERM (or the parent is gone), write the pending roster
        answers, exit. Never returns."""
        code = 0
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):  # uvicorn hands them back here once it stopped
                signal.signal(sig, lambda *_: None)
            state = self.app.state
            state.upstream = state.upstream_factory()
            parent = os.getppid()

            def watch() -> None:  # the parent gone: stop; stopping: idle keep-alive connections wait no more
                while not self.server.should_exit:
                    if os.getppid() != parent:
                        self.server.should_exit = True
                    time.sleep(0.2)
                time.sleep(0.5)
                self.server.force_exit = True

            threading.Thread(target=watch, daemon=True).start()
            self.server.run(sockets=[self.socket])
            state.live_answers.close()
        except BaseException:  # noqa: BLE001 - a worker must never return into the parent's code
            log.exception("hub API worker %d failed", os.getpid())
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)

    def stop(self) -> None:
        """Stop, letting requests in flight finish for a moment: an idle keep-alive TLS connection
        would otherwise hold the shutdown until its peer answers the close (asyncio waits 30 s)."""
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        self.server.should_exit = True
        self.thread.join(timeout=0.5)
        self.server.force_exit = True
        self.thread.join(timeout=10)
        self.socket.close()
        self.app.state.live_answers.close()
        self.app.state.stores.close()
        deadline = time.monotonic() + 15
        for pid in self.children:
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(pid, os.WNOHANG) == (0, 0):
                    if time.monotonic() > deadline:
                        os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)
                        break
                    time.sleep(0.05)
        self.children = []
