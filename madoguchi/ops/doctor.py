"""Health checks of an appliance: card reader stack, scanner, hub and signed metadata, cache,
clock, disk, systemd units (a desk), or the facilities' repositories (a hub).

Each check gives ok / warn / fail, what it saw, and when not ok the fix in one line in Japanese
(for staff) and English (for the technician). `madoguchi doctor` (madoguchi/cli/doctor.py)
prints them. The role comes from the configuration's `[appliance] role` ("device" or "hub";
install.sh writes it); without one, the device checks are run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

import requests
from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata, Root

from madoguchi.edge import store
from madoguchi.edge.card import CardError, jpki
from madoguchi.edge.card.transport import PcscReaders
from madoguchi.edge.config import Config, ConfigError
from madoguchi.edge.qr.scanners import ScannerSettings
from madoguchi.edge.verdict import OnlineUnavailable
from madoguchi.sync.device.client import NotInitialized, load_device_config
from madoguchi.sync.device.hubclient import HubClient, HubRefused
from madoguchi.sync.hub import repository as hub

CHECK_TIMEOUT = 5.0  # seconds: a check touching pcscd or the card gives up after this
SQLITE_HEADER = b"SQLite format 3\x00"
TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised
STALE_OUTBOX = timedelta(hours=24)
HUB_TIMEOUT = 3.0  # seconds for the hub reachability check
DEVICE_UNITS = ("pcscd.socket", "madoguchi-sync.service")
HUB_UNITS = ("madoguchi-hub.service",)


class Status(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str  # what was seen (English)
    fix_ja: str = ""  # one line each, when not ok
    fix_en: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status.value, "detail": self.detail,
                "fix_ja": self.fix_ja, "fix_en": self.fix_en}


def ok(name: str, detail: str) -> Check:
    return Check(name, Status.OK, detail)


def with_timeout(name: str, fn: Callable[[], list[Check]], timeout: float = CHECK_TIMEOUT) -> list[Check]:
    """Run a check that may block (pcscd, a card) in a thread; a hang becomes a failure."""
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except Exception as exc:  # a check must never crash the doctor
            box["result"] = [Check(name, Status.FAIL, f"{type(exc).__name__}: {exc}",
                                   "技術担当者に連絡してください", "unexpected error: see the detail")]

    thread = threading.Thread(target=run, name=f"doctor-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return [Check(name, Status.FAIL, f"no answer within {timeout:.0f} s",
                      "機器を再起動してください", f"{name} hangs: restart pcscd (systemctl restart pcscd) or replug")]
    return box["result"]


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
            checks.append(Check("hub", Status.FAIL, f"{device.url}: HTTP {answer.status_code}",
                                "ハブのサービスを確認してください（systemctl status madoguchi-hub）",
                                "check the hub (systemctl status madoguchi-hub) and the facility name in the URL"))
    except requests.RequestException as exc:
        checks.append(Check("hub", Status.FAIL, f"{device.url}: {type(exc).__name__}",
                            "ハブの電源とネットワークを確認してください（窓口はキャッシュで続けられます）",
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
                         "トークンで端末を登録し直してください（install.sh --device --hub-url --token）",
                         "enroll: sudo ./install.sh --device --hub-url https://HUB:8443 --token TOKEN")
        device = client.get_json("/v1/device", HUB_TIMEOUT)
        return ok("hub-api", f"{client.enrollment.hub_url} answers over mTLS (device {device.get('id')})")
    except HubRefused as exc:
        return Check("hub-api", Status.FAIL, str(exc)[:300], "ハブの管理者に端末の登録を確認してもらい、新しいトークンで登録し直してください",
                     "ask the hub's administrator for a new token and re-enroll (install.sh --hub-url --token)")
    except OnlineUnavailable as exc:
        return Check("hub-api", Status.FAIL, str(exc)[:300], "ハブの電源とネットワークを確認してください（窓口はキャッシュで続けられます）",
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
                     "ハブとの同期を確認し、時計を合わせてください（署名データの期限切れ）",
                     "the device has not synced lately: check the hub and the clock")
    return ok("tuf", detail)


def hub_checks(config: Config, now: datetime) -> list[Check]:
    paths = hub.HubPaths(config.data_dir / "hub")
    facilities = paths.facilities()
    if not facilities:
        return [Check("facilities", Status.FAIL, f"no facility in {paths.hub_dir}", "施設の名簿を取り込んでください（madoguchi hub import）",
                      "import a facility: sudo madoguchi hub import FILE --facility NAME")]
    checks = []
    for facility in facilities:
        status = hub.facility_status(paths, facility)
        expires = status.get("timestamp_expires")
        detail = f"data version {status['data_version']}, {status['records']} records, timestamp expires {expires}"
        if expires is None:
            checks.append(Check(f"facility {facility}", Status.FAIL, "not published", "データを公開してください（madoguchi hub publish）",
                                f"sudo madoguchi hub publish --facility {facility}"))
        elif datetime.fromisoformat(expires) < now:
            checks.append(Check(f"facility {facility}", Status.FAIL, detail,
                                "hub serve が動いているか確認してください（署名の更新が止まっています）",
                                "start the hub (systemctl restart madoguchi-hub): it re-signs timestamps hourly"))
        else:
            checks.append(ok(f"facility {facility}", detail))
    return checks


# ---- systemd units --------------------------------------------------------------------------

def unit_checks(units: tuple[str, ...]) -> list[Check]:
    if not Path("/run/systemd/system").exists():
        return [Check("units", Status.WARN, "systemd is not running here (container or CI): units not checked",
                      "systemctl status madoguchi-* でサービスを確認してください", "start the services by hand, or boot with systemd")]
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


# ---- card reader stack ---------------------------------------------------------------------

def reader_checks(reader_name: str | None = None) -> list[Check]:
    """pcscd reachable, readers listed, and a card answering to SELECT of the JPKI AP if present."""
    try:
        readers = PcscReaders(reader_name)
    except CardError as exc:
        return [Check("pcscd", Status.FAIL, str(exc), "カードリーダーのサービス（pcscd）を起動してください",
                      "start pcscd: systemctl enable --now pcscd.socket")]
    try:
        checks = [ok("pcscd", "reachable")]
        names = readers.readers()
        if not names:
            checks.append(Check("reader", Status.FAIL, "no PC/SC reader" + (f" named {reader_name!r}" if reader_name else ""),
                                "カードリーダーをUSBに接続してください", "plug in the card reader (check lsusb, libccid)"))
            return checks
        checks.append(ok("reader", ", ".join(names)))
        present = readers.with_card()
        if not present:
            checks.append(ok("card", "no card in the reader (not tested)"))
            return checks
        transport = readers.open(present[0])
        try:
            jpki.select_ap(transport)
            checks.append(ok("card", f"the card in {present[0]} answers (JPKI AP selected)"))
        except CardError as exc:
            checks.append(Check("card", Status.WARN, f"{present[0]}: {exc}", "カードを置き直してください",
                                "reinsert the card; a card that is not a My Number Card cannot be used"))
        finally:
            transport.close()
        return checks
    finally:
        readers.close()


def scanner_check(config: Config) -> Check:
    try:
        settings = ScannerSettings.from_config(config.raw)
    except ConfigError as exc:
        return Check("scanner", Status.FAIL, str(exc), "設定ファイルの [scanner] を直してください",
                     f"fix [scanner] in {config.source}")
    devices = [d for d in (settings.serial_port, settings.camera_device) if d]
    if not devices:
        return Check("scanner", Status.WARN, "no scanner configured", "QRスキャナーを使うなら設定ファイルの [scanner] に設定してください",
                     f"set [scanner] serial_port (or camera_device) in {config.source or '/etc/madoguchi/config.toml'}")
    missing = [d for d in devices if not Path(d).exists()]
    if missing:
        return Check("scanner", Status.FAIL, f"missing: {', '.join(missing)}", "QRスキャナーをUSBに接続してください",
                     "plug in the scanner or fix its path in [scanner] (ls /dev/serial/by-id)")
    return ok("scanner", ", ".join(devices))


# ---- cache --------------------------------------------------------------------------------

def cache_checks(config: Config, now: datetime) -> tuple[list[Check], datetime | None]:
    """Cache data version and age, encryption at rest, outbox, disk; and the newest time seen in
    the data (for the clock check)."""
    path = store.database_path(config.data_dir)
    try:
        conn = store.open_database(config.data_dir)
    except store.StoreLocked as exc:
        return [Check("cache", Status.FAIL, str(exc), "root で実行してください（sudo madoguchi doctor）：鍵はrootだけが読めます",
                      "run as root (sudo madoguchi doctor) so the key credential can be decrypted")], None
    except store.StoreMissing as exc:
        return [Check("cache", Status.FAIL, str(exc), "端末をハブに登録し（install.sh --device）、同期してください",
                      "enroll the device (install.sh --device) and run: sudo madoguchi sync once")], None
    try:
        checks = []
        state = store.get_sync_state(conn)
        newest = state.generated_at if state else None
        if state is None:
            checks.append(Check("cache", Status.FAIL, "no data applied yet", "ハブを確認して同期してください（sudo madoguchi sync once）",
                                "check the hub and run: sudo madoguchi sync once"))
        else:
            age = now - state.generated_at
            detail = f"data version {state.data_version}, generated {_age(age)} ago"
            if age > config.policy.cache_max_age:
                checks.append(Check("cache", Status.WARN, detail,
                                    "ハブと同期サービスを確認してください（古いデータでは結果が「要確認」になります）",
                                    "data older than cache_max_age: check the hub and the sync service"))
            else:
                checks.append(ok("cache", detail))
        encrypted = path.open("rb").read(len(SQLITE_HEADER)) != SQLITE_HEADER
        checks.append(ok("encryption", "SQLCipher (encrypted at rest)") if encrypted else Check(
            "encryption", Status.WARN, "the cache is a plain SQLite file", "install.sh を実行し直して暗号化してください",
            "re-run install.sh (it creates the key credential; see docs/appliance.md)"))
        pending, oldest = store.pending_summary(conn)
        if pending and oldest and now - datetime.fromisoformat(oldest) > STALE_OUTBOX:
            checks.append(Check("outbox", Status.WARN, f"{pending} checks waiting since {oldest}",
                                "ハブの状態を確認してください（オフラインの記録が1日以上届いていません）",
                                "the hub has not taken the outbox for a day: check the hub"))
        else:
            checks.append(ok("outbox", f"{pending} checks waiting for reconciliation"))
        last_check = store.last_check_at(conn)
        if last_check:
            seen = datetime.fromisoformat(last_check)
            newest = max(newest, seen) if newest else seen
        checks.append(disk_check(config.data_dir))
        return checks, newest
    finally:
        conn.close()


def disk_check(data_dir: Path) -> Check:
    """A full apply needs about twice the database's size free (the WAL grows to the change)."""
    path = store.database_path(data_dir)
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    free = shutil.disk_usage(data_dir).free
    detail = f"{_mib(free)} free, database {_mib(size)}"
    if free < 2 * size:
        return Check("disk", Status.FAIL, detail, "ディスクの空きを増やしてください（データベースの2倍以上）",
                     "free disk space: at least twice the database")
    return ok("disk", detail)


# ---- clock --------------------------------------------------------------------------------

def clock_check(now: datetime, newest: datetime | None, synchronised: bool | None = None) -> Check:
    """Synchronised (adjtimex), and not before the newest data or check seen."""
    if newest is not None and now < newest:
        return Check("clock", Status.FAIL, f"now {now.isoformat()} is before the newest data {newest.isoformat()}",
                     "時刻を合わせてください（NTPを有効に）", "set the clock: enable NTP (timedatectl set-ntp true)")
    synchronised = clock_synchronised() if synchronised is None else synchronised
    if synchronised is False:
        return Check("clock", Status.WARN, "the clock is not synchronised (NTP)", "時刻の同期（NTP）を有効にしてください",
                     "enable time sync: timedatectl set-ntp true (systemd-timesyncd) and check the network")
    return ok("clock", "synchronised" if synchronised else "not known to be synchronised; not behind the data")


def clock_synchronised() -> bool | None:
    """What the kernel says (adjtimex, read-only): False when unsynchronised; None if unknown."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    timex = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
    state = libc.adjtimex(timex)
    return None if state < 0 else state != TIME_ERROR


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 1440} d {minutes // 60 % 24} h" if minutes >= 1440 else f"{minutes // 60} h {minutes % 60} min"


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
