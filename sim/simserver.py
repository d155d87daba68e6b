"""A network face for the national-system SIMULATOR, and the `Upstream` client that uses it.

For demos, tests and training only: `madoguchi upstream simulate` serves a `SimulatedUpstream`
over plain HTTP on 127.0.0.1 (JSON in and out); the hub talks to it through `HttpUpstream` as it
would to any other upstream. ``POST /v1/control`` changes the simulated behaviour (outage, slow
answers, 複数該当, losses, card links, reader checks) while it runs.

  POST /v1/check        {insurer_number, symbol, number, branch, birth_date, timeout} → answer
  POST /v1/batch        {queries: [...], timeout} → {answers: [answer | {error}]}
  POST /v1/resolve-card {card_link, timeout} → answer
  GET  /v1/pushes?wait=S → {answers: [...]}
  POST /v1/control      {cut, latency, outage: {start, end}, twin: {patient_id, twin_patient_id},
                         lose: {patient_id, day, reason}, link_card: {card_link, patient_id},
                         reader: {card_link | patient_id}} → status
  GET  /v1/status       → status
Answers 503 during an outage, 504 when slower than the request's timeout, 400 on a bad request.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests
from madoguchi.edge.verdict import OnlineAnswer
from madoguchi.sim.simulator import SimulatedUpstream
from madoguchi.sync.hub.upstream.base import (
    MalformedAnswer,
    NumbersQuery,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    answer_from_json,
    answer_to_json,
    query_from_json,
    query_to_json,
)

log = logging.getLogger(__name__)

MAX_BODY = 10_000_000
MAX_TIMEOUT = 60.0


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], upstream: SimulatedUpstream) -> None:
        super().__init__(address, _Handler)
        self.upstream = upstream

    def status(self) -> dict:
        national = self.upstream.national
        return {"simulator": True, "cut": national.is_cut, "latency": national.latency,
                "now": national.clock().isoformat()}

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="simulator-http", daemon=True)
        thread.start()
        return thread


class _BadRequest(ValueError):
    pass


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/v1/status":
            return self._send(200, self.server.status())
        if url.path == "/v1/pushes":
            try:
                wait = min(max(float(parse_qs(url.query).get("wait", ["0"])[0]), 0.0), MAX_TIMEOUT)
            except ValueError:
                return self._send(400, {"error": "wait must be a number of seconds"})
            return self._send(200, {"answers": [answer_to_json(a) for a in self.server.upstream.pushes(wait)]})
        self._send(404, {"error": f"no such path {url.path}"})

    def do_POST(self) -> None:  # noqa: N802
        routes = {"/v1/check": self._check, "/v1/batch": self._batch, "/v1/resolve-card": self._resolve,
                  "/v1/control": self._control}
        route = routes.get(urlsplit(self.path).path)
        if route is None:
            return self._send(404, {"error": f"no such path {self.path}"})
        try:
            body = self._body()
            status, result = route(body)
        except _BadRequest as exc:
            status, result = 400, {"error": str(exc)}
        except UpstreamUnavailable as exc:
            status, result = 503, {"error": str(exc)}
        except UpstreamTimeout as exc:
            status, result = 504, {"error": str(exc)}
        except UpstreamError as exc:
            status, result = 422, {"error": str(exc)}
        self._send(status, result)

    def _body(self) -> dict:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise _BadRequest("bad Content-Length") from None
        if not 0 < length <= MAX_BODY:
            raise _BadRequest(f"the body must be JSON of at most {MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _BadRequest(f"not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _BadRequest("the body must be a JSON object")
        return body

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    @staticmethod
    def _timeout(body: dict) -> float:
        try:
            return min(max(float(body.get("timeout", 10.0)), 0.0), MAX_TIMEOUT)
        except (TypeError, ValueError):
            raise _BadRequest("timeout must be a number of seconds") from None

    @staticmethod
    def _query(data) -> NumbersQuery:
        try:
            return query_from_json(data)
        except ValueError as exc:
            raise _BadRequest(f"bad query: {exc}") from None

    def _check(self, body: dict) -> tuple[int, dict]:
        return 200, answer_to_json(self.server.upstream.check(self._query(body), self._timeout(body)))

    def _batch(self, body: dict) -> tuple[int, dict]:
        queries = body.get("queries")
        if not isinstance(queries, list) or not queries:
            raise _BadRequest("queries must be a non-empty list")
        answers = self.server.upstream.batch_check([self._query(q) for q in queries], self._timeout(body))
        return 200, {"answers": [answer_to_json(a) if isinstance(a, OnlineAnswer) else {"error": str(a)}
                                 for a in answers]}

    def _resolve(self, body: dict) -> tuple[int, dict]:
        card_link = body.get("card_link")
        if not isinstance(card_link, str) or not card_link:
            raise _BadRequest("card_link is required")
        answer = self.server.upstream.resolve_card(card_link, self._timeout(body))
        if answer is None:
            raise _BadRequest("this upstream cannot resolve card certificates")
        return 200, answer_to_json(answer)

    def _control(self, body: dict) -> tuple[int, dict]:
        upstream, national = self.server.upstream, self.server.upstream.national
        try:
            if "cut" in body:
                national.cut() if body["cut"] else national.restore()
            if "latency" in body:
                national.latency = max(float(body["latency"]), 0.0)
            if outage := body.get("outage"):
                national.add_outage(datetime.fromisoformat(outage["start"]), datetime.fromisoformat(outage["end"]))
            if twin := body.get("twin"):
                national.add_twin(str(twin["patient_id"]), str(twin["twin_patient_id"]))
            if lose := body.get("lose"):
                national.lose(str(lose["patient_id"]), date.fromisoformat(lose["day"]), str(lose.get("reason", "退職")))
            if link := body.get("link_card"):
                national.link_card(str(link["card_link"]), str(link["patient_id"]))
            if reader := body.get("reader"):
                upstream.reader_check(card_link=str(reader.get("card_link", "")),
                                      patient_id=str(reader.get("patient_id", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _BadRequest(f"bad control request: {exc!r}") from None
        return 200, self.server.status()


class HttpUpstream:
    """An `Upstream` reached over HTTP (the simulator's network face)."""

    def __init__(self, base_url: str, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()

    def check(self, query: NumbersQuery, timeout: float) -> OnlineAnswer:
        return answer_from_json(self._call("POST", "/v1/check", timeout, {**query_to_json(query), "timeout": timeout}))

    def batch_check(self, queries: Sequence[NumbersQuery], timeout: float) -> list[OnlineAnswer | UpstreamError]:
        result = self._call("POST", "/v1/batch", timeout,
                            {"queries": [query_to_json(q) for q in queries], "timeout": timeout})
        answers = result.get("answers")
        if not isinstance(answers, list) or len(answers) != len(queries):
            raise MalformedAnswer("the batch answer does not match the queries")
        return [UpstreamError(a["error"]) if isinstance(a, dict) and "error" in a else answer_from_json(a)
                for a in answers]

    def pushes(self, timeout: float) -> list[OnlineAnswer]:
        result = self._call("GET", f"/v1/pushes?wait={timeout}", timeout, None)
        return [answer_from_json(a) for a in result.get("answers") or []]

    def resolve_card(self, card_link: str, timeout: float) -> OnlineAnswer | None:
        return answer_from_json(self._call("POST", "/v1/resolve-card", timeout,
                                           {"card_link": card_link, "timeout": timeout}))

    def _call(self, method: str, path: str, timeout: float, body: dict | None) -> dict:
        try:
            # The server sleeps at most `timeout`: allow it a little more to say so itself.
            response = self.session.request(method, self.base_url + path, json=body, timeout=timeout + 0.5)
        except requests.Timeout:
            raise UpstreamTimeout(f"no answer from {self.base_url} within {timeout:.1f} s") from None
        except requests.RequestException as exc:
            raise UpstreamUnavailable(f"cannot reach {self.base_url}: {type(exc).__name__}") from None
        try:
            payload = response.json()
        except ValueError:
            raise MalformedAnswer(f"{path}: HTTP {response.status_code} without JSON") from None
        if not isinstance(payload, dict):
            raise MalformedAnswer(f"{path}: the answer is not a JSON object")
        if response.status_code == 503:
            raise UpstreamUnavailable(payload.get("error", "unavailable"))
        if response.status_code == 504:
            raise UpstreamTimeout(payload.get("error", "timed out"))
        if response.status_code != 200:
            raise UpstreamError(f"{path}: HTTP {response.status_code}: {payload.get('error', '')}")
        return payload
