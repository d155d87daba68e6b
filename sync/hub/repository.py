"""The hub: per-facility data in its own store, published as a signed, encrypted TUF repository.

Layout under the hub directory (``<data_dir>/hub``)::

    facilities/<facility>/cache.db   the facility's data (edge.store schema + hub_change)
    keys/<facility>/                 signing keys and the facility key: never served
    repo/                            the served directory: <facility>/metadata, <facility>/targets

Each publish writes a delta from the previous data version (``delta-<from>-<to>.bundle``) and,
when due, a new full bundle (``full.bundle``). Every delta after the full bundle stays listed,
plus the last `KEEP_DELTAS`; older ones are pruned (a device further behind takes the full
bundle, then the deltas after it). Each target's ``custom`` says kind,
from, to, the digest of the data after applying, and when the data was generated.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from madoguchi.edge import store
from madoguchi.edge.model import stored_field_problems
from madoguchi.sync import bundle
from madoguchi.sync.bundle import BundleWriter, canonical, record_line
from madoguchi.sync.hub import store as hubstore
from madoguchi.sync.protocol import FULL_TARGET, delta_target, is_facility_name
from madoguchi.sync.tables import (
    INSURER_TABLE,
    LINK_TABLE,
    META_TABLE,
    QUALIFICATION_TABLE,
    REVOKED_TABLE,
    TABLES,
    Table,
    change_rows,
    get_digest,
    set_digest,
)
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

log = logging.getLogger(__name__)

ROLES = ("root", "targets", "snapshot", "timestamp")
ROOT_EXPIRY = timedelta(days=365)
TARGETS_EXPIRY = timedelta(days=30)  # targets and snapshot: re-signed by publish and by the timestamp job
RESIGN_BEFORE = timedelta(days=10)
TIMESTAMP_EXPIRY = timedelta(hours=6)  # short: bounds how long a replayed timestamp can freeze a new device
TIMESTAMP_INTERVAL = timedelta(hours=1)
KEEP_DELTAS = 24
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8470
PUBLISH_TMP_PREFIX = "publish-tmp-"
# The root keys live off the hub (a removable medium or another machine, docs/appliance.md): this
# variable, or HubPaths.root_keys, names the directory holding <facility>/root.pem while a
# technician signs a first root or a rotation. The hub's service never has it.
ROOT_KEYS_ENV = "MADOGUCHI_ROOT_KEYS"


class HubError(RuntimeError):
    """A hub command cannot go on (unknown facility, bad input file)."""


@dataclass(frozen=True)
class HubPaths:
    hub_dir: Path
    root_keys: Path | None = None  # the root medium (else $MADOGUCHI_ROOT_KEYS); never under hub_dir

    @property
    def served(self) -> Path:
        return self.hub_dir / "repo"

    def facilities(self) -> list[str]:
        base = self.hub_dir / "facilities"
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.exists() else []

    def store_dir(self, facility: str) -> Path:
        return self.hub_dir / "facilities" / facility

    def keys(self, facility: str) -> Path:
        return self.hub_dir / "keys" / facility

    def repo(self, facility: str) -> Path:
        return self.served / facility

    def metadata(self, facility: str) -> Path:
        return self.repo(facility) / "metadata"

    def targets(self, facility: str) -> Path:
        return self.repo(facility) / "targets"

    def facility_key(self, facility: str) -> Path:
        return self.keys(facility) / "facility.key"

    def root_key(self, facility: str) -> Path:
        """The facility's root key on the root medium; HubError when no medium is given."""
        base = self.root_keys or (Path(os.environ[ROOT_KEYS_ENV]) if os.environ.get(ROOT_KEYS_ENV) else None)
        if base is None:
            raise HubError(f"signing {facility}'s root needs the root key, kept off the hub: mount its medium "
                           f"and give --root-keys DIR or ${ROOT_KEYS_ENV} (docs/appliance.md)")
        return base / facility / "root.pem"

    def trusted_root(self, facility: str) -> Path:
        """The current root metadata: what a new device is given at `sync init`."""
        return self.metadata(facility) / "root.json"


def check_facility_name(name: str) -> str:
    if not is_facility_name(name):
        raise HubError(f"facility name {name!r}: use ASCII letters, digits, '-' and '_'")
    return name


# ---- the hub's store ------------------------------------------------------------------

def secure_hub_dirs(paths: HubPaths) -> None:
    """The hub's directories, readable by their owner only whatever the umask (personal data, keys)."""
    for directory in (paths.hub_dir, paths.hub_dir / "facilities", paths.hub_dir / "keys", paths.served):
        store.secure_dir(directory)


def open_facility_store(paths: HubPaths, facility: str, create: bool = False) -> sqlite3.Connection:
    """The facility's data on the hub (sync.hub.store): the device's schema, plus the hub's tables."""
    directory = paths.store_dir(facility)
    if not create and not store.database_path(directory).exists():
        raise HubError(f"no facility {facility!r} on this hub: run `madoguchi hub import` first")
    if create:
        secure_hub_dirs(paths)
    conn = hubstore.open_facility_store(directory, create=create)
    if create:
        os.chmod(store.database_path(directory), 0o600)
    return conn


class FacilityStores:
    """The facility stores a long-lived process (the API) keeps open, one connection per
    facility, opened on first use and used by one thread at a time (`connection`). Opening one
    costs more than the query it serves; a forked worker opens its own (none is open at fork)."""

    def __init__(self, paths: HubPaths) -> None:
        self.paths = paths
        self._open: dict[str, tuple[sqlite3.Connection, threading.Lock]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def connection(self, facility: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if facility not in self._open:
                self._open[facility] = (open_facility_store(self.paths, facility), threading.Lock())
            conn, lock = self._open[facility]
        with lock:
            yield conn

    def close(self) -> None:
        with self._lock:
            for conn, lock in self._open.values():
                with lock:
                    conn.close()
            self._open.clear()


def change(conn: sqlite3.Connection, table: Table, puts: Iterable, deletes: Iterable) -> int:
    """Change rows of the facility's data (inside a transaction), noting them for the next
    delta, in batches (an import may change a million rows). Returns the rows changed."""
    digest, count = get_digest(conn) or 0, 0
    for batch in batched(deletes):
        digest = change_rows(conn, table, [], batch, digest)
        hubstore.note_changes(conn, table.code, batch)
        count += len(batch)
    for batch in batched(puts):
        digest = change_rows(conn, table, batch, [], digest)
        hubstore.note_changes(conn, table.code, [row[0] for row in batch])
        count += len(batch)
    set_digest(conn, digest)
    return count


def batched(items: Iterable, size: int = 10000) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def import_population(paths: HubPaths, facility: str, lines: Iterable[str], today: date) -> dict:
    """Make the facility's records those of a records file (JSON lines in the record model's form,
    as the simulator and `madoguchi population --out` write them) known `today` (registered by
    then); insurers are named as the records name them. Changed rows are noted for the next delta."""
    check_facility_name(facility)
    conn = open_facility_store(paths, facility, create=True)
    iso = today.isoformat()
    try:
        with store.transaction(conn):
            names: dict[str, str] = {}

            def known(records: Iterator[dict]) -> Iterator[tuple]:
                for r in records:
                    if r["registered_on"] <= iso:
                        if r.get("insurer_name"):
                            names[r["insurer_number"]] = r["insurer_name"]
                        yield store.record_row(r)

            hubstore.stage_import(conn, known(_records(lines)))
            deleted = change(conn, QUALIFICATION_TABLE, [], hubstore.staged_deleted(conn))
            changed = change(conn, QUALIFICATION_TABLE, hubstore.staged_changed(conn), [])
            current = hubstore.insurers(conn)
            change(conn, INSURER_TABLE, [(k, v) for k, v in names.items() if current.get(k) != v], [])
            if not store.get_meta(conn, "link_key"):
                change(conn, META_TABLE, [("link_key", secrets.token_hex(32))], [])
            total = store.count_records(conn)
    finally:
        conn.close()
    return {"facility": facility, "records": total, "changed": changed, "deleted": deleted}


REQUIRED_FIELDS = ("record_id", "insurer_number", "number", "birth_date", "qualification_date", "as_of",
                   "registered_on")
MAX_IMPORT_LINE = 64 * 1024
MAX_IMPORT_PROBLEMS = 20  # named in the error; the count says how many more


def _records(lines: Iterable[str]) -> Iterator[dict]:
    """The records of a records file, every field of each checked against the record model.
    Any bad line refuses the whole file (HubError naming lines and fields, never values) — raised
    once the file is read, before the import's transaction commits."""
    problems: list[str] = []
    count = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        found = _record_problems(line)
        if isinstance(found, dict):
            yield found
            continue
        count += 1
        if len(problems) < MAX_IMPORT_PROBLEMS:
            problems.append(f"line {number}: {'; '.join(found)}")
    if problems:
        more = f" (and {count - len(problems)} more bad lines)" if count > len(problems) else ""
        raise HubError(f"{count} bad record(s), nothing imported: " + " | ".join(problems) + more)


def _record_problems(line: str) -> dict | list[str]:
    """The record on `line`, or what is wrong with it."""
    if len(line) > MAX_IMPORT_LINE:
        return [f"longer than {MAX_IMPORT_LINE} characters"]
    try:
        record = json.loads(line)
    except ValueError:
        return ["not JSON"]
    if not isinstance(record, dict):
        return ["not a JSON object"]
    missing = [f for f in REQUIRED_FIELDS if record.get(f) in (None, "")]
    if missing:
        return [f"missing {', '.join(missing)}"]
    problems = store.row_problems(store.record_row(record))
    problems += [f"registered_on: {p.split(': ', 1)[1]}"
                 for p in stored_field_problems({"birth_date": record["registered_on"]})]
    return problems or record


def revoke(paths: HubPaths, facility: str, card_link: str, reason: str) -> None:
    """Add a certificate to the facility's revocation list (published with the next delta)."""
    conn = open_facility_store(paths, facility)
    try:
        with store.transaction(conn):
            change(conn, REVOKED_TABLE, [(card_link, reason)], [])
    finally:
        conn.close()


# ---- keys --------------------------------------------------------------------------------

def _key_path(paths: HubPaths, facility: str, role: str) -> Path:
    return paths.root_key(facility) if role == "root" else paths.keys(facility) / f"{role}.pem"


def _signer(paths: HubPaths, facility: str, role: str) -> CryptoSigner:
    path = _key_path(paths, facility, role)
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise HubError(f"no {role} key at {path}" + (": is this the facility's root medium?" if role == "root"
                                                       else "")) from None
    return CryptoSigner(load_pem_private_key(pem, None))


def _new_signer(paths: HubPaths, facility: str, role: str) -> CryptoSigner:
    signer = CryptoSigner.generate_ed25519()
    write_private(_key_path(paths, facility, role), signer.private_bytes)
    return signer


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


@contextmanager
def locked(paths: HubPaths, facility: str) -> Iterator[None]:
    """One writer of a facility's repository at a time (publish, timestamp job, rotation)."""
    paths.keys(facility).mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(paths.keys(facility) / ".lock", os.O_WRONLY | os.O_CREAT, 0o600), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# ---- the TUF repository ----------------------------------------------------------------------

class Repository:
    """A facility's TUF repository on disk (consistent snapshots)."""

    def __init__(self, paths: HubPaths, facility: str) -> None:
        self.paths, self.facility = paths, facility
        self.dir = paths.metadata(facility)

    def exists(self) -> bool:
        return (self.dir / "timestamp.json").exists()

    def load(self, role: str) -> Metadata:
        name = "root.json" if role == "root" else f"{role}.json"
        if role in ("targets", "snapshot"):
            name = f"{self._version(role)}.{role}.json"
        return Metadata.from_file(str(self.dir / name))

    def _version(self, role: str) -> int:
        return int((self.dir / f".{role}-version").read_text())

    def write(self, md: Metadata, signers: list[CryptoSigner]) -> None:
        md.signatures.clear()
        for signer in signers:
            md.sign(signer, append=True)
        data = md.to_bytes(JSONSerializer(compact=True))
        role, version = md.signed.type, md.signed.version
        if role == "timestamp":
            atomic_write(self.dir / "timestamp.json", data)
            return
        atomic_write(self.dir / f"{version}.{role}.json", data)
        if role == "root":
            atomic_write(self.dir / "root.json", data)
        else:
            atomic_write(self.dir / f".{role}-version", str(version).encode())

    def create(self, now: datetime) -> None:
        for directory in (self.paths.repo(self.facility), self.dir, self.paths.targets(self.facility)):
            store.secure_dir(directory)
        # a root key already on the medium for this facility (a rebuilt hub) stays its root identity
        signers = {role: _signer(self.paths, self.facility, role)
                   if role == "root" and self.paths.root_key(self.facility).exists()
                   else _new_signer(self.paths, self.facility, role) for role in ROLES}
        root = Root(expires=now + ROOT_EXPIRY, consistent_snapshot=True)
        for role, signer in signers.items():
            root.add_key(signer.public_key, role)
        self.write(Metadata(root), [signers["root"]])
        targets = Targets(expires=now + TARGETS_EXPIRY)
        self.write(Metadata(targets), [signers["targets"]])
        self._sign_snapshot_and_timestamp(now, 1, None, None)

    def _sign_snapshot_and_timestamp(self, now: datetime, targets_version: int, snapshot: Metadata | None,
                                     timestamp: Metadata | None) -> None:
        snap = snapshot or Metadata(Snapshot(expires=now))
        if snapshot:
            snap.signed.version += 1
        snap.signed.expires = now + TARGETS_EXPIRY
        snap.signed.meta["targets.json"] = MetaFile(version=targets_version)
        self.write(snap, [_signer(self.paths, self.facility, "snapshot")])
        self.sign_timestamp(now, timestamp, snap.signed.version)

    def sign_timestamp(self, now: datetime, timestamp: Metadata | None, snapshot_version: int,
                       expires: datetime | None = None) -> None:
        stamp = timestamp or Metadata(Timestamp(expires=now))
        if timestamp:
            stamp.signed.version += 1
        stamp.signed.expires = expires or now + TIMESTAMP_EXPIRY
        path = self.dir / f"{snapshot_version}.snapshot.json"
        data = path.read_bytes()
        stamp.signed.snapshot_meta = MetaFile(version=snapshot_version, length=len(data),
                                              hashes={"sha256": hashlib.sha256(data).hexdigest()})
        self.write(stamp, [_signer(self.paths, self.facility, "timestamp")])

    def publish_targets(self, now: datetime, new_targets: dict[str, TargetFile]) -> list[str]:
        """Sign new targets metadata listing `new_targets` plus the deltas kept; return the
        target files no longer listed (to delete once no device may still be fetching them)."""
        targets = self.load("targets")
        before = dict(targets.signed.targets)
        listed = {**before, **new_targets}
        full_version = listed[FULL_TARGET].custom["to"] if FULL_TARGET in listed else 0
        deltas = sorted((t for t in listed.values() if t.custom.get("kind") == "delta"),
                        key=lambda t: t.custom["to"])
        for old in deltas[:-KEEP_DELTAS]:
            if old.custom["to"] <= full_version:  # deltas after the full bundle are its way forward
                del listed[old.path]
        targets.signed.targets = listed
        targets.signed.version += 1
        targets.signed.expires = now + TARGETS_EXPIRY
        self.write(targets, [_signer(self.paths, self.facility, "targets")])
        self._sign_snapshot_and_timestamp(now, targets.signed.version, self.load("snapshot"), self.load("timestamp"))
        kept = {self._file_name(t) for t in listed.values()}
        return [self._file_name(t) for t in before.values() if self._file_name(t) not in kept]

    def refresh(self, now: datetime) -> None:
        """The scheduled job: a new timestamp; new targets and snapshot when they near expiry."""
        targets = self.load("targets")
        if targets.signed.expires - now < RESIGN_BEFORE:
            self.publish_targets(now, {})
            return
        snapshot = self.load("snapshot")
        if snapshot.signed.expires - now < RESIGN_BEFORE:
            self._sign_snapshot_and_timestamp(now, targets.signed.version, snapshot, self.load("timestamp"))
            return
        self.sign_timestamp(now, self.load("timestamp"), snapshot.signed.version)

    def rotate_root(self, now: datetime) -> int:
        """New root and timestamp keys; the new root is signed by the old root key and the new
        one, so a device holding any earlier root walks the chain. Returns the new root version."""
        root = self.load("root")
        old_root_signer = _signer(self.paths, self.facility, "root")
        for role in ("root", "timestamp"):
            for keyid in list(root.signed.roles[role].keyids):
                root.signed.revoke_key(keyid, role)
        new_root = _new_signer(self.paths, self.facility, "root")
        new_timestamp = _new_signer(self.paths, self.facility, "timestamp")
        root.signed.add_key(new_root.public_key, "root")
        root.signed.add_key(new_timestamp.public_key, "timestamp")
        root.signed.version += 1
        root.signed.expires = now + ROOT_EXPIRY
        self.write(root, [old_root_signer, new_root])
        self.sign_timestamp(now, self.load("timestamp"), self.load("snapshot").signed.version)
        return root.signed.version

    def _file_name(self, target: TargetFile) -> str:
        return f"{target.hashes['sha256']}.{target.path}"

    def prune_metadata(self, keep: int = 3) -> None:
        """Old snapshot and targets versions are never fetched again (roots are kept: the chain)."""
        for role in ("snapshot", "targets"):
            current = self._version(role)
            for path in self.dir.glob(f"*.{role}.json"):
                if int(path.name.split(".")[0]) <= current - keep:
                    path.unlink()


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)  # served by the hub's own process: nobody else needs to read it
    os.replace(tmp, path)


# ---- publishing -----------------------------------------------------------------------------

def ensure_facility(paths: HubPaths, facility: str, now: datetime) -> None:
    """Keys, facility key and an empty repository for a new facility."""
    check_facility_name(facility)
    secure_hub_dirs(paths)
    with locked(paths, facility):
        clean_leftovers(paths, facility)
        if not paths.facility_key(facility).exists():
            write_private(paths.facility_key(facility), bundle.new_facility_key().encode())
        repo = Repository(paths, facility)
        if not repo.exists():
            repo.create(now)


def clean_leftovers(paths: HubPaths, facility: str) -> list[Path]:
    """What a killed publish, timestamp job or key write of the facility left behind: its temporary
    directory, half-written metadata and keys. Call holding the facility's lock."""
    found = [*paths.hub_dir.glob(f"{PUBLISH_TMP_PREFIX}{facility}-*"), *paths.metadata(facility).glob(".tmp-*"),
             *paths.keys(facility).glob("*.tmp")]
    for path in found:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if found:
        log.info("%s: removed %d leftover(s) of an interrupted publish", facility, len(found))
    return found


def _write_bundle(path: Path, key: bytes, header: dict, lines: Iterable[bytes]) -> int:
    count = 0
    with open(path, "wb") as out:
        writer = BundleWriter(out, key)
        writer.write_line(canonical(("h", header)))
        for line in lines:
            writer.write_line(line)
            count += 1
        writer.close()
    return count


def _full_lines(conn: sqlite3.Connection) -> Iterator[bytes]:
    for key in bundle.SYNCED_META_KEYS:
        value = store.get_meta(conn, key)
        if value is not None:
            yield canonical(("m", key, value))
    for table in (INSURER_TABLE, REVOKED_TABLE, LINK_TABLE):
        for row in store.table_rows(conn, table.name):
            yield canonical((table.code, *row))
    for row in store.table_rows(conn, QUALIFICATION_TABLE.name):
        yield record_line(row)


def _delta_lines(conn: sqlite3.Connection, pending: list[tuple[str, str]]) -> Iterator[bytes]:
    puts: dict[str, list] = {code: [] for code in TABLES}
    for code, key in pending:
        table = TABLES[code]
        row = store.row_by_key(conn, table.name, int(key) if code == "q" else key)
        if row is None:
            yield canonical((f"{code}-", int(key) if code == "q" else key))
        else:
            puts[code].append(row)
    for code in ("m", "i", "r", "c"):
        for row in puts[code]:
            yield canonical((code, *row))
    for row in puts["q"]:
        yield record_line(row)


@dataclass(frozen=True)
class Published:
    facility: str
    data_version: int
    digest: str
    records: int
    delta_rows: int | None  # None: first publish, full bundle only
    changed: bool


def publish(paths: HubPaths, facility: str, now: datetime | None = None, full: bool = False) -> Published:
    """Publish the facility's pending changes as a new data version: a delta from the previous
    version, and a new full bundle when due (or `full`). Nothing pending: nothing is signed."""
    now = now or store.utcnow()
    ensure_facility(paths, facility, now)
    conn = open_facility_store(paths, facility, create=True)
    try:
        with locked(paths, facility):
            return _publish(paths, facility, conn, now, full)
    finally:
        conn.close()


def _publish(paths: HubPaths, facility: str, conn: sqlite3.Connection, now: datetime, full: bool) -> Published:
    previous = int(store.get_meta(conn, "published_version") or 0)
    pending = hubstore.pending_changes(conn)
    records = store.count_records(conn)
    digest = bundle.digest_hex(get_digest(conn) or 0)
    if previous and not pending and not full:
        return Published(facility, previous, digest, records, None, False)
    # The version is reserved (committed) before anything is signed. A publish that died after
    # reserving may have been seen by devices: its version is never issued again, and the next
    # one brings a full bundle (and a delta from the dead one's version: the changes since the
    # last recorded version, all of them still pending, take a device from either to the new).
    reserved = int(store.get_meta(conn, "reserved_version") or 0)
    if reserved > previous:
        log.warning("%s: a publish of data version %d did not finish; publishing %d", facility, reserved,
                    reserved + 1)
        full, previous = True, reserved
    version = previous + 1
    with store.transaction(conn):
        store.set_meta(conn, "reserved_version", str(version))
    key = bundle.load_facility_key(paths.facility_key(facility))
    repo = Repository(paths, facility)
    targets_dir = paths.targets(facility)
    header = {"facility": facility, "to": version, "digest": digest, "generated_at": now.isoformat(),
              "key_id": bundle.key_id(key)}
    new: dict[str, TargetFile] = {}
    delta_rows = None
    with tempfile.TemporaryDirectory(dir=paths.hub_dir, prefix=f"{PUBLISH_TMP_PREFIX}{facility}-") as tmp:
        if previous:
            name = delta_target(previous, version)
            delta_path = Path(tmp) / name
            delta_rows = _write_bundle(delta_path, key, {**header, "kind": "delta", "from": previous},
                                       _delta_lines(conn, pending))
            new[name] = _target(delta_path, name, {**header, "kind": "delta", "from": previous, "rows": delta_rows})
        if full or not previous or _full_is_due(repo.load("targets").signed.targets, new):
            full_path = Path(tmp) / FULL_TARGET
            _write_bundle(full_path, key, {**header, "kind": "full", "from": None}, _full_lines(conn))
            new[FULL_TARGET] = _target(full_path, FULL_TARGET,
                                       {**header, "kind": "full", "from": None, "rows": records})
        for name, target in new.items():
            os.chmod(Path(tmp) / name, 0o600)
            os.replace(Path(tmp) / name, targets_dir / repo._file_name(target))
    unlisted = repo.publish_targets(now, new)
    with store.transaction(conn):
        hubstore.clear_changes(conn)
        store.set_meta(conn, "published_version", str(version))
        store.set_meta(conn, "published_at", now.isoformat())
    # Files unlisted by this publish may still be fetched by a device that read the previous
    # targets: delete what the publish before unlisted, keep this publish's for one round.
    for name in json.loads(store.get_meta(conn, "unlisted_targets") or "[]"):
        (targets_dir / name).unlink(missing_ok=True)
    with store.transaction(conn):
        store.set_meta(conn, "unlisted_targets", json.dumps(unlisted))
    repo.prune_metadata()
    log.info("published %s data version %d (%d records, delta %s rows)", facility, version, records, delta_rows)
    return Published(facility, version, digest, records, delta_rows, True)


def _full_is_due(listed: dict[str, TargetFile], new: dict[str, TargetFile]) -> bool:
    """Rebuild the full bundle when the deltas since it reach half its size or half the deltas
    kept: a new device then downloads at most about 1.5 times the data. Otherwise a publish
    writes only the delta, so that a small change reaches the desks in milliseconds."""
    full = listed.get(FULL_TARGET)
    if full is None:
        return True
    since = [t for t in (*listed.values(), *new.values())
             if t.custom.get("kind") == "delta" and t.custom["to"] > full.custom["to"]]
    return len(since) >= KEEP_DELTAS // 2 or sum(t.length for t in since) >= full.length // 2


def _target(path: Path, name: str, custom: dict) -> TargetFile:
    target = TargetFile.from_file(name, str(path), ["sha256"])
    target.unrecognized_fields["custom"] = custom
    return target


def refresh_timestamps(paths: HubPaths, now: datetime | None = None) -> list[str]:
    """Re-sign every facility's timestamp (and targets/snapshot near expiry)."""
    now = now or store.utcnow()
    done = []
    for facility in paths.facilities():
        repo = Repository(paths, facility)
        if repo.exists():
            with locked(paths, facility):
                clean_leftovers(paths, facility)
                repo.refresh(now)
            done.append(facility)
    return done


def rotate_root(paths: HubPaths, facility: str, now: datetime | None = None) -> int:
    repo = Repository(paths, facility)
    if not repo.exists():
        raise HubError(f"no repository for facility {facility!r}")
    with locked(paths, facility):
        return repo.rotate_root(now or store.utcnow())


def facility_status(paths: HubPaths, facility: str) -> dict:
    conn = open_facility_store(paths, facility)
    try:
        pending = hubstore.count_changes(conn)
        info = {
            "facility": facility,
            "database": str(store.database_path(paths.store_dir(facility))),
            "records": store.count_records(conn),
            "data_version": int(store.get_meta(conn, "published_version") or 0),
            "published_at": store.get_meta(conn, "published_at"),
            "pending_changes": pending,
            "repository": str(paths.repo(facility)),
            "trusted_root": str(paths.trusted_root(facility)),
            "facility_key": str(paths.facility_key(facility)),
            # a hub from before the root key moved off it: move the file to the root medium
            "root_key_on_hub": (paths.keys(facility) / "root.pem").exists(),
        }
    finally:
        conn.close()
    repo = Repository(paths, facility)
    if repo.exists():
        info["root_version"] = repo.load("root").signed.version
        info["timestamp_expires"] = repo.load("timestamp").signed.expires.isoformat()
    return info


# ---- serving --------------------------------------------------------------------------------

class _StaticHandler(SimpleHTTPRequestHandler):
    """Files only: no directory listing, nothing whose path has a part starting with a dot
    (the version pointers, temporary files)."""

    def send_head(self):
        parts = self.path.split("?", 1)[0].split("#", 1)[0].split("/")
        if any(part.startswith((".", "%2e", "%2E")) for part in parts) or self.path.endswith("/"):
            self.send_error(404, "File not found")
            return None
        return super().send_head()

    def list_directory(self, path):
        self.send_error(404, "File not found")
        return None

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)


def make_server(paths: HubPaths, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """A static file server for the served directory (port 0: any free port)."""
    secure_hub_dirs(paths)
    handler = partial(_StaticHandler, directory=str(paths.served))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
