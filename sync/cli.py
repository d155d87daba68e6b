"""Commands `hub ...` (publishing) and `sync ...` (the device side).

Exit codes as in edge/cli.py: 0 done (`sync once`: ok or unchanged), 1 an update was rejected
(verification failed), 2 bad input, 3 the environment lacks something (not set up, hub
unreachable).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from datetime import date, datetime
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from edge import store
from edge.cli import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_OK, CommandError, data_config
from edge.config import JST
from edge.numbers import InputError, parse_birth_date
from sync import hub
from sync.bundle import BundleError
from sync.client import NotInitialized, init_device, load_device_config, sync_once
from sync.daemon import Daemon, Schedule
from sync.upstream import cli as upstream_cli


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
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hub_import)
    p = h.add_parser("publish", help="publish the facility's pending changes")
    p.add_argument("--facility", required=True)
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
    p.set_defaults(func=cmd_hub_rotate_root)
    p = h.add_parser("serve", help="serve the repositories as static files and re-sign timestamps")
    p.add_argument("--host", default=hub.DEFAULT_HOST)
    p.add_argument("--port", type=int, default=hub.DEFAULT_PORT)
    p.set_defaults(func=cmd_hub_serve)
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
    p = s.add_parser("once", help="sync now, once")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sync_once)
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
    return hub.HubPaths(data_config(args).data_dir / "hub")


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
        published = hub.publish(paths, args.facility)
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
    stop.wait()
    server.shutdown()
    scheduler.shutdown(wait=True)
    return EXIT_OK


def cmd_hub_status(args: argparse.Namespace) -> int:
    paths = _hub_paths(args)
    data = {"hub_dir": str(paths.hub_dir), "served_dir": str(paths.served),
            "keys_dir": str(paths.hub_dir / "keys"),
            "facilities": [hub.facility_status(paths, f) for f in paths.facilities()]}
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(f"served directory: {data['served_dir']}\nkeys (not served): {data['keys_dir']}")
        for f in data["facilities"]:
            print(f"{f['facility']}: data version {f['data_version']}, {f['records']} records, db {f['database']}")
    return EXIT_OK


# ---- device -----------------------------------------------------------------------------------

def cmd_sync_init(args: argparse.Namespace) -> int:
    config = data_config(args)
    try:
        device = init_device(config.data_dir, args.root, args.facility_key, args.url)
    except BundleError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    print(f"sync set up in {device.sync_dir}: run `madoguchi sync once` or `madoguchi sync daemon`")
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
