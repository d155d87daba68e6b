"""The attacks of issue 13, each against real parts on loopback (the hub as its own process, real
TLS, real SQLite files, a real TUF repository), bounded in time and memory. Each test prints its
figure (run with -s to see them)."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from madoguchi.edge import store
from madoguchi.edge.config import JST, Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.verdict import CheckRequest, Method, Outcome
from madoguchi.sync import bundle
from madoguchi.sync.device.client import DeviceConfig, sync_once
from madoguchi.sync.device.hubclient import HubClient
from madoguchi.sync.hub import repository as hub
from madoguchi.sync.protocol import delta_target
from madoguchi.sync.tables import get_digest

from tests.integration.test_sync_support import FACILITY, TODAY, make_world, world, write_population  # noqa: F401
from tests.sync.conftest import device, hub_api  # noqa: F401

MADOGUCHI = [sys.executable, "-m", "madoguchi"]
GIB = 1 << 30
HUB_MEMORY_BOUND = 64 * 1024 * 1024  # growth of the hub's peak RSS allowed while refusing 1 GB bodies
MARKER = "ECHOCANARY7Q"


def figure(name: str, value) -> None:
    print(f"\nFIGURE {name}: {value}")


def peak_rss(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) * 1024


# ---- 1. the API: no pre-auth memory exhaustion, no echo, no crash ----------------------------

def _stream_body(url: str, path: str, ca: str, total: int, chunked: bool) -> tuple[int | None, int]:
    """POST `total` bytes to `path` without a client certificate, from a generator (never in
    memory), until the hub answers; returns (status, bytes sent)."""
    host, port = re.match(r"https://([^:/]+):(\d+)", url).groups()
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = False
    raw = socket.create_connection((host, int(port)), timeout=30)
    sock = context.wrap_socket(raw)
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{length}\r\n\r\n"
                 .encode())
    chunk = b"[" + b"1," * (512 * 1024 - 1)  # 1 MiB of a JSON array that never ends
    sent = 0
    try:
        while sent < total:
            piece = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
            sock.sendall(piece)
            sent += len(chunk)
            if select.select([sock], [], [], 0)[0]:
                break
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass
    try:
        sock.settimeout(10)
        head = sock.recv(4096).decode("latin-1")
    except (OSError, ssl.SSLError):
        head = ""
    finally:
        sock.close()
    match = re.match(r"HTTP/1.1 (\d+)", head)
    return (int(match.group(1)) if match else None), sent


@pytest.fixture
def hub_process(tmp_path, population_records):
    """`madoguchi hub serve` as its own process, with one facility."""
    data = tmp_path / "data"
    paths = hub.HubPaths(data / "hub")
    hub.import_population(paths, FACILITY, [json.dumps(r, ensure_ascii=False) for r in population_records], TODAY)
    hub.publish(paths, FACILITY)
    env = {**os.environ, "MADOGUCHI_CONFIG": os.devnull}
    process = subprocess.Popen([*MADOGUCHI, "--data-dir", str(data), "hub", "serve", "--port", "0",
                                "--api-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        url = re.search(r"(https://\S+?)/ ", lines[1]).group(1)
        repo_url = re.search(r"(http://\S+?)/", lines[0]).group(1)
        yield process, url, repo_url, str(paths.hub_dir / "pki" / "ca.pem")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def test_a_1gb_body_is_refused_without_the_hub_growing(hub_process):
    process, url, _, ca = hub_process
    requests.get(url + "/v1/ca", verify=ca, timeout=10)
    before = peak_rss(process.pid)
    started = time.monotonic()
    results = {}
    for path, chunked in (("/v1/enroll", True), ("/v1/enroll", False), ("/v1/check", True),
                          ("/v1/outbox", False)):
        results[f"{path} {'chunked' if chunked else 'length'}"] = _stream_body(url, path, ca, GIB, chunked)
    elapsed = time.monotonic() - started
    growth = peak_rss(process.pid) - before
    figure("hub peak RSS before / growth while refusing four 1 GiB bodies",
           f"{before / 2**20:.0f} MiB / {growth / 2**20:.1f} MiB in {elapsed:.1f} s")
    figure("answers (status, bytes sent before the answer)", results)
    assert results["/v1/enroll chunked"][0] == 413 and results["/v1/enroll length"][0] == 413
    assert results["/v1/check chunked"][0] == 401 and results["/v1/outbox length"][0] == 401
    assert all(sent < 64 * 2**20 for _, sent in results.values())
    assert growth < HUB_MEMORY_BOUND
    assert requests.get(url + "/v1/ca", verify=ca, timeout=10).status_code == 200  # still serving


def test_no_api_description_and_no_listing_or_dotfiles(hub_process):
    _, url, repo_url, ca = hub_process
    for path in ("/openapi.json", "/docs", "/redoc", "/"):
        assert requests.get(url + path, verify=ca, timeout=10).status_code == 404
    for path in (f"/{FACILITY}/metadata/", f"/{FACILITY}/", "/", f"/{FACILITY}/metadata/.targets-version",
                 f"/{FACILITY}/metadata/%2etargets-version"):
        answer = requests.get(repo_url + path, timeout=10)
        assert answer.status_code == 404, path
        assert "targets" not in answer.text
    assert requests.get(f"{repo_url}/{FACILITY}/metadata/timestamp.json", timeout=10).status_code == 200


def test_no_answer_echoes_input_and_nothing_malformed_is_a_5xx(hub_api, device, caplog):  # noqa: F811
    client = HubClient.from_data_dir(device)
    tls = {"verify": str(client.enrollment.ca), "cert": (str(client.enrollment.cert), str(client.enrollment.key)),
           "timeout": 15}
    birth = "1961-02-03"
    bodies = [
        ("/v1/check", json.dumps({"insurer_number": MARKER, "number": "1", "birth_date": birth})),
        ("/v1/check", json.dumps({"insurer_number": "06130012", "number": MARKER * 10, "birth_date": birth})),
        ("/v1/check", '{"card_link": "\\ud800' + MARKER + '"}'),
        ("/v1/check", '{"card_link": "' + MARKER + '", "budget_seconds": NaN}'),
        ("/v1/check", '{"card_link": "' + MARKER + '", "budget_seconds": Infinity}'),
        ("/v1/check", json.dumps({"card_link": MARKER, "budget_seconds": "1"})),
        ("/v1/check", "[" * 100000 + "]" * 100000),
        ("/v1/check", '{"card_link": "' + MARKER + '"'),
        ("/v1/check", json.dumps({"card_link": MARKER + "x" * (10 * 2**20)})),
        ("/v1/outbox", json.dumps({"entries": [{"entry_id": MARKER, "payload": {"number": MARKER}}]})),
        ("/v1/outbox", json.dumps([MARKER] * 300000)),
        ("/v1/enroll", json.dumps({"token": MARKER, "csr_pem": MARKER})),
        ("/v1/enroll", b"\xff\xfe" + MARKER.encode()),
    ]
    statuses, largest = [], 0
    for path, body in bodies:
        data = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
        try:
            answer = requests.post(client.enrollment.hub_url + path, data=data,
                                   headers={"Content-Type": "application/json"}, **tls)
        except requests.ConnectionError:  # refused (413) and closed before the body was all sent
            assert len(data) > 2**20
            statuses.append("closed")
            continue
        statuses.append(answer.status_code)
        largest = max(largest, len(answer.content))
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
        assert MARKER not in answer.text and MARKER.lower() not in answer.text.lower()
    figure("malformed bodies: statuses, largest answer",
           f"{sorted(set(map(str, statuses)))} over {len(bodies)} bodies, largest answer {largest} bytes")
    assert MARKER not in caplog.text and birth not in caplog.text
    assert HubClient.from_data_dir(device).get_json("/v1/device", 5)["facility"] == "clinic-a"
    assert largest < 4096


# ---- 2. bad data: refused with its reason, never a traceback --------------------------------

BAD_RECORDS = {
    "qualification_date": "2014/03/30",
    "valid_from": "H26.3.30",
    "record_id": 2**70,
    "copay_percent": float("nan"),
    "birth_date": "19610203",
    "as_of": "garbage",
    "insurer_number": "12a45678",
    "validity": 9,
}


def test_hub_import_refuses_a_file_with_bad_fields_whole(tmp_path):
    good = tmp_path / "good.jsonl"
    write_population(good, 50)
    records = [json.loads(line) for line in good.read_text().splitlines()]
    data = tmp_path / "data"
    env = {**os.environ, "MADOGUCHI_CONFIG": os.devnull}
    base = [*MADOGUCHI, "--data-dir", str(data), "hub", "import", "--facility", FACILITY, "--today",
            TODAY.isoformat()]
    assert subprocess.run([*base, str(good)], capture_output=True, env=env, timeout=120).returncode == 0
    conn = hub.open_facility_store(hub.HubPaths(data / "hub"), FACILITY)
    before = conn.execute("SELECT count(*), max(as_of) FROM qualification").fetchone()
    reasons = {}
    for number, (field, value) in enumerate(BAD_RECORDS.items()):
        bad = [dict(r, as_of="2026-11-19T09:00:00+09:00") for r in records]
        bad[number + 3] = {**bad[number + 3], field: value}
        path = tmp_path / f"bad-{field}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in bad))
        result = subprocess.run([*base, str(path)], capture_output=True, text=True, env=env, timeout=120)
        reasons[field] = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert f"line {number + 4}" in result.stderr and field in result.stderr, result.stderr
        assert conn.execute("SELECT count(*), max(as_of) FROM qualification").fetchone() == before
    figure("hub import refusals", json.dumps(reasons, ensure_ascii=False)[:1500])


def _publish_crafted(world, lines: list[bytes], header_changes: dict | None = None) -> None:  # noqa: F811
    """Sign and serve, as the next delta from the device's version, one holding `lines` (as a hub
    bug or a stolen targets key would): each call replaces the previous crafted one."""
    previous = store.get_sync_state(world.conn).data_version
    version = previous + 1
    key = bundle.load_facility_key(world.paths.facility_key(FACILITY))
    header = {"facility": FACILITY, "to": version, "digest": "0" * 64, "generated_at": store.utcnow().isoformat(),
              "key_id": bundle.key_id(key), "kind": "delta", "from": previous, **(header_changes or {})}
    name = delta_target(previous, version)
    path = world.tmp / name
    with open(path, "wb") as out:
        writer = bundle.BundleWriter(out, key)
        writer.write_line(bundle.canonical(("h", header)))
        for line in lines:
            writer.write_line(line)
        writer.close()
    target = hub._target(path, name, {**header, "rows": len(lines)})
    repo = hub.Repository(world.paths, FACILITY)
    os.replace(path, world.paths.targets(FACILITY) / repo._file_name(target))
    with hub.locked(world.paths, FACILITY):
        repo.publish_targets(store.utcnow(), {name: target})


def test_every_bad_row_of_a_signed_bundle_is_refused_and_the_old_data_kept(world):  # noqa: F811
    good = list(world.conn.execute(f"SELECT {', '.join(store.COLUMN_NAMES)} FROM qualification LIMIT 1").fetchone())
    state = store.get_sync_state(world.conn)
    digest = get_digest(world.conn)
    cases = {
        "record_id 2**70": ([bundle.canonical([2**70, *good[1:]])], None),
        "29 columns": ([bundle.canonical(good[:29])], None),
        "NaN copay": ([json.dumps([*good[:20], float("nan"), *good[21:]]).encode()], None),
        "date 2014/03/30": ([bundle.canonical([*good[:14], "2014/03/30", *good[15:]])], None),
        "generated_at garbage": ([bundle.canonical(good)], {"generated_at": "garbage"}),
        "generated_at 2099": ([bundle.canonical(good)], {"generated_at": "2099-01-01T00:00:00+00:00"}),
        "insurer row of 3": ([bundle.canonical(("i", "06130012", "x", "y"))], None),
        "a 300 kB line": ([b"[" + b"1," * 150_000 + b"1]"], None),
    }
    reasons = {}
    for name, (lines, header) in cases.items():
        _publish_crafted(world, lines, header)
        outcome = world.sync()
        reasons[name] = outcome.detail[:120]
        assert outcome.result == "rejected", (name, outcome)
        assert store.get_sync_state(world.conn).data_version == state.data_version
        assert store.get_sync_state(world.conn).attempt.result == "rejected"
        assert get_digest(world.conn) == digest
        assert world.desk_answers()
    figure("device refusals of signed bad bundles", json.dumps(reasons)[:2000])


@pytest.mark.parametrize(("column", "value"), [
    ("qualification_date", "2014/03/30"), ("details", "[1]"), ("details", '{"limit_valid_from": "x"}')])
def test_a_stored_row_that_cannot_be_read_gives_confirm_with_the_reason(world, column, value):  # noqa: F811
    s = world.sample
    with store.transaction(world.conn):
        world.conn.execute(f"UPDATE qualification SET {column} = ? WHERE number = ? "
                           "AND insurer_number = ?", (value, s["number"], s["insurer_number"]))
    request = CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE, insurer_number=s["insurer_number"],
                           symbol=s["symbol"], number=s["number"], branch=s["branch"],
                           birth_date=date.fromisoformat(s["birth_date"]))
    verdict = run_check(world.conn, request, Policy()).verdict
    figure("verdict on an unreadable stored row", f"{verdict.outcome.value} {verdict.reason}: {verdict.headline_en}")
    assert verdict.outcome == Outcome.CONFIRM and verdict.reason == "unreadable_record"
    assert column in verdict.headline_en


# ---- 3. publish: no crash point reuses a version ---------------------------------------------

def _visible(world) -> dict[int, str]:  # noqa: F811
    """data version → digest, as a device can see them now (through the signed timestamp)."""
    meta = world.paths.metadata(FACILITY)
    timestamp = json.loads((meta / "timestamp.json").read_text())["signed"]
    snapshot = json.loads((meta / f"{timestamp['meta']['snapshot.json']['version']}.snapshot.json").read_text())
    targets = json.loads((meta / f"{snapshot['signed']['meta']['targets.json']['version']}.targets.json")
                         .read_text())
    return {t["custom"]["to"]: t["custom"]["digest"] for t in targets["signed"]["targets"].values()}


class Crash(BaseException):
    pass


@pytest.mark.parametrize("full", [False, True])
def test_no_crash_point_of_publish_reuses_a_version(world, monkeypatch, full):  # noqa: F811
    """A crash after each file a publish writes (the version was reserved before the first);
    then a restart: no version a device may have seen is ever signed with other data."""
    real_replace = os.replace
    seen: dict[int, str] = dict(_visible(world))
    points = 0
    for crash_at in range(1, 40):
        world.change_records(3)
        calls = [0]

        def replace(src, dst, crash_at=crash_at, calls=calls):
            real_replace(src, dst)
            calls[0] += 1
            if calls[0] == crash_at:
                raise Crash(f"killed after write {crash_at}")

        monkeypatch.setattr(os, "replace", replace)
        try:
            world.publish(full=full)
            crashed = False
        except Crash:
            crashed = True
        finally:
            monkeypatch.setattr(os, "replace", real_replace)
        for version, digest in _visible(world).items():  # what a device may have taken
            assert seen.setdefault(version, digest) == digest, f"version {version} reissued (crash at {crash_at})"
        world.sync()
        published = world.publish()  # the restart
        for version, digest in _visible(world).items():
            assert seen.setdefault(version, digest) == digest, f"version {version} reissued (crash at {crash_at})"
        outcome = world.sync()
        assert outcome.ok and outcome.data_version == published.data_version, (crash_at, outcome)
        hub_conn = world.hub_conn()
        assert get_digest(world.conn) == get_digest(hub_conn), crash_at
        hub_conn.close()
        if not crashed:
            break
        points += 1
    figure(f"publish crash points ({'full' if full else 'delta'}: after each file written)",
           f"{points}, none reissued a version")
    assert points >= (7 if full else 6)


# ---- 4. hostile but signed data, slow servers ------------------------------------------------

def test_a_300mb_line_is_refused_quickly_in_little_memory(world):  # noqa: F811
    """The line streams through the compressor: neither the test nor the device holds it."""
    conn = world.hub_conn()
    previous = int(store.get_meta(conn, "published_version"))
    conn.close()
    key = bundle.load_facility_key(world.paths.facility_key(FACILITY))
    header = {"facility": FACILITY, "to": previous + 1, "digest": "0" * 64,
              "generated_at": store.utcnow().isoformat(), "key_id": bundle.key_id(key), "kind": "delta",
              "from": previous}
    name = delta_target(previous, previous + 1)
    path = world.tmp / name
    with open(path, "wb") as out:
        writer = bundle.BundleWriter(out, key)
        writer.write_line(bundle.canonical(("h", header)))
        compressor = writer._compressor  # the line streams through: never whole in memory
        piece = b"1," * (512 * 1024)
        writer._add(compressor.compress(b"["))
        for _ in range(300):
            writer._add(compressor.compress(piece))
        writer._add(compressor.compress(b"1]\n"))
        writer.close()
    target = hub._target(path, name, {**header, "rows": 1})
    repo = hub.Repository(world.paths, FACILITY)
    os.replace(path, world.paths.targets(FACILITY) / repo._file_name(target))
    with hub.locked(world.paths, FACILITY):
        repo.publish_targets(store.utcnow(), {name: target})
    world.conn.close()
    settings = world.device.sync_dir / "madoguchi.sync.json"
    kept = settings.read_text()
    settings.write_text(json.dumps({"url": "http://127.0.0.1:9/nothing"}))  # refused at once
    baseline = _sync_once_process(world.device.data_dir)[1]
    settings.write_text(kept)
    elapsed, peak, out = _sync_once_process(world.device.data_dir)
    world.conn = store.open_database(world.device.data_dir)
    figure("device on a signed bundle with a 300 MB line",
           f"refused in {elapsed:.1f} s, peak RSS {peak / 2**20:.0f} MiB (a run that downloads nothing: "
           f"{baseline / 2**20:.0f} MiB)")
    assert store.get_sync_state(world.conn).attempt.result == "rejected", out
    assert "longer than" in store.get_sync_state(world.conn).attempt.error
    assert peak - baseline < 32 * 2**20 and elapsed < 30


def _sync_once_process(data_dir: Path) -> tuple[float, int, str]:
    """`madoguchi sync once` as its own process: (seconds, peak RSS in bytes, output)."""
    started = time.monotonic()
    process = subprocess.Popen([*MADOGUCHI, "--data-dir", str(data_dir), "sync", "once", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "MADOGUCHI_CONFIG": os.devnull})
    _, _, usage = os.wait4(process.pid, 0)
    return time.monotonic() - started, usage.ru_maxrss * 1024, process.stdout.read()


class Drip(BaseHTTPRequestHandler):
    """Answers every request with a length of 1 MB, then one byte every 0.5 s."""

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        try:
            for _ in range(1 << 20):
                self.wfile.write(b"{")
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass

    def log_message(self, *args) -> None:
        pass


def test_a_drip_server_ends_a_sync_run_by_its_deadline(world):  # noqa: F811
    server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        deadline = 4.0
        config = DeviceConfig(world.device.data_dir, f"http://127.0.0.1:{server.server_address[1]}/{FACILITY}",
                              socket_timeout=2, deadline=deadline)
        started = time.monotonic()
        outcome = sync_once(config, world.conn)
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    figure("sync run against a drip server", f"ended after {elapsed:.1f} s (deadline {deadline} s): "
           f"{outcome.result} {outcome.detail[:80]}")
    assert outcome.result == "offline" and "deadline" in outcome.detail
    assert elapsed < deadline + 3
    assert world.desk_answers()


def test_the_deadline_leaves_a_normal_sync_alone(world):  # noqa: F811
    world.change_records(5)
    world.publish()
    config = DeviceConfig(world.device.data_dir, world.device.url, socket_timeout=2, deadline=30)
    assert sync_once(config, world.conn).result == "ok"



# ---- 6. terminal answers are not taken on trust ---------------------------------------------

@pytest.fixture
def terminal_desk(tmp_path, population_records):
    from madoguchi.sim.national import NationalSystem
    from madoguchi.sync.hub.upstream.terminal import FileTerminal

    from tests.conftest import NOW
    from tests.integration.fake_terminal import FakeTerminal

    national = NationalSystem(population_records, clock=lambda: NOW)
    share = tmp_path / "share"
    conn = store.open_database(tmp_path / "desk", create=True)
    with store.transaction(conn):
        store.replace_all_records(conn, (store.record_row(r) for r in population_records
                                         if r["registered_on"] <= TODAY.isoformat()))
    with FakeTerminal(share, national) as fake:
        adapter = FileTerminal(share, tmp_path / "quarantine", "1312345678", settle=0.1, clock=lambda: NOW)
        yield fake, adapter, conn, NOW
    conn.close()


def test_a_stale_or_foreign_terminal_answer_is_never_online(terminal_desk, population_samples):
    from madoguchi.edge.verdict import Source, decide
    from madoguchi.sync.hub.upstream.base import online_source

    fake, adapter, conn, now = terminal_desk
    sample = population_samples["valid"]
    request = CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE, sample["insurer_number"],
                           sample["symbol"], sample["number"], sample["branch"],
                           date.fromisoformat(sample["birth_date"]))
    policy = Policy(online_budget_seconds=1.0)
    fresh = decide(request, store.Lookup(conn), policy, now, online_source(adapter))
    assert (fresh.source, fresh.outcome) == (Source.ONLINE, Outcome.OK)  # the test can fail
    info = {"InsurerNumber": sample["insurer_number"], "InsuredCardSymbol": sample["symbol"],
            "InsuredIdentificationNumber": sample["number"], "InsuredBranchNumber": sample["branch"],
            "Birthdate": sample["birth_date"].replace("-", "")}
    fake._answering = "MDG20261112093000000000001abcd"  # another request's identifier
    foreign = fake.single_response(info)
    fake._answering = None
    eight_days = (now - timedelta(days=8)).astimezone(JST).strftime("%Y%m%d%H%M%S")
    stale = re.sub(rb"<ProcessExecutionTime>\d+</ProcessExecutionTime>",
                   b"<ProcessExecutionTime>" + eight_days.encode() + b"</ProcessExecutionTime>",
                   fake.single_response(info))
    outcomes = {}
    for name, raw in (("foreign", foreign), ("8 days old", stale)):
        fake.mode, fake.raw = "raw", raw
        verdict = decide(request, store.Lookup(conn), policy, now, online_source(adapter))
        outcomes[name] = f"{verdict.source.value}/{verdict.outcome.value} {[w.code for w in verdict.warnings]}"
        assert verdict.source != Source.ONLINE, name
    reasons = [json.loads(p.read_text())["reason"] for p in adapter.quarantine.glob("*.reason")]
    assert any("answers another request" in r for r in reasons)
    assert "online_answer_old" in outcomes["8 days old"]
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in adapter.quarantine.iterdir())
    assert adapter.quarantine.stat().st_mode & 0o077 == 0
    fake.mode = "error"
    verdict = decide(request, store.Lookup(conn), policy, now, online_source(adapter))
    outcomes["terminal error"] = f"{verdict.source.value}/{verdict.outcome.value} " \
                                 f"{[w.ja for w in verdict.warnings if w.code == 'terminal_error']}"
    assert any(w.code == "terminal_error" and "EOQS0001" in w.ja for w in verdict.warnings)
    figure("terminal answers (source/outcome, warnings)", json.dumps(outcomes, ensure_ascii=False))


def test_an_older_push_never_overwrites_a_newer_roster_record(tmp_path, population_records):
    from madoguchi.edge.model import QualificationRecord
    from madoguchi.edge.verdict import OnlineAnswer
    from madoguchi.sync.hub import roster

    paths = hub.HubPaths(tmp_path / "hub")
    hub.import_population(paths, FACILITY, [json.dumps(r, ensure_ascii=False) for r in population_records], TODAY)
    conn = hub.open_facility_store(paths, FACILITY)
    row = conn.execute(f"SELECT {', '.join(store.COLUMN_NAMES)} FROM qualification LIMIT 1").fetchone()
    conn.close()
    record = store.records._record(row)
    newer = QualificationRecord(**{**record.__dict__, "as_of": record.as_of + timedelta(hours=1), "name": "新"})
    older = QualificationRecord(**{**record.__dict__, "as_of": record.as_of - timedelta(days=8), "name": "旧"})
    assert roster.remember(paths, FACILITY, [OnlineAnswer(record.validity, (newer,), newer.as_of)]) == 1
    assert roster.remember(paths, FACILITY, [OnlineAnswer(record.validity, (older,), older.as_of)]) == 0
    conn = hub.open_facility_store(paths, FACILITY)
    assert conn.execute("SELECT name FROM qualification WHERE record_id = ?", (record.record_id,)).fetchone()[0] == "新"
    conn.close()


# ---- 7. files and secrets ---------------------------------------------------------------------

def _loose(root: Path) -> list[str]:
    return [f"{p.relative_to(root)} {oct(p.stat().st_mode & 0o777)}" for p in [root, *root.rglob("*")]
            if not p.is_symlink() and p.stat().st_mode & 0o077]


def test_the_hub_keeps_its_files_to_itself_whatever_the_umask(tmp_path):
    records = tmp_path / "records.jsonl"
    write_population(records, 30)
    data = tmp_path / "data"
    env = {**os.environ, "MADOGUCHI_CONFIG": os.devnull}
    subprocess.run([*MADOGUCHI, "--data-dir", str(data), "hub", "import", "--facility", FACILITY, "--today",
                    TODAY.isoformat(), str(records)], check=True, capture_output=True, env=env, timeout=120,
                   preexec_fn=lambda: os.umask(0o022))
    subprocess.run([*MADOGUCHI, "--data-dir", str(data), "hub", "enroll-token", "--facility", FACILITY], check=True,
                   capture_output=True, env=env, timeout=120, preexec_fn=lambda: os.umask(0o022))
    loose = _loose(data / "hub")
    figure("hub files readable by others after import + enroll-token under umask 022", loose or "none")
    assert loose == []


def test_a_database_key_others_can_read_is_refused_and_doctor_fails(tmp_path, monkeypatch):
    from madoguchi.edge.config import load_config

    from madoguchi.ops.doctor import Status, cache_checks

    store.open_database(tmp_path / "data", create=True).close()
    key = tmp_path / "db.key"
    key.write_text("ab" * 32)
    key.chmod(0o644)
    monkeypatch.setenv(store.DATABASE_KEY_FILE_ENV, str(key))
    with pytest.raises(store.StoreLocked, match="read by others"):
        store.open_database(tmp_path / "data", create=True)
    checks, _ = cache_checks(load_config(tmp_path / "data"), store.utcnow())
    assert checks[0].status == Status.FAIL and "read by others" in checks[0].detail


def test_leftovers_of_a_killed_publish_are_cleaned(world):  # noqa: F811
    leftovers = [world.paths.hub_dir / f"publish-tmp-{FACILITY}-x1", world.paths.metadata(FACILITY) / ".tmp-x2",
                 world.paths.keys(FACILITY) / "facility.key.tmp"]
    leftovers[0].mkdir()
    for path in leftovers[1:]:
        path.write_text("half")
    world.change_records(2)
    world.publish()
    assert not any(p.exists() for p in leftovers)


def test_the_enrollment_token_from_standard_input(hub_api, tmp_path):  # noqa: F811
    env = {**os.environ, "MADOGUCHI_CONFIG": os.devnull}
    result = subprocess.run([*MADOGUCHI, "--data-dir", str(tmp_path / "dev"), "sync", "enroll", "--hub-url",
                             hub_api.url, "--token-file", "-"], input=hub_api.token() + "\n", capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert HubClient.from_data_dir(tmp_path / "dev").get_json("/v1/device", 5)["facility"] == FACILITY


# ---- 5. the root key lives off the hub --------------------------------------------------------

def test_the_hub_runs_without_the_root_key_and_rotation_needs_its_medium(world, monkeypatch, root_medium):  # noqa: F811
    assert not list(world.paths.hub_dir.rglob("root.pem")), "a root key on the hub"
    assert (root_medium / FACILITY / "root.pem").exists()
    monkeypatch.delenv(hub.ROOT_KEYS_ENV)  # the medium is unplugged: the hub goes on
    world.change_records(4)
    assert world.publish().changed
    hub.refresh_timestamps(world.paths)
    assert world.sync().result == "ok"
    with pytest.raises(hub.HubError, match="root key"):
        hub.rotate_root(world.paths, FACILITY)
    data = world.paths.hub_dir.parent
    env = {k: v for k, v in os.environ.items() if k != hub.ROOT_KEYS_ENV} | {"MADOGUCHI_CONFIG": os.devnull}
    refused = subprocess.run([*MADOGUCHI, "--data-dir", str(data), "hub", "rotate-root", "--facility", FACILITY],
                             capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr and "root key" in refused.stderr
    rotated = subprocess.run([*MADOGUCHI, "--data-dir", str(data), "hub", "rotate-root", "--facility", FACILITY,
                              "--root-keys", str(root_medium)], capture_output=True, text=True, env=env, timeout=120)
    assert rotated.returncode == 0, rotated.stderr
    assert not list(world.paths.hub_dir.rglob("root.pem"))
    world.change_records(2)
    world.publish()
    outcome = world.sync()
    assert outcome.result == "ok", outcome
    root = json.loads((world.device.metadata_dir / "root.json").read_text())
    assert root["signed"]["version"] == 2
    figure("root key", "absent from the hub: publish, timestamps and sync work; rotation refused without "
           "its medium, done with it, and the device walked to root v2")


def test_a_bundle_with_more_lines_than_the_limit_is_refused(world, monkeypatch):  # noqa: F811
    monkeypatch.setattr(bundle, "MAX_LINES", 100)  # the real limit is 10 million: the same code path
    good = list(world.conn.execute(f"SELECT {', '.join(store.COLUMN_NAMES)} FROM qualification LIMIT 1").fetchone())
    _publish_crafted(world, [bundle.canonical(good)] * 150)
    outcome = world.sync()
    assert outcome.result == "rejected" and "more than 100 lines" in outcome.detail, outcome
    assert world.desk_answers()
