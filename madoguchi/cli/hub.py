"""`madoguchi hub ...`: the hub publishes each facility's data as signed, encrypted bundles,
serves them and its API, keeps the rosters current and enrolls devices.

HubError is mapped by cause: a malformed facility name, an unreadable population file or a
facility or device this hub does not have (while it has others) is bad input (2); a hub with no
facility yet (nothing imported, no hub directory) or a facility never published lacks something
in the environment (3).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import cast

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from madoguchi.cli.base import (
    EXIT_BAD_INPUT,
    EXIT_ENVIRONMENT,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    Subcommands,
    command,
    data_config,
    emit,
    group,
)
from madoguchi.edge.config import JST
from madoguchi.edge.numbers import InputError, parse_birth_date
from madoguchi.sync.hub import ingest, pki, roster
from madoguchi.sync.hub import repository as hub
from madoguchi.sync.hub.upstream.base import Upstream
from madoguchi.sync.hub.upstream.terminal import FileTerminal


def register(sub: Subcommands) -> None:
    h = group(sub, "hub", "publish facilities' data as signed, encrypted bundles")
    p = command(h, "import", cmd_hub_import, "import the facility's roster (a レセコン's CSV) or a records file",
                description="FILE.csv: the roster as a レセコン exports it (診察券番号, 保険者番号, 記号, 番号, "
                "枝番, 生年月日, 氏名カナ; docs/hub-files.md); its patients are pre-checked by `hub precheck` "
                "or the nightly run. Else JSON lines of records (`madoguchi population --out`): the facility's "
                "records become those known on --today, then a new data version is published.")
    p.add_argument("file", type=Path)
    p.add_argument("--facility", required=True, help="facility name (ASCII letters, digits, - and _)")
    p.add_argument("--today", help="the day (default: today, JST)")
    p.add_argument("--no-publish", action="store_true", help="import only; publish later")
    p = command(h, "insurers", cmd_hub_insurers, "name insurers from the facility's insurer-master CSV",
                description="CSV with 保険者番号 and 保険者名 (docs/hub-files.md): insurers are added or renamed "
                "and published with the next delta. Names also come from the national system's answers.")
    p.add_argument("file", type=Path)
    p.add_argument("--facility", required=True)
    p.add_argument("--no-publish", action="store_true", help="import only; publish later")
    p = command(h, "publish", cmd_hub_publish, "publish the facility's pending changes")
    p.add_argument("--facility", required=True)
    p = command(h, "revoke", cmd_hub_revoke, "add a certificate (card link) to the facility's revocation list")
    p.add_argument("--facility", required=True)
    p.add_argument("--card-link", required=True)
    p.add_argument("--reason", required=True)
    command(h, "timestamp", cmd_hub_timestamp, "re-sign every facility's timestamp now (hub serve does it hourly)")
    p = command(h, "rotate-root", cmd_hub_rotate_root, "rotate the facility's root and timestamp keys")
    p.add_argument("--facility", required=True)
    p = command(h, "serve", cmd_hub_serve,
                "serve the repositories as static files and the API over mTLS; re-sign timestamps",
                description="The static TUF repositories (plain HTTP, --port) and the hub API (HTTPS with "
                "client certificates, --api-port: enrollment, facility keys, live queries) in one process. "
                "With --json, each address is announced as one JSON line.")
    p.add_argument("--host", default=hub.DEFAULT_HOST)
    p.add_argument("--port", type=int, default=hub.DEFAULT_PORT)
    p.add_argument("--api-port", type=int, default=8443, help="the API's port (default 8443); 0 picks a free one")
    p.add_argument("--no-api", action="store_true", help="serve the repositories only")
    p.add_argument("--api-workers", type=int, default=os.cpu_count() or 1,
                   help="processes serving the API (default: one per core, here %(default)s)")
    p.add_argument("--tls-name", action="append", default=[],
                   help="a host name or address devices use to reach the hub, added to the server certificate "
                   "(also [hub] tls_names in the configuration; the host name and main address are always in)")
    _upstream_arguments(p)
    p = command(h, "precheck", cmd_hub_precheck,
                "pre-check (一括照会) the facilities' rosters and scheduled.csv now, and publish",
                description="What `hub serve` does every night at 02:00 (JST): every patient of the roster "
                "by their latest numbers, plus the scheduled patients in <facility store>/scheduled.csv "
                "(insurer_number,symbol,number,branch,birth_date), asked in batches; changes are published. "
                "Exit 1 if any batch failed.")
    p.add_argument("--facility", help="one facility (default: all)")
    _upstream_arguments(p)
    p = command(h, "enroll-token", cmd_hub_enroll_token, "print a one-time token that enrolls one device of the facility")
    p.add_argument("--facility", required=True)
    p.add_argument("--ttl", default="24h", help="how long the token stays usable: 30m, 24h, 7d (default 24h)")
    p = command(h, "devices", cmd_hub_devices, "the facility's enrolled devices")
    p.add_argument("--facility", required=True)
    p = command(h, "revoke-device", cmd_hub_revoke_device, "refuse a device from now on and rotate the facility key")
    p.add_argument("device_id")
    command(h, "status", cmd_hub_status, "where the served directory and the hub's databases are")


def _hub_paths(args: argparse.Namespace) -> hub.HubPaths:
    return hub.HubPaths(data_config(args).data_dir / "hub")


def _require_hub(paths: hub.HubPaths) -> list[str]:
    """The hub's facilities; none means nothing was imported here yet."""
    facilities = paths.facilities()
    if not facilities:
        raise CommandError(EXIT_ENVIRONMENT, f"no facility on this hub ({paths.hub_dir}): "
                           "run `madoguchi hub import FILE --facility NAME` first")
    return facilities


def _facility(paths: hub.HubPaths, name: str) -> str:
    """A facility this hub has: a malformed or unknown name is bad input, an empty hub is not."""
    try:
        hub.check_facility_name(name)
    except hub.HubError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    facilities = _require_hub(paths)
    if name not in facilities:
        raise CommandError(EXIT_BAD_INPUT, f"no facility {name!r} on this hub (it has: {', '.join(facilities)})")
    return name


# ---- data ------------------------------------------------------------------------------------

def cmd_hub_import(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    try:
        facility = hub.check_facility_name(args.facility)
        today = parse_birth_date(args.today, today=date.max) if args.today else datetime.now(JST).date()
        summary = ingest.import_file(paths, facility, args.file, today)
    except InputError as exc:
        raise CommandError(EXIT_BAD_INPUT, f"--today: {exc}") from None
    except hub.HubError as exc:  # a malformed name, an unreadable file or a bad line
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    _publish_unless(args, paths, facility, summary)
    return EXIT_OK


def cmd_hub_insurers(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    try:
        facility = hub.check_facility_name(args.facility)
        summary = ingest.import_insurers(paths, facility, args.file)
    except hub.HubError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    _publish_unless(args, paths, facility, summary)
    return EXIT_OK


def _publish_unless(args: argparse.Namespace, paths: hub.HubPaths, facility: str, summary: dict) -> None:
    if not args.no_publish:
        published = hub.publish(paths, facility)
        summary |= {"data_version": published.data_version, "digest": published.digest}
    emit(args, summary)


def cmd_hub_publish(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    published = hub.publish(paths, _facility(paths, args.facility))
    emit(args, {"facility": published.facility, "data_version": published.data_version, "changed": published.changed,
                "records": published.records, "delta_rows": published.delta_rows, "digest": published.digest})
    return EXIT_OK


def cmd_hub_revoke(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    facility = _facility(paths, args.facility)
    card_link = args.card_link.strip().lower()
    hub.revoke(paths, facility, card_link, args.reason)
    emit(args, {"facility": facility, "card_link": card_link, "revoked": True, "published": False},
         "revoked; run `madoguchi hub publish` to publish it")
    return EXIT_OK


def cmd_hub_timestamp(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    _require_hub(paths)
    done = hub.refresh_timestamps(paths)
    emit(args, {"re_signed": done}, "re-signed: " + (", ".join(done) or "(no published facility)"))
    return EXIT_OK


def cmd_hub_rotate_root(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    facility = _facility(paths, args.facility)
    try:
        version = hub.rotate_root(paths, facility)
    except hub.HubError as exc:  # never published: no repository yet
        raise CommandError(EXIT_ENVIRONMENT, f"{exc}: run `madoguchi hub publish --facility {facility}` first") from None
    emit(args, {"facility": facility, "root_version": version}, f"root version {version}")
    return EXIT_OK


def cmd_hub_status(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    statuses = [hub.facility_status(paths, f) for f in _require_hub(paths)]
    api = api_status(paths)
    data = {"hub_dir": str(paths.hub_dir), "served_dir": str(paths.served), "keys_dir": str(paths.hub_dir / "keys"),
            "facilities": statuses, "api": api}
    lines = [f"served directory: {data['served_dir']}", f"keys (not served): {data['keys_dir']}"]
    lines += [f"{f['facility']}: data version {f['data_version']}, {f['records']} records, db {f['database']}"
              for f in statuses]
    lines.append(f"API: {api['url'] if api['running'] else 'not running'}; CA sha256 {api['ca_sha256'] or '(none yet)'}")
    emit(args, data, "\n".join(lines))
    return EXIT_OK


# ---- serving ---------------------------------------------------------------------------------

def _announce(args: argparse.Namespace, data: dict, text: str) -> None:
    """A serving command's address, as soon as it listens (tests and scripts read it)."""
    print(json.dumps(data, ensure_ascii=False) if args.json else text, flush=True)


def cmd_hub_serve(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    try:
        server = hub.make_server(paths, args.host, args.port)
    except OSError as exc:
        raise CommandError(EXIT_ENVIRONMENT, f"cannot listen on {args.host}:{args.port}: {exc}") from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    host, port = cast(tuple[str, int], server.server_address[:2])
    _announce(args, {"serving": f"http://{host}:{port}/", "served_dir": str(paths.served)},
              f"serving {paths.served} on http://{host}:{port}/")
    api = None if args.no_api else _start_api(args, paths, port)  # before any thread: it forks its workers
    scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
    scheduler.add_job(hub.refresh_timestamps, "interval", args=[paths],
                      seconds=hub.TIMESTAMP_INTERVAL.total_seconds(), next_run_time=datetime.now().astimezone())
    scheduler.start()
    thread = threading.Thread(target=server.serve_forever, name="hub-http", daemon=True)
    thread.start()
    if api is not None:  # the roster is kept current through the API's upstream
        upstream = api.server.config.app.state.upstream
        scheduler.add_job(roster.precheck_all, CronTrigger(hour=2, timezone=JST), args=[paths, upstream],
                          id="precheck")
        threading.Thread(target=roster.receive_pushes, args=(paths, upstream, stop), name="hub-pushes",
                         daemon=True).start()
    stop.wait()
    if api is not None:
        api.stop()
        api_state_path(paths).unlink(missing_ok=True)
    server.shutdown()
    scheduler.shutdown(wait=True)
    return EXIT_OK


def api_state_path(paths: hub.HubPaths) -> Path:
    return paths.hub_dir / "api.json"


def _start_api(args: argparse.Namespace, paths: hub.HubPaths, repository_port: int):
    try:  # start-up cost, and the `hub` extra may be missing
        from madoguchi.sync.hub import api
    except ImportError as exc:
        raise CommandError(EXIT_ENVIRONMENT, f"the hub API needs the `hub` extra (fastapi, uvicorn): {exc}") from None
    if args.api_workers < 1:
        raise CommandError(EXIT_BAD_INPUT, f"--api-workers {args.api_workers}: at least 1")
    factory = _upstream_factory(args, paths)
    configured = data_config(args).raw.get("hub", {}).get("tls_names", [])
    names = [*args.tls_name, *map(str, configured), *pki.default_server_names(args.host)]
    try:
        server = api.ApiServer(api.create_app(paths, factory, repository_port=repository_port), paths,
                               args.host, args.api_port, names, workers=args.api_workers).start()
    except OSError as exc:
        raise CommandError(EXIT_ENVIRONMENT, f"cannot listen on {args.host}:{args.api_port}: {exc}") from None
    api_state_path(paths).write_text(json.dumps({"url": server.url, "pid": os.getpid(), "upstream": args.upstream,
                                                 "started_at": datetime.now(timezone.utc).isoformat()}))
    simulated = " — a SIMULATOR with synthetic people, never for real patients" if args.upstream == "simulator" else ""
    _announce(args, {"api": f"{server.url}/", "upstream": args.upstream, "simulator": args.upstream == "simulator"},
              f"hub API on {server.url}/ (mTLS; upstream: {args.upstream}{simulated})")
    return server


def api_status(paths: hub.HubPaths) -> dict:
    """The API as `hub serve` left it: its URL while the serving process lives, the CA's hash."""
    state: dict = {}
    try:
        state = json.loads(api_state_path(paths).read_text())
        os.kill(int(state["pid"]), 0)
        running = True
    except (OSError, ValueError, KeyError, TypeError):
        running = False
    ca = pki.ca_cert_path(paths)
    return {"running": running, "url": state.get("url") if running else None,
            "upstream": state.get("upstream") if running else None, "ca": str(ca) if ca.exists() else None,
            "ca_sha256": pki.ca_hash(ca.read_bytes()) if ca.exists() else None}


# ---- upstream: where the hub asks about patients ----------------------------------------------

def _upstream_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--upstream",
                   help="where the hub asks about patients: 'simulator' (the in-process national-system SIMULATOR), "
                   "the URL of `madoguchi upstream simulate`, or 'terminal' (a 資格確認端末's folders); default: "
                   "[hub] upstream in the configuration, else simulator")
    p.add_argument("--population", type=Path,
                   help="the simulator's population file (default: 1000 synthetic people, seed 1)")
    p.add_argument("--terminal-share", type=Path,
                   help="the terminal's shared folder (req/res/face), for --upstream terminal ([hub] terminal_share)")
    p.add_argument("--institution", help="医療機関コード for the terminal (10 digits; [hub] institution)")


def _upstream_factory(args: argparse.Namespace, paths: hub.HubPaths) -> Callable[[], Upstream]:
    """The hub's upstream: the SIMULATOR by default, the simulator's HTTP face, or a terminal;
    flags first, then the configuration's [hub] section (install.sh --hub writes it). The
    simulated world is imported only when chosen (start-up cost)."""
    configured = data_config(args).raw.get("hub", {})
    args.upstream = args.upstream or str(configured.get("upstream") or "simulator")
    args.terminal_share = args.terminal_share or (Path(configured["terminal_share"])
                                                  if configured.get("terminal_share") else None)
    args.institution = args.institution or str(configured.get("institution") or "0000000000")
    if args.upstream == "simulator":
        from madoguchi.sim import population
        from madoguchi.sim.national import NationalSystem
        from madoguchi.sim.simulator import SimulatedUpstream

        try:
            if args.population:
                with open(args.population, encoding="utf-8") as lines:
                    records = [json.loads(line) for line in lines if line.strip()]
            else:
                now = datetime.now(JST)
                records = list(population.generate(1000, 1, now.date(), now))
            national = NationalSystem(records, clock=lambda: datetime.now(timezone.utc))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CommandError(EXIT_BAD_INPUT, f"--population: not a population file: {exc!r}") from None
        return lambda: SimulatedUpstream(national)
    if args.upstream.startswith(("http://", "https://")):
        from madoguchi.sim.simserver import HttpUpstream

        url = args.upstream
        return lambda: HttpUpstream(url)
    if args.upstream == "terminal":
        share = args.terminal_share
        if not share:
            raise CommandError(EXIT_BAD_INPUT, "--upstream terminal needs --terminal-share")
        return lambda: FileTerminal(share, paths.hub_dir / "quarantine", args.institution)
    raise CommandError(EXIT_BAD_INPUT, f"--upstream {args.upstream!r}: use simulator, a URL or terminal")


def cmd_hub_precheck(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    facilities = [_facility(paths, args.facility)] if args.facility else _require_hub(paths)
    upstream = _upstream_factory(args, paths)()
    outcomes = [dataclasses.asdict(roster.precheck(paths, facility, upstream)) for facility in facilities]
    emit(args, outcomes, "\n".join(", ".join(f"{k}: {v}" for k, v in o.items()) for o in outcomes))
    return EXIT_FAILED if any(o["errors"] for o in outcomes) else EXIT_OK


# ---- devices ---------------------------------------------------------------------------------

def parse_ttl(text: str) -> timedelta:
    units = {"m": "minutes", "h": "hours", "d": "days"}
    try:
        value = float(text[:-1])
        if text[-1:] not in units or value <= 0:
            raise ValueError
    except ValueError:
        raise CommandError(EXIT_BAD_INPUT, f"--ttl {text!r}: use a positive number with m, h or d (e.g. 24h)") from None
    return timedelta(**{units[text[-1]]: value})


def cmd_hub_enroll_token(args: argparse.Namespace) -> int:
    ttl = parse_ttl(args.ttl)
    paths = _hub_paths(args)
    facility = _facility(paths, args.facility)
    token = pki.make_token(paths, facility, ttl)
    emit(args, {"facility": facility, "token": token, "ttl_seconds": int(ttl.total_seconds())}, token)
    return EXIT_OK


def cmd_hub_devices(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    devices = [d.to_json() for d in pki.list_devices(paths, _facility(paths, args.facility))]
    lines = []
    for d in devices:
        state = f"revoked {d['revoked_at'][:16]}" if d["revoked_at"] else "active"
        lines.append(f"{d['id']}  {state:24} enrolled {d['enrolled_at'][:16]}  {d['name']}")
    emit(args, devices, "\n".join(lines) if lines else "no device enrolled")
    return EXIT_OK


def cmd_hub_revoke_device(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    _require_hub(paths)
    try:
        device, key_id = pki.revoke_device(paths, args.device_id)
    except hub.HubError as exc:  # the hub has facilities, and none holds this device
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    emit(args, {"device": device.to_json(), "facility_key_id": key_id},
         f"device {device.id} ({device.facility}) revoked; facility key rotated to {key_id} for future bundles")
    return EXIT_OK
