"""Commands `hub ...` (publishing) and `sync ...` (the device side).

Exit codes as in edge/cli.py: 0 done (`sync once`: ok or unchanged), 1 an update was rejected
(verification failed), 2 bad input, 3 the environment lacks something (not set up, hub
unreachable).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from madoguchi.cli import upstream as upstream_cli
from madoguchi.cli.check import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_OK, CommandError, data_config
from madoguchi.edge import store
from madoguchi.edge.config import JST
from madoguchi.edge.numbers import InputError, parse_birth_date
from madoguchi.edge.verdict import OnlineUnavailable
from madoguchi.sync.bundle import BundleError
from madoguchi.sync.device.client import NotInitialized, init_device, load_device_config, sync_once
from madoguchi.sync.device.daemon import Daemon, Schedule
from madoguchi.sync.device.hubclient import HubClient
from madoguchi.sync.device.upload import upload_outbox
from madoguchi.sync.hub import repository as hub
from madoguchi.sync.hub import roster

ROOT_KEYS_HELP = ("the root medium's directory (<facility>/root.pem), needed for a new facility's first root "
                  "and for rotate-root only; default $MADOGUCHI_ROOT_KEYS")


def register(sub: argparse._SubParsersAction) -> None:
    h = sub.add_parser("hub", help="publish facilities' data as signed, encrypted bundles").add_subparsers(
        dest="hub_command", required=True)
    p = h.add_parser("import", help="import a population file (madoguchi population --out) and publish",
                     description="Make the facility's roster what the national system knows on --today "
                     "(records registered by then), then publish a new data version.")
    p.add_argument("file", type=Path)
    p.add_argument("--facility", required=True, help="facility name (ASCII letters, digits, - and _)")
    p.add_argument("--today", help="the day (default: today, JST)")
    p.add_argument("--no-publish", action="store_true", help="import only; publish later")
    p.add_argument("--root-keys", type=Path, help=ROOT_KEYS_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hub_import)
    p = h.add_parser("publish", help="publish the facility's pending changes")
    p.add_argument("--facility", required=True)
    p.add_argument("--root-keys", type=Path, help=ROOT_KEYS_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hub_publish)
    p = h.add_parser("revoke", help="add a certificate (card link) to the facility's revocation list")
    p.add_argument("--facility", required=True)
    p.add_argument("--card-link", required=True)
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_hub_revoke)
    p = h.add_parser("timestamp", help="re-sign every facility's timestamp now (hub serve does it hourly)")
    p.set_defaults(func=cmd_hub_timestamp)
    p = h.add_parser("rotate-root", help="rotate the facility's root and timestamp keys")
    p.add_argument("--facility", required=True)
    p.add_argument("--root-keys", type=Path, help=ROOT_KEYS_HELP)
    p.set_defaults(func=cmd_hub_rotate_root)
    p = h.add_parser("serve", help="serve the repositories as static files and the API over mTLS; re-sign timestamps",
                     description="The static TUF repositories (plain HTTP, --port) and the hub API (HTTPS with "
                     "client certificates, --api-port: enrollment, facility keys, live queries) in one process.")
    p.add_argument("--host", default=hub.DEFAULT_HOST)
    p.add_argument("--port", type=int, default=hub.DEFAULT_PORT)
    p.add_argument("--api-port", type=int, default=8443, help="the API's port (default 8443); 0 picks a free one")
    p.add_argument("--no-api", action="store_true", help="serve the repositories only")
    p.add_argument("--tls-name", action="append", default=[],
                   help="a host name or address devices use to reach the hub, added to the server certificate "
                   "(also [hub] tls_names in the configuration; the host name and main address are always in)")
    _upstream_arguments(p)
    p.set_defaults(func=cmd_hub_serve)
    p = h.add_parser("precheck", help="pre-check (一括照会) the facilities' rosters and scheduled.csv now, and publish",
                     description="What `hub serve` does every night at 02:00 (JST): every patient of the roster "
                     "by their latest numbers, plus the scheduled patients in <facility store>/scheduled.csv "
                     "(insurer_number,symbol,number,branch,birth_date), asked in batches; changes are published.")
    p.add_argument("--facility", help="one facility (default: all)")
    _upstream_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hub_precheck)
    p = h.add_parser("enroll-token", help="print a one-time token that enrolls one device of the facility")
    p.add_argument("--facility", required=True)
    p.add_argument("--ttl", default="24h", help="how long the token stays usable: 30m, 24h, 7d (default 24h)")
    p.set_defaults(func=cmd_hub_enroll_token)
    p = h.add_parser("devices", help="the facility's enrolled devices")
    p.add_argument("--facility", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hub_devices)
    p = h.add_parser("revoke-device", help="refuse a device from now on and rotate the facility key")
    p.add_argument("device_id")
    p.set_defaults(func=cmd_hub_revoke_device)
    p = h.add_parser("status", help="where the served directory and the hub's databases are")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hub_status)

    s = sub.add_parser("sync", help="keep this device's cache current from the hub").add_subparsers(
        dest="sync_command", required=True)
    p = s.add_parser("init", help="set up sync: trusted root, facility key, repository URL")
    p.add_argument("--root", type=Path, required=True, help="the facility's root metadata (root.json)")
    p.add_argument("--facility-key", type=Path, required=True, help="the facility key file (64 hex digits)")
    p.add_argument("--url", required=True, help="the facility's repository, e.g. http://hub:8470/clinic-a")
    p.set_defaults(func=cmd_sync_init)
    p = s.add_parser("enroll", help="enroll this device with the hub by a one-time token (replaces sync init)")
    p.add_argument("--hub-url", required=True, help="the hub API, e.g. https://hub:8443")
    token = p.add_mutually_exclusive_group(required=True)
    token.add_argument("--token", help="from `madoguchi hub enroll-token` on the hub (visible in the process list: "
                                       "prefer --token-file)")
    token.add_argument("--token-file", help="a file holding the token, or - to read it from standard input")
    p.set_defaults(func=cmd_sync_enroll)
    p = s.add_parser("once", help="sync now, once")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sync_once)
    p = s.add_parser("upload", help="send the outbox to the hub now for reconciliation (the daemon does it each run)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sync_upload)
    p = s.add_parser("daemon", help="sync on a schedule (systemd Type=notify)")
    p.add_argument("--interval", type=float, default=Schedule.interval, help="seconds between syncs")
    p.add_argument("--jitter", type=float, default=Schedule.jitter, help="random extra seconds per run")
    p.add_argument("--backoff-base", type=float, default=Schedule.backoff_base,
                   help="first retry delay when the hub is unreachable (doubles up to the interval)")
    p.add_argument("--socket-timeout", type=float, help="seconds without a byte before a download gives up")
    p.set_defaults(func=cmd_sync_daemon)
    p = s.add_parser("status", help="data version, age, last result, last rejection")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sync_status)
    upstream_cli.register(sub)


def _hub_paths(args: argparse.Namespace) -> hub.HubPaths:
    return hub.HubPaths(data_config(args).data_dir / "hub", getattr(args, "root_keys", None))


def _print(data: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for key, value in data.items():
            print(f"{key:22} {value}")


# ---- hub ------------------------------------------------------------------------------------

def cmd_hub_import(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    try:
        today = parse_birth_date(args.today, today=date.max) if args.today else datetime.now(JST).date()
        with open(args.file, encoding="utf-8") as lines:
            summary = hub.import_population(paths, args.facility, lines, today)
    except InputError as exc:
        raise CommandError(EXIT_BAD_INPUT, f"--today: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(EXIT_BAD_INPUT, f"cannot read {args.file}: {exc}") from None
    except hub.HubError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    if not args.no_publish:
        try:
            published = hub.publish(paths, args.facility)
        except hub.HubError as exc:
            raise CommandError(EXIT_ENVIRONMENT, f"imported, not published: {exc}") from None
        summary |= {"data_version": published.data_version, "digest": published.digest}
    _print(summary, args.json)
    return EXIT_OK


def cmd_hub_publish(args: argparse.Namespace) -> int:
    try:
        published = hub.publish(_hub_paths(args), hub.check_facility_name(args.facility))
    except hub.HubError as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None
    _print({"facility": published.facility, "data_version": published.data_version, "changed": published.changed,
            "records": published.records, "delta_rows": published.delta_rows, "digest": published.digest}, args.json)
    return EXIT_OK


def cmd_hub_revoke(args: argparse.Namespace) -> int:
    try:
        hub.revoke(_hub_paths(args), hub.check_facility_name(args.facility), args.card_link.strip().lower(),
                   args.reason)
    except hub.HubError as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None
    print("revoked; run `madoguchi hub publish` to publish it")
    return EXIT_OK


def cmd_hub_timestamp(args: argparse.Namespace) -> int:
    print("re-signed:", ", ".join(hub.refresh_timestamps(_hub_paths(args))) or "(no facility)")
    return EXIT_OK


def cmd_hub_rotate_root(args: argparse.Namespace) -> int:
    try:
        version = hub.rotate_root(_hub_paths(args), hub.check_facility_name(args.facility))
    except hub.HubError as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None
    print(f"root version {version}")
    return EXIT_OK


def cmd_hub_serve(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    try:
        server = hub.make_server(paths, args.host, args.port)
    except OSError as exc:
        raise CommandError(EXIT_ENVIRONMENT, f"cannot listen on {args.host}:{args.port}: {exc}") from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
    scheduler.add_job(hub.refresh_timestamps, "interval", args=[paths],
                      seconds=hub.TIMESTAMP_INTERVAL.total_seconds(), next_run_time=datetime.now().astimezone())
    scheduler.start()
    thread = threading.Thread(target=server.serve_forever, name="hub-http", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    print(f"serving {paths.served} on http://{host}:{port}/", flush=True)
    api = None if args.no_api else _start_api(args, paths, port)
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


def cmd_hub_precheck(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    facilities = [hub.check_facility_name(args.facility)] if args.facility else paths.facilities()
    missing = [f for f in facilities if f not in paths.facilities()]
    if missing or not facilities:
        raise CommandError(EXIT_ENVIRONMENT, f"no facility {missing[0] if missing else ''!r} on this hub: "
                           "run `madoguchi hub import` first")
    upstream = _upstream_factory(args, paths)()
    outcomes = [roster.precheck(paths, facility, upstream) for facility in facilities]
    for outcome in outcomes:
        _print(dataclasses.asdict(outcome), args.json)
    return EXIT_FAILED if any(o.errors for o in outcomes) else EXIT_OK


def api_state_path(paths: hub.HubPaths) -> Path:
    return paths.hub_dir / "api.json"


def _start_api(args: argparse.Namespace, paths: hub.HubPaths, repository_port: int):
    try:
        from madoguchi.sync.hub import api, pki
    except ImportError as exc:
        raise CommandError(EXIT_ENVIRONMENT, f"the hub API needs the `hub` extra (fastapi, uvicorn): {exc}") from None
    factory = _upstream_factory(args, paths)
    configured = data_config(args).raw.get("hub", {}).get("tls_names", [])
    names = [*args.tls_name, *map(str, configured), *pki.default_server_names(args.host)]
    try:
        server = api.ApiServer(api.create_app(paths, factory, repository_port=repository_port), paths,
                               args.host, args.api_port, names).start()
    except OSError as exc:
        raise CommandError(EXIT_ENVIRONMENT, f"cannot listen on {args.host}:{args.api_port}: {exc}") from None
    api_state_path(paths).write_text(json.dumps({"url": server.url, "pid": os.getpid(), "upstream": args.upstream,
                                                 "started_at": datetime.now(timezone.utc).isoformat()}))
    simulated = " — a SIMULATOR with synthetic people, never for real patients" if args.upstream == "simulator" else ""
    print(f"hub API on {server.url}/ (mTLS; upstream: {args.upstream}{simulated})", flush=True)
    return server


def _upstream_factory(args: argparse.Namespace, paths: hub.HubPaths):
    """The hub's upstream: the SIMULATOR by default, the simulator's HTTP face, or a terminal;
    flags first, then the configuration's [hub] section (install.sh --hub writes it)."""
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

        return lambda: HttpUpstream(args.upstream)
    if args.upstream == "terminal":
        from madoguchi.sync.hub.upstream.terminal import FileTerminal

        if not args.terminal_share:
            raise CommandError(EXIT_BAD_INPUT, "--upstream terminal needs --terminal-share")
        return lambda: FileTerminal(args.terminal_share, paths.hub_dir / "quarantine", args.institution)
    raise CommandError(EXIT_BAD_INPUT, f"--upstream {args.upstream!r}: use simulator, a URL or terminal")


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
    from madoguchi.sync.hub import pki

    try:
        print(pki.make_token(_hub_paths(args), args.facility, parse_ttl(args.ttl)))
    except hub.HubError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    return EXIT_OK


def cmd_hub_devices(args: argparse.Namespace) -> int:
    from madoguchi.sync.hub import pki

    paths = _hub_paths(args)
    try:
        facility = hub.check_facility_name(args.facility)
        if facility not in paths.facilities():
            raise hub.HubError(f"no facility {facility!r} on this hub")
        devices = [d.to_json() for d in pki.list_devices(paths, facility)]
    except hub.HubError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    if args.json:
        print(json.dumps(devices, ensure_ascii=False, indent=2))
    for d in [] if args.json else devices:
        state = f"revoked {d['revoked_at'][:16]}" if d["revoked_at"] else "active"
        print(f"{d['id']}  {state:24} enrolled {d['enrolled_at'][:16]}  {d['name']}")
    return EXIT_OK


def cmd_hub_revoke_device(args: argparse.Namespace) -> int:
    from madoguchi.sync.hub import pki

    try:
        device, key_id = pki.revoke_device(_hub_paths(args), args.device_id)
    except hub.HubError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    print(f"device {device.id} ({device.facility}) revoked; facility key rotated to {key_id} for future bundles")
    return EXIT_OK


def cmd_hub_status(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    data = {"hub_dir": str(paths.hub_dir), "served_dir": str(paths.served),
            "keys_dir": str(paths.hub_dir / "keys"),
            "facilities": [hub.facility_status(paths, f) for f in paths.facilities()],
            "api": api_status(paths)}
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(f"served directory: {data['served_dir']}\nkeys (not served): {data['keys_dir']}")
        for f in data["facilities"]:
            print(f"{f['facility']}: data version {f['data_version']}, {f['records']} records, db {f['database']}")
        api = data["api"]
        print(f"API: {api['url'] if api['running'] else 'not running'}; CA sha256 {api['ca_sha256'] or '(none yet)'}")
    return EXIT_OK


def api_status(paths: hub.HubPaths) -> dict:
    """The API as `hub serve` left it: its URL while the serving process lives, the CA's hash."""
    from madoguchi.sync.hub import pki

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


# ---- device -----------------------------------------------------------------------------------

def cmd_sync_init(args: argparse.Namespace) -> int:
    config = data_config(args)
    try:
        device = init_device(config.data_dir, args.root, args.facility_key, args.url)
    except BundleError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    print(f"sync set up in {device.sync_dir}: run `madoguchi sync once` or `madoguchi sync daemon`")
    return EXIT_OK


def cmd_sync_enroll(args: argparse.Namespace) -> int:
    from madoguchi.sync.device.enroll import EnrollmentError, enroll_device

    config = data_config(args)
    try:
        token = args.token or (sys.stdin.readline() if args.token_file == "-" else Path(args.token_file).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(EXIT_BAD_INPUT, f"cannot read the token: {exc}") from None
    try:
        device = enroll_device(config.data_dir, args.hub_url, token.strip())
    except EnrollmentError as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None
    print(f"enrolled; sync set up in {device.sync_dir} (repository {device.url}): "
          "run `madoguchi sync once` or `madoguchi sync daemon`")
    return EXIT_OK


def _device(args: argparse.Namespace):
    try:
        return load_device_config(data_config(args).data_dir)
    except NotInitialized as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None


def cmd_sync_once(args: argparse.Namespace) -> int:
    device = _device(args)
    conn = store.open_database(device.data_dir, create=True)
    outcome = sync_once(device, conn)
    _print({"result": outcome.result, "detail": outcome.detail, "data_version": outcome.data_version,
            "applied": list(outcome.applied)}, args.json)
    return {"ok": EXIT_OK, "unchanged": EXIT_OK, "rejected": EXIT_FAILED}.get(outcome.result, EXIT_ENVIRONMENT)


def cmd_sync_upload(args: argparse.Namespace) -> int:
    data_dir = data_config(args).data_dir
    try:
        client = HubClient.from_data_dir(data_dir)
    except OnlineUnavailable as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None
    if client is None:
        raise CommandError(EXIT_ENVIRONMENT, f"{data_dir} is not enrolled with a hub: run `madoguchi sync enroll`")
    try:
        conn = store.open_database(data_dir)
    except store.StoreMissing as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None
    outcome = upload_outbox(conn, client.post_json)
    _print({"reconciled": outcome.reconciled, "followups": outcome.followups, "pending": outcome.pending,
            "error": outcome.error or None}, args.json)
    return EXIT_ENVIRONMENT if outcome.error else EXIT_OK


def cmd_sync_daemon(args: argparse.Namespace) -> int:
    device = _device(args)
    if args.socket_timeout:
        device = type(device)(device.data_dir, device.url, args.socket_timeout)
    if args.interval <= 0 or args.jitter < 0 or args.backoff_base <= 0:
        raise CommandError(EXIT_BAD_INPUT, "--interval and --backoff-base must be positive, --jitter not negative")
    return Daemon(device, Schedule(args.interval, args.jitter, args.backoff_base)).run()


def sync_status(data_dir: Path, now: datetime | None = None) -> dict:
    """What `sync status` reports: read from the same `sync_state` row the desk reads."""
    now = now or store.utcnow()
    try:
        url = load_device_config(data_dir).url
    except NotInitialized:
        url = None
    data: dict = {"data_dir": str(data_dir), "url": url, "data_version": None, "generated_at": None,
                  "applied_at": None, "data_age_seconds": None, "last_attempt_at": None, "last_result": None,
                  "last_error": None, "rejected": False, "rejected_at": None, "rejection_reason": None}
    try:
        conn = store.open_database(data_dir)
    except store.StoreMissing:
        return data
    try:
        state = store.get_sync_state(conn)
        attempt = store.get_sync_attempt(conn)
    finally:
        conn.close()
    if state:
        data |= {"data_version": state.data_version, "generated_at": state.generated_at.isoformat(),
                 "applied_at": state.applied_at.isoformat(),
                 "data_age_seconds": int((now - state.generated_at).total_seconds())}
    if attempt:
        data |= {"last_attempt_at": attempt.at.isoformat() if attempt.at else None, "last_result": attempt.result,
                 "last_error": attempt.error or None, "rejected": attempt.rejected,
                 "rejected_at": attempt.rejected_at.isoformat() if attempt.rejected_at else None,
                 "rejection_reason": attempt.rejection_reason or None}
    return data


def cmd_sync_status(args: argparse.Namespace) -> int:
    _print(sync_status(data_config(args).data_dir), args.json)
    return EXIT_OK
