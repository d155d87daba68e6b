"""`madoguchi sync ...`: keep this device's cache current from the hub.

`sync once`: exit 0 ok or unchanged, 1 the update was rejected (verification failed), 3 offline
or not set up.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

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
    open_store,
)
from madoguchi.edge import store
from madoguchi.edge.verdict import OnlineUnavailable
from madoguchi.sync.bundle import BundleError
from madoguchi.sync.device.client import DeviceConfig, NotInitialized, init_device, load_device_config, sync_once
from madoguchi.sync.device.daemon import Daemon, Schedule
from madoguchi.sync.device.enroll import EnrollmentError, enroll_device
from madoguchi.sync.device.hubclient import HubClient
from madoguchi.sync.device.upload import upload_outbox


def register(sub: Subcommands) -> None:
    s = group(sub, "sync", "keep this device's cache current from the hub")
    p = command(s, "init", cmd_sync_init, "set up sync: trusted root, facility key, repository URL")
    p.add_argument("--root", type=Path, required=True, help="the facility's root metadata (root.json)")
    p.add_argument("--facility-key", type=Path, required=True, help="the facility key file (64 hex digits)")
    p.add_argument("--url", required=True, help="the facility's repository, e.g. http://hub:8470/clinic-a")
    p = command(s, "enroll", cmd_sync_enroll, "enroll this device with the hub by a one-time token (replaces sync init)")
    p.add_argument("--hub-url", required=True, help="the hub API, e.g. https://hub:8443")
    p.add_argument("--token", required=True, help="from `madoguchi hub enroll-token` on the hub")
    command(s, "once", cmd_sync_once, "sync now, once (exit 1 if the update was rejected, 3 if offline)")
    command(s, "upload", cmd_sync_upload,
            "send the outbox to the hub now for reconciliation (the daemon does it each run)")
    p = command(s, "daemon", cmd_sync_daemon, "sync on a schedule (systemd Type=notify)")
    p.add_argument("--interval", type=float, default=Schedule.interval, help="seconds between syncs")
    p.add_argument("--jitter", type=float, default=Schedule.jitter, help="random extra seconds per run")
    p.add_argument("--backoff-base", type=float, default=Schedule.backoff_base,
                   help="first retry delay when the hub is unreachable (doubles up to the interval)")
    p.add_argument("--socket-timeout", type=float, help="seconds without a byte before a download gives up")
    command(s, "status", cmd_sync_status, "data version, age, last result, last rejection")


def cmd_sync_init(args: argparse.Namespace) -> int:
    config = data_config(args)
    try:
        device = init_device(config.data_dir, args.root, args.facility_key, args.url)
    except BundleError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    emit(args, {"sync_dir": str(device.sync_dir), "url": device.url},
         f"sync set up in {device.sync_dir}: run `madoguchi sync once` or `madoguchi sync daemon`")
    return EXIT_OK


def cmd_sync_enroll(args: argparse.Namespace) -> int:
    config = data_config(args)
    try:
        device = enroll_device(config.data_dir, args.hub_url, args.token)
    except EnrollmentError as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None
    emit(args, {"sync_dir": str(device.sync_dir), "url": device.url},
         f"enrolled; sync set up in {device.sync_dir} (repository {device.url}): "
         "run `madoguchi sync once` or `madoguchi sync daemon`")
    return EXIT_OK


def _device(args: argparse.Namespace) -> DeviceConfig:
    try:
        return load_device_config(data_config(args).data_dir)
    except NotInitialized as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None


def cmd_sync_once(args: argparse.Namespace) -> int:
    device = _device(args)
    conn = store.open_database(device.data_dir, create=True)
    outcome = sync_once(device, conn)
    emit(args, {"result": outcome.result, "detail": outcome.detail, "data_version": outcome.data_version,
                "applied": list(outcome.applied)})
    return {"ok": EXIT_OK, "unchanged": EXIT_OK, "rejected": EXIT_FAILED}.get(outcome.result, EXIT_ENVIRONMENT)


def cmd_sync_upload(args: argparse.Namespace) -> int:
    config = data_config(args)
    try:
        client = HubClient.from_data_dir(config.data_dir)
    except OnlineUnavailable as exc:
        raise CommandError(EXIT_ENVIRONMENT, str(exc)) from None
    if client is None:
        raise CommandError(EXIT_ENVIRONMENT, f"{config.data_dir} is not enrolled with a hub: run `madoguchi sync enroll`")
    conn = open_store(config)
    outcome = upload_outbox(conn, client.post_json)
    emit(args, {"reconciled": outcome.reconciled, "followups": outcome.followups, "pending": outcome.pending,
                "error": outcome.error or None})
    return EXIT_ENVIRONMENT if outcome.error else EXIT_OK


def cmd_sync_daemon(args: argparse.Namespace) -> int:
    if args.interval <= 0 or args.jitter < 0 or args.backoff_base <= 0:
        raise CommandError(EXIT_BAD_INPUT, "--interval and --backoff-base must be positive, --jitter not negative")
    device = _device(args)
    if args.socket_timeout:
        device = type(device)(device.data_dir, device.url, args.socket_timeout)
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
    if url is None:
        data["note"] = "sync is not set up: madoguchi sync enroll --hub-url URL --token TOKEN"
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
    emit(args, sync_status(data_config(args).data_dir))
    return EXIT_OK
