"""The device side: fetch the facility's repository with TUF, decrypt, apply in one transaction.

One `sync_once` is one ngclient `Updater` run: refresh the metadata (timestamp, snapshot,
targets, walking any new roots), pick the chain of deltas from the cache's data version or the
full bundle, download, decrypt and apply each in one transaction that also checks the digest.
Its outcome is recorded in the store's `sync_state`, which is what `sync status` and the desk show.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import urllib3
from madoguchi.edge import store
from madoguchi.edge.verdict import OnlineUnavailable
from madoguchi.sync import bundle
from madoguchi.sync.bundle import BundleError, parse, row_hash
from madoguchi.sync.device.hubclient import HubClient, HubRefused
from madoguchi.sync.protocol import FULL_TARGET, delta_target
from madoguchi.sync.tables import QUALIFICATION_TABLE, TABLES, Table, change_rows, get_digest, set_digest
from tuf.api.exceptions import DownloadError, DownloadLengthMismatchError, RepositoryError, SlowRetrievalError
from tuf.ngclient import TargetFile, Updater
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher
from urllib3.exceptions import HTTPError

log = logging.getLogger(__name__)

SOCKET_TIMEOUT = 5  # seconds without a byte before a download gives up (urllib3 retries add to it)
SYNC_DEADLINE = 120  # seconds for all the downloads of one sync run, however slowly the bytes come
CONFIG_NAME = "madoguchi.sync.json"


class NotInitialized(RuntimeError):
    """`madoguchi sync init` has not been run for this data directory."""


class DigestMismatch(BundleError):
    """The data after applying is not what the hub signed."""


@dataclass(frozen=True)
class DeviceConfig:
    data_dir: Path
    url: str  # the facility's repository: <url>/metadata/, <url>/targets/
    socket_timeout: float = SOCKET_TIMEOUT
    deadline: float = SYNC_DEADLINE

    @property
    def sync_dir(self) -> Path:
        return self.data_dir / "sync"

    @property
    def metadata_dir(self) -> Path:
        return self.sync_dir / "metadata"

    @property
    def download_dir(self) -> Path:
        return self.sync_dir / "downloads"

    @property
    def facility_key_path(self) -> Path:
        return self.sync_dir / "facility.key"

    @property
    def keyring_dir(self) -> Path:
        """Facility keys by key id (older keys still decrypt the bundles listed before a rotation)."""
        return self.sync_dir / "facility-keys"


class KeyUnavailable(Exception):
    """A bundle is encrypted with a facility key this device does not have and cannot fetch now."""


def save_facility_key(config: DeviceConfig, key: bytes, current: bool = True) -> str:
    """Keep a facility key under its key id (0600), and make it the current one; returns the id."""
    key_id = bundle.key_id(key)
    store.secure_dir(config.keyring_dir)
    for path in (config.keyring_dir / f"{key_id}.key", *([config.facility_key_path] if current else [])):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(key.hex())
        tmp.chmod(0o600)
        tmp.replace(path)
    return key_id


def facility_key_for(config: DeviceConfig, custom: dict[str, Any]) -> bytes:
    """The key a bundle says it is encrypted with (TUF `custom.key_id`; none: the current key).
    An unknown key id is fetched from the hub API over mTLS, which an enrolled, unrevoked device
    may do (a device set up by `sync init` has only its key: decryption then tells). Raises
    BundleError when the device cannot have the key, KeyUnavailable when not now."""
    current = bundle.load_facility_key(config.facility_key_path)
    wanted = custom.get("key_id")
    if wanted is None or wanted == bundle.key_id(current):
        return current
    if not (isinstance(wanted, str) and wanted and set(wanted) <= set("0123456789abcdef")):
        raise BundleError(f"bad key id {str(wanted)[:20]!r} in the targets metadata")
    path = config.keyring_dir / f"{wanted}.key"
    if path.exists():
        return bundle.load_facility_key(path)
    try:
        client = HubClient.from_data_dir(config.data_dir)
    except OnlineUnavailable as exc:
        raise BundleError(f"facility key {wanted}: {exc}") from None
    if client is None:
        return current
    try:
        answer = client.get_json(f"/v1/facility-key?key_id={wanted}", config.socket_timeout)
        key = bytes.fromhex(str(answer["facility_key"]))
    except HubRefused as exc:
        raise BundleError(f"the hub refused the facility key {wanted}: {exc}") from None
    except OnlineUnavailable as exc:
        raise KeyUnavailable(f"facility key {wanted}: {exc}") from None
    except (KeyError, ValueError) as exc:
        raise BundleError(f"unreadable facility key from the hub: {exc!r}") from None
    finally:
        client.close()
    if bundle.key_id(key) != wanted:
        raise BundleError(f"the hub's key does not have the key id {wanted}")
    log.info("fetched facility key %s from the hub", wanted)
    save_facility_key(config, key, current=False)
    return key


def init_device(data_dir: Path, root: Path, facility_key: Path, url: str) -> DeviceConfig:
    """Install the trusted root and the facility key (until enrollment brings them)."""
    try:
        trusted = json.loads(Path(root).read_bytes())
        if trusted["signed"]["_type"] != "root":
            raise ValueError("not root metadata")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"cannot use {root} as the trusted root: {exc}") from None
    key = bundle.load_facility_key(facility_key)
    if not url.startswith(("http://", "https://")):
        raise BundleError(f"bad repository URL {url!r}: expected http:// or https://")
    config = DeviceConfig(Path(data_dir), url.rstrip("/"))
    store.secure_dir(config.data_dir)
    store.secure_dir(config.sync_dir)
    if config.metadata_dir.exists():
        shutil.rmtree(config.metadata_dir)
    config.metadata_dir.mkdir()
    shutil.copyfile(root, config.metadata_dir / "root.json")
    config.facility_key_path.write_text(key.hex())
    config.facility_key_path.chmod(0o600)
    (config.sync_dir / CONFIG_NAME).write_text(json.dumps({"url": config.url}, indent=2))
    store.open_database(config.data_dir, create=True).close()
    return config


def load_device_config(data_dir: Path) -> DeviceConfig:
    path = Path(data_dir) / "sync" / CONFIG_NAME
    try:
        raw = json.loads(path.read_text())
        return DeviceConfig(Path(data_dir), raw["url"], float(raw.get("socket_timeout", SOCKET_TIMEOUT)),
                            float(raw.get("deadline", SYNC_DEADLINE)))
    except FileNotFoundError:
        raise NotInitialized(f"sync is not set up in {data_dir}: enroll the device (install.sh --device, "
                             "or madoguchi sync enroll)") from None
    except (OSError, ValueError, KeyError) as exc:
        raise NotInitialized(f"cannot read {path}: {exc}") from None


# ---- one run --------------------------------------------------------------------------

@dataclass(frozen=True)
class SyncOutcome:
    result: str  # ok, unchanged, offline, rejected, failed
    detail: str = ""
    data_version: int | None = None
    applied: tuple[str, ...] = ()  # the bundles applied, in order

    @property
    def ok(self) -> bool:
        return self.result in ("ok", "unchanged")


def sync_once(config: DeviceConfig, conn: sqlite3.Connection) -> SyncOutcome:
    """One sync run; never raises for a network or repository problem: the outcome says it
    and is recorded in the store."""
    try:
        outcome = _run(config, conn)
    except DownloadLengthMismatchError as exc:  # more bytes than signed: an endless-data attack
        outcome = SyncOutcome("rejected", f"{type(exc).__name__}: {exc}")
    except DownloadError as exc:
        outcome = SyncOutcome("offline", f"{type(exc).__name__}: {exc or 'no answer'}")
    except HTTPError as exc:  # urllib3 lets some connection errors (refused, reset) through
        outcome = SyncOutcome("offline", f"{type(exc).__name__}: {exc}")
    except RepositoryError as exc:
        outcome = SyncOutcome("rejected", f"{type(exc).__name__}: {exc}")
    except BundleError as exc:
        outcome = SyncOutcome("rejected", f"{type(exc).__name__}: {exc}")
    except KeyUnavailable as exc:
        outcome = SyncOutcome("offline", f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(config.download_dir, ignore_errors=True)
    if outcome.result == "rejected":
        log.warning("sync rejected an update, keeping the current data: %s", outcome.detail)
    elif outcome.result == "offline":
        log.info("hub unreachable: %s", outcome.detail)
    state = store.get_sync_state(conn)
    if outcome.data_version is None and state:
        outcome = SyncOutcome(outcome.result, outcome.detail, state.data_version, outcome.applied)
    if outcome.result != "ok":  # an apply records its `ok` in its own transaction
        with store.transaction(conn):
            store.record_sync_attempt(conn, outcome.result, "" if outcome.ok else outcome.detail)
    else:
        store.prune_live_records(conn)
    if outcome.result not in ("unchanged", "offline"):
        store.checkpoint(conn)  # the WAL grew by the size of the change
    return outcome


class DeadlineFetcher(Urllib3Fetcher):
    """The TUF fetcher under one deadline for a whole sync run: a server that drips a byte now
    and then never trips the socket timeout, so the body is read as it comes (`read1`) and the
    deadline checked between reads; no request starts after it. A run ends at most one socket
    timeout after its deadline."""

    def __init__(self, socket_timeout: float, deadline: float) -> None:
        # tuf annotates the timeout as int seconds; it only hands it to urllib3.Timeout, which takes a float
        super().__init__(socket_timeout=socket_timeout)  # type: ignore[arg-type]
        self.base_timeout, self.deadline = socket_timeout, deadline

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise SlowRetrievalError("the sync run's deadline passed")
        return left

    def _fetch(self, url: str) -> Iterator[bytes]:
        # urllib3 tries up to 4 times: each try gets a quarter of the time left at most
        self.socket_timeout = max(min(self.base_timeout, self._left() / 4), 0.05)  # type: ignore[assignment]  # as above
        return super()._fetch(url)

    def _chunks(self, response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
        done = False
        try:
            while chunk := (self._left() and response.read1(self.chunk_size)):
                yield chunk
            done = True
        except urllib3.exceptions.TimeoutError as exc:
            raise SlowRetrievalError from exc
        finally:
            if not done:
                response.close()  # never back into the pool with a body half read
            response.release_conn()


def _run(config: DeviceConfig, conn: sqlite3.Connection) -> SyncOutcome:
    bundle.load_facility_key(config.facility_key_path)  # a clear error before any download
    fetcher = DeadlineFetcher(config.socket_timeout, time.monotonic() + config.deadline)
    config.download_dir.mkdir(parents=True, exist_ok=True)
    updater = Updater(str(config.metadata_dir), f"{config.url}/metadata/", str(config.download_dir),
                      f"{config.url}/targets/", fetcher=fetcher, bootstrap=None)
    updater.refresh()
    full = updater.get_targetinfo(FULL_TARGET)
    if full is None:
        return SyncOutcome("unchanged", "the hub has published no data yet")
    state = store.get_sync_state(conn)
    current = state.data_version if state and get_digest(conn) is not None else None
    from_full, latest = _delta_chain(updater, int(full.custom["to"]))
    if current == latest:
        return SyncOutcome("unchanged", f"data version {latest}", latest)
    chain, end = _delta_chain(updater, current) if current is not None and current < latest else ([], None)
    applied: list[str] = []
    if end == latest and sum(t.length for t in chain) < full.length + sum(t.length for t in from_full):
        try:
            for target in chain:
                apply_bundle(conn, updater.download_target(target), facility_key_for(config, target.custom),
                             target.custom)
                applied.append(target.path)
            return SyncOutcome("ok", f"data version {latest} by {len(chain)} delta(s)", latest, tuple(applied))
        except DigestMismatch as exc:
            log.warning("delta did not give the hub's data (%s): taking the full bundle", exc)
    for target in (full, *from_full):
        apply_bundle(conn, updater.download_target(target), facility_key_for(config, target.custom), target.custom)
        applied.append(target.path)
    return SyncOutcome("ok", f"data version {latest} by the full bundle and {len(from_full)} delta(s)",
                       latest, tuple(applied))


def _delta_chain(updater: Updater, version: int) -> tuple[list[TargetFile], int]:
    """The listed deltas from `version` on, and the version they lead to (the latest if
    `version` is the full bundle's: every delta after it stays listed)."""
    chain: list[TargetFile] = []
    while (target := updater.get_targetinfo(delta_target(version, version + 1))) is not None:
        chain.append(target)
        version += 1
    return chain, version


# ---- apply ----------------------------------------------------------------------------

def apply_bundle(conn: sqlite3.Connection, path: str | Path, key: bytes, custom: dict[str, Any]) -> int:
    """Apply one decrypted bundle in one transaction, checking inside it that the data after
    applying has the digest the hub signed (`custom`, from the TUF targets metadata). Rolls
    back whole on any problem. The caller truncates the WAL afterwards. Returns the number of
    qualification rows in the bundle."""
    lines = bundle.read_lines(Path(path), key)
    generated_at = _generated_at(_header(next(lines, b""), custom))
    with store.transaction(conn):
        try:
            if custom["kind"] == "full":
                digest, rows = _apply_full(conn, lines)
            else:
                state = store.get_sync_state(conn)
                if not state or state.data_version != custom["from"]:
                    raise DigestMismatch(f"delta from version {custom['from']} but the cache holds "
                                         f"{state.data_version if state else 'nothing'}")
                digest, rows = _apply_delta(conn, lines, get_digest(conn) or 0)
        except BundleError:
            raise
        except (IndexError, TypeError, KeyError, ValueError, OverflowError, sqlite3.ProgrammingError,
                sqlite3.IntegrityError) as exc:
            raise BundleError(f"malformed line in bundle: {type(exc).__name__}") from None
        if bundle.digest_hex(digest) != custom["digest"]:
            raise DigestMismatch(f"data version {custom['to']}: digest after applying is "
                                 f"{bundle.digest_hex(digest)[:16]}..., the hub signed {custom['digest'][:16]}...")
        set_digest(conn, digest)
        store.set_sync_state(conn, int(custom["to"]), generated_at)
        store.record_sync_attempt(conn, "ok")
    return rows


def _header(line: bytes, custom: dict[str, Any]) -> dict[str, Any]:
    item = parse(line) if line else []
    if len(item) != 2 or item[0] != "h" or not isinstance(item[1], dict):
        raise BundleError("bundle has no header line")
    header = item[1]
    for field in ("kind", "from", "to", "digest"):
        if header.get(field) != custom.get(field):
            raise BundleError(f"bundle header {field}={header.get(field)!r} does not match the signed "
                              f"target ({custom.get(field)!r})")
    return header


WIDTH = len(store.COLUMN_NAMES)
GENERATED_AHEAD = timedelta(days=1)  # clocks disagree a little; a bundle from the future is refused


def _generated_at(header: dict[str, Any]) -> datetime:
    try:
        when = datetime.fromisoformat(str(header.get("generated_at")))
    except ValueError:
        raise BundleError("bundle header: generated_at is not a date and time") from None
    if when.tzinfo is None or when > store.utcnow() + GENERATED_AHEAD:
        raise BundleError("bundle header: generated_at has no offset or is in the future")
    return when


def checked_row(item: list[Any]) -> list[Any]:
    """A qualification row of a bundle, each field checked against the record model. The columns
    after release 0.1.0's that the line leaves out are empty (bundle.record_line); one written out
    empty is refused, as the line would not hash as the row does."""
    if store.RELEASE_0_1_COLUMNS <= len(item) < WIDTH:
        item.extend([""] * (WIDTH - len(item)))
    elif len(item) == WIDTH and item[-1] in ("", None):
        raise BundleError(f"bad record {item[0] if type(item[0]) is int else '?'} in bundle: "
                          "an empty last column written out")
    problems = store.row_problems(item)
    if problems:
        raise BundleError(f"bad record {item[0] if type(item[0]) is int else '?'} in bundle: "
                          f"{'; '.join(problems)[:500]}")
    return item


def checked_small(table: Table, values: list[Any]) -> list[Any]:
    """An insurer, revocation or meta row: the table's columns, all text."""
    if len(values) != len(table.columns) or not all(isinstance(v, str) and len(v) <= 200 for v in values):
        raise BundleError(f"bad {table.name} row in bundle")
    return values


def _apply_full(conn: sqlite3.Connection, lines: Iterator[bytes]) -> tuple[int, int]:
    """Replace every synced table. Small tables first; the qualification rows stream into
    `replace_all_records` while their hashes are summed."""
    digest = 0
    store.clear_synced(conn, bundle.SYNCED_META_KEYS)
    first_row = None
    for line in lines:
        item = parse(line)
        if type(item[0]) is int:
            first_row = (line, item)
            break
        table = TABLES.get(item[0])
        if table is None or table.code == "q" or (table.code == "m" and item[1] not in bundle.SYNCED_META_KEYS):
            raise BundleError(f"unexpected line in a full bundle: {str(item[0])[:10]!r}")
        store.put_rows(conn, table.name, [checked_small(table, item[1:])])
        digest += row_hash(table.tag, bundle.canonical(item[1:]))
    sums = [digest]

    def rows() -> Iterator[list[Any]]:
        if first_row is None:
            return
        line, item = first_row
        total = row_hash(QUALIFICATION_TABLE.tag, line)
        yield checked_row(item)
        for line in lines:
            item = json_row(line)
            total += row_hash(QUALIFICATION_TABLE.tag, line)
            yield checked_row(item)
        sums.append(total)

    count = store.replace_all_records(conn, rows())
    stored = store.count_records(conn)
    if stored != count:
        raise DigestMismatch(f"{count} rows in the bundle but {stored} stored (duplicate record ids)")
    return sum(sums), count


def json_row(line: bytes) -> list[Any]:
    item = parse(line)
    if type(item[0]) is not int:
        raise BundleError("a tagged line after the qualification rows")
    return item


def _apply_delta(conn: sqlite3.Connection, lines: Iterator[bytes], digest: int) -> tuple[int, int]:
    """Deletions, then puts of each table, row by row through `change_rows` (digest kept current)."""
    rows = 0
    batch_table: Table | None = None
    puts: list[list[Any]] = []
    deletes: list[int | str] = []
    for line in lines:
        item = parse(line)
        table: Table | None
        put: list[Any] | None
        if type(item[0]) is int:
            table, put = QUALIFICATION_TABLE, checked_row(item)
        else:
            code = str(item[0])
            table = TABLES.get(code.rstrip("-"))
            if table is None or (table.code == "m" and item[1] not in bundle.SYNCED_META_KEYS):
                raise BundleError(f"unexpected line in a delta bundle: {code[:10]!r}")
            put = None if code.endswith("-") else checked_small(table, item[1:])
            if put is None and (len(item) != 2 or not isinstance(item[1], int if table.code == "q" else str)):
                raise BundleError(f"bad deletion from {table.name} in bundle")
        if table is not batch_table or len(puts) + len(deletes) >= 10000:
            if batch_table is not None:
                digest = change_rows(conn, batch_table, puts, deletes, digest)
            batch_table, puts, deletes = table, [], []
        if put is None:
            deletes.append(item[1])
        else:
            puts.append(put)
            rows += table is QUALIFICATION_TABLE
    if batch_table is not None:
        digest = change_rows(conn, batch_table, puts, deletes, digest)
    return digest, rows
