"""`madoguchi doctor`: is this appliance healthy, and if not, what to do (one line, ja + en).
`madoguchi support`: watch the kiosk's screen read-only over SSH.

The core's checks are in edge/doctor.py; here are those that read the sync side's files (the
trusted TUF metadata of `madoguchi sync init`, the hub's repositories) and the systemd units.
The role comes from the configuration's `[appliance] role` ("device" or "hub"; install.sh
writes it); without one, the device checks are run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import requests
from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata, Root

from madoguchi.cli.check import EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_OK, CommandError, data_config
from madoguchi.edge import store
from madoguchi.edge.config import Config
from madoguchi.edge.verdict import OnlineUnavailable
from madoguchi.ops.doctor import (
    Check,
    Status,
    cache_checks,
    clock_check,
    ok,
    reader_checks,
    scanner_check,
    with_timeout,
)
from madoguchi.sync.device.client import NotInitialized, load_device_config
from madoguchi.sync.device.hubclient import HubClient, HubRefused
from madoguchi.sync.hub import repository as hub

HUB_TIMEOUT = 3.0  # seconds for the hub reachability check
KIOSK_TMUX_SOCKET = Path("/run/madoguchi-kiosk/tmux.sock")  # madoguchi-kiosk@.service
DEVICE_UNITS = ("pcscd.socket", "madoguchi-sync.service")
HUB_UNITS = ("madoguchi-hub.service",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check this appliance: reader, scanner, hub, signed metadata, cache, clock, "
                       "disk, services (exit 1 if anything fails)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("support", help="watch the kiosk's screen read-only (remote support over SSH)")
    p.add_argument("--socket", type=Path, default=KIOSK_TMUX_SOCKET, help=f"the kiosk's tmux socket ({KIOSK_TMUX_SOCKET})")
    p.set_defaults(func=cmd_support)


def run_checks(config: Config, now: datetime | None = None) -> list[Check]:
    now = now or store.utcnow()
    role = str(config.raw.get("appliance", {}).get("role", "device"))
    if role == "hub":
        return hub_checks(config, now) + unit_checks(HUB_UNITS)
    checks = with_timeout("pcscd", lambda: reader_checks(config.raw.get("card", {}).get("reader")))
    checks.append(scanner_check(config))
    checks += sync_checks(config, now)
    cached, newest = cache_checks(config, now)
    checks += cached
    checks.append(clock_check(now, newest))
    kiosk = [f"madoguchi-kiosk@{config.raw.get('appliance', {}).get('kiosk_tty', 'tty1')}.service"]
    return checks + unit_checks(DEVICE_UNITS + tuple(kiosk if config.raw.get("appliance", {}).get("kiosk") else ()))


# ---- sync: hub reachable, trusted metadata --------------------------------------------------

def sync_checks(config: Config, now: datetime) -> list[Check]:
    try:
        device = load_device_config(config.data_dir)
    except NotInitialized as exc:
        return [Check("enrollment", Status.FAIL, str(exc), "端末をハブに登録してください（install.sh --device）",
                      "enroll: sudo ./install.sh --device --hub-url https://HUB:8443 --token TOKEN")]
    checks = [ok("enrollment", device.url)]
    try:
        answer = requests.get(f"{device.url}/metadata/timestamp.json", timeout=HUB_TIMEOUT)
        if answer.status_code == 200:
            checks.append(ok("hub", f"{device.url} answers"))
        else:
            checks.append(Check("hub", Status.FAIL, f"{device.url}: HTTP {answer.status_code}", "ハブが正しく応答しません",
                                "check the hub (systemctl status madoguchi-hub) and the facility name in the URL"))
    except requests.RequestException as exc:
        checks.append(Check("hub", Status.FAIL, f"{device.url}: {type(exc).__name__}", "ハブにつながりません (窓口はキャッシュで続けられます)",
                            "check the network and the hub (systemctl status madoguchi-hub)"))
    checks.append(api_check(config.data_dir))
    checks.append(metadata_check(device.metadata_dir, now))
    return checks


def api_check(data_dir: Path) -> Check:
    """The hub API over mutual TLS with this device's certificate (live queries, outbox upload)."""
    try:
        client = HubClient.from_data_dir(data_dir)
        if client is None:
            return Check("hub-api", Status.WARN, "not enrolled by token: no live queries, no outbox upload",
                         "ハブAPIに未登録です（オンライン確認・突合ができません）",
                         "enroll: sudo ./install.sh --device --hub-url https://HUB:8443 --token TOKEN")
        device = client.get_json("/v1/device", HUB_TIMEOUT)
        return ok("hub-api", f"{client.enrollment.hub_url} answers over mTLS (device {device.get('id')})")
    except HubRefused as exc:
        return Check("hub-api", Status.FAIL, str(exc)[:300], "ハブがこの端末を拒否しました（登録の取り消し・証明書の不一致）",
                     "ask the hub's administrator for a new token and re-enroll (install.sh --hub-url --token)")
    except OnlineUnavailable as exc:
        return Check("hub-api", Status.FAIL, str(exc)[:300], "ハブAPIにつながりません (窓口はキャッシュで続けられます)",
                     "check the network and the hub (systemctl status madoguchi-hub)")


def metadata_check(metadata_dir: Path, now: datetime) -> Check:
    """The trusted metadata the device holds: signed by the keys its root names, and how old."""
    fix_ja, fix_en = "署名データが正しくありません: ハブと同期してください", "run: sudo madoguchi sync once (see sync status)"
    try:
        root = Metadata[Root].from_file(str(metadata_dir / "root.json"))
        root.signed.verify_delegate("root", root.signed_bytes, root.signatures)
        if not (metadata_dir / "timestamp.json").exists():
            return Check("tuf", Status.WARN, f"root v{root.signed.version} only: never synced", fix_ja, fix_en)
        loaded = {role: Metadata.from_file(str(metadata_dir / f"{role}.json"))
                  for role in ("timestamp", "snapshot", "targets")}
        for role, md in loaded.items():
            root.signed.verify_delegate(role, md.signed_bytes, md.signatures)
    except (OSError, ValueError, RepositoryError) as exc:
        return Check("tuf", Status.FAIL, f"{type(exc).__name__}: {exc}", fix_ja, fix_en)
    timestamp = loaded["timestamp"].signed
    fetched = datetime.fromtimestamp((metadata_dir / "timestamp.json").stat().st_mtime, now.tzinfo)
    detail = (f"root v{root.signed.version}, timestamp v{timestamp.version} fetched {int((now - fetched).total_seconds() // 60)}"
              f" min ago, expires {timestamp.expires.isoformat()}")
    expired = [role for role, md in loaded.items() if md.signed.is_expired(now)]
    if root.signed.is_expired(now):
        expired.append("root")
    if expired:
        return Check("tuf", Status.WARN, f"{detail}; expired: {', '.join(expired)}",
                     "署名データの期限切れ: ハブと同期できていません", "the device has not synced lately: check the hub and the clock")
    return ok("tuf", detail)


def hub_checks(config: Config, now: datetime) -> list[Check]:
    paths = hub.HubPaths(config.data_dir / "hub")
    facilities = paths.facilities()
    if not facilities:
        return [Check("facilities", Status.FAIL, f"no facility in {paths.hub_dir}", "施設のデータがありません",
                      "import a facility: sudo madoguchi hub import FILE --facility NAME")]
    checks = []
    for facility in facilities:
        status = hub.facility_status(paths, facility)
        expires = status.get("timestamp_expires")
        detail = f"data version {status['data_version']}, {status['records']} records, timestamp expires {expires}"
        if expires is None:
            checks.append(Check(f"facility {facility}", Status.FAIL, "not published", "未公開です",
                                f"sudo madoguchi hub publish --facility {facility}"))
        elif datetime.fromisoformat(expires) < now:
            checks.append(Check(f"facility {facility}", Status.FAIL, detail, "署名の更新が止まっています",
                                "start the hub (systemctl restart madoguchi-hub): it re-signs timestamps hourly"))
        else:
            checks.append(ok(f"facility {facility}", detail))
    return checks


# ---- systemd units --------------------------------------------------------------------------

def unit_checks(units: tuple[str, ...]) -> list[Check]:
    if not Path("/run/systemd/system").exists():
        return [Check("units", Status.WARN, "systemd is not running here (container or CI): units not checked",
                      "サービスの状態を確認できません", "start the services by hand, or boot with systemd")]
    checks = []
    for unit in units:
        try:
            state = subprocess.run(["systemctl", "is-active", unit], capture_output=True, text=True,
                                   timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            state = str(exc)
        checks.append(ok(unit, state) if state == "active" else Check(
            unit, Status.FAIL, state, "サービスが止まっています: 機器を再起動してください",
            f"systemctl enable --now {unit}; journalctl -u {unit}"))
    return checks


# ---- commands -------------------------------------------------------------------------------

MARK = {Status.OK: "ok  ", Status.WARN: "WARN", Status.FAIL: "FAIL"}


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks(data_config(args))
    counts = {s.value: sum(c.status is s for c in checks) for s in Status}
    if args.json:
        print(json.dumps({"checks": [c.as_dict() for c in checks], "summary": counts}, ensure_ascii=False, indent=2))
    else:
        for c in checks:
            print(f"{MARK[c.status]}  {c.name:28} {c.detail}")
            if c.status is not Status.OK:
                print(f"      修正: {c.fix_ja}\n      fix:  {c.fix_en}")
        print(f"{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail")
    return EXIT_FAILED if counts["fail"] else EXIT_OK


def cmd_support(args: argparse.Namespace) -> int:
    """Attach to the kiosk's tmux session read-only: keys typed here never reach the desk."""
    if not args.socket.exists():
        raise CommandError(EXIT_ENVIRONMENT, f"the kiosk is not running here (no {args.socket})")
    tmux = shutil.which("tmux")
    if tmux is None:
        raise CommandError(EXIT_ENVIRONMENT, "tmux is not installed")
    os.execv(tmux, [tmux, "-S", str(args.socket), "attach-session", "-t", "ui", "-f", "read-only,ignore-size"])
