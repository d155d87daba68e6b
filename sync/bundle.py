"""The bundle: a facility's data as encrypted, compressed JSON lines, and its digest.

Plaintext: zlib-compressed JSON lines. The first line is the header ``["h", {...}]``; then
``["m", key, value]`` (meta: the card link key), ``["i", insurer_number, name]`` /
``["i-", insurer_number]``, ``["r", card_link, reason]`` / ``["r-", card_link]``,
``["c", card_link, patient_id]`` / ``["c-", card_link]`` (certificates resolved to a patient),
``["q-", record_id]``, and last the qualification rows as bare arrays in
`edge.store.COLUMN_NAMES` order (their first element, record_id, is an int: no tag to strip
before `executemany`). A row leaves out the columns added after release 0.1.0 while they are
empty (`record_line`): such a row reads, and hashes, the same on a device of any release. A
device of an older release refuses a bundle with columns or tables it does not know, whole:
update the desks before the hub. Deletions come before puts.

Encryption: AES-256-GCM in frames of at most `FRAME_BYTES` of compressed plaintext, so a
device never holds a whole bundle in memory (AES-GCM authenticates a message only when it is
whole). The file is ``MAGIC || nonce_prefix(8)`` then frames ``size(4, big-endian; top bit = last frame) ||
ciphertext+tag``. Frame i uses nonce ``nonce_prefix || i`` and authenticates
``MAGIC || i || last`` as associated data, so frames cannot be reordered, dropped or cut
short without the tag check failing. TUF already checks the hash of the whole file before
we decrypt; the framing keeps that true for a bundle read outside TUF too.

Digest: an additive multiset hash, the sum mod 2**256 of sha256(tag || canonical row) over
every row of every synced table. A delta updates it from the rows it replaces or deletes
alone, so checking a 1k-row delta against the hub's digest costs 1k lookups, not a scan of
the whole cache; a full apply sums the rows as it inserts them.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from madoguchi.edge import store

MAGIC = b"MDGB1\n"
FRAME_BYTES = 1 << 20
INFLATE_BYTES = 1 << 18
# A row is well under 2 kB and a facility holds at most a few million: anything beyond is hostile,
# even when validly signed (a hub bug or a stolen key), and must not exhaust a device.
MAX_LINE_BYTES = 64 * 1024
MAX_LINES = 10_000_000
DIGEST_MODULUS = 1 << 256
KEY_BYTES = 32
LAST_FRAME = 1 << 31
# Tags of the multiset hash: one per synced table.
QUALIFICATION, INSURER, REVOKED, META, LINK = b"q\0", b"i\0", b"r\0", b"m\0", b"c\0"
SYNCED_META_KEYS = ("link_key",)


class BundleError(ValueError):
    """The bundle cannot be decrypted or parsed: wrong facility key, or a hub bug."""


# ---- canonical rows and the digest ---------------------------------------------

def canonical(row: Iterable) -> bytes:
    return json.dumps(list(row), ensure_ascii=False, separators=(",", ":")).encode()


def record_line(row: Sequence) -> bytes:
    """A qualification row's canonical line: without its trailing empty columns beyond release
    0.1.0's (a row of an older hub, or one with nothing more to say, is the same line)."""
    width = len(row)
    while width > store.RELEASE_0_1_COLUMNS and row[width - 1] in ("", None):
        width -= 1
    return canonical(row[:width])


def row_hash(tag: bytes, line: bytes) -> int:
    return int.from_bytes(hashlib.sha256(tag + line).digest(), "big")


def digest_hex(value: int) -> str:
    return f"{value % DIGEST_MODULUS:064x}"


def scan_digest(conn: sqlite3.Connection) -> int:
    """The digest of everything synced, by a full scan (publishing, tests, repair)."""
    total = 0
    for row in store.table_rows(conn, "qualification"):
        total += row_hash(QUALIFICATION, record_line(row))
    for table, tag in (("insurer", INSURER), ("revoked_certificate", REVOKED), ("certificate_link", LINK)):
        for row in store.table_rows(conn, table):
            total += row_hash(tag, canonical(row))
    for key in SYNCED_META_KEYS:
        value = store.get_meta(conn, key)
        if value:
            total += row_hash(META, canonical((key, value)))
    return total % DIGEST_MODULUS


# ---- encryption -----------------------------------------------------------------

def load_facility_key(path: Path) -> bytes:
    """The facility key file: 64 hex digits (AES-256)."""
    try:
        key = bytes.fromhex(Path(path).read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"cannot read the facility key {path}: {exc}") from None
    if len(key) != KEY_BYTES:
        raise BundleError(f"the facility key {path} must be {KEY_BYTES * 2} hex digits")
    return key


def new_facility_key() -> str:
    return secrets.token_hex(KEY_BYTES)


def key_id(key: bytes) -> str:
    """A facility key's public name: the TUF targets metadata says which key encrypts each bundle."""
    return hashlib.sha256(b"madoguchi facility key id\0" + key).hexdigest()[:16]


def _aad(index: int, last: bool) -> bytes:
    return MAGIC + struct.pack(">I?", index, last)


class BundleWriter:
    """Writes JSON lines compressed and encrypted frame by frame into `out`."""

    def __init__(self, out: BinaryIO, key: bytes, level: int = 6) -> None:
        self._out = out
        self._aead = AESGCM(key)
        self._prefix = os.urandom(8)
        self._index = 0
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._compressor = zlib.compressobj(level)
        out.write(MAGIC + self._prefix)

    def write_line(self, line: bytes) -> None:
        self._add(self._compressor.compress(line + b"\n"))

    def _add(self, chunk: bytes) -> None:
        if chunk:
            self._pending.append(chunk)
            self._pending_bytes += len(chunk)
            if self._pending_bytes > FRAME_BYTES:
                data = b"".join(self._pending)
                while len(data) > FRAME_BYTES:  # keep something back for the final frame
                    self._frame(data[:FRAME_BYTES], last=False)
                    data = data[FRAME_BYTES:]
                self._pending, self._pending_bytes = [data], len(data)

    def close(self) -> None:
        self._add(self._compressor.flush())
        self._frame(b"".join(self._pending), last=True)

    def _frame(self, plaintext: bytes, last: bool) -> None:
        nonce = self._prefix + struct.pack(">I", self._index)
        sealed = self._aead.encrypt(nonce, plaintext, _aad(self._index, last))
        self._out.write(struct.pack(">I", len(sealed) | (LAST_FRAME if last else 0)) + sealed)
        self._index += 1


def read_lines(path: Path, key: bytes) -> Iterator[bytes]:
    """Decrypt and decompress a bundle file, yielding its lines (without newlines); at most
    `MAX_LINES` lines of at most `MAX_LINE_BYTES` each (BundleError beyond)."""
    aead = AESGCM(key)
    decompressor = zlib.decompressobj()
    tail: list[bytes] = []  # the pieces of an unfinished line
    tail_bytes, lines = 0, 0
    with open(path, "rb") as f:
        head = f.read(len(MAGIC) + 8)
        if len(head) != len(MAGIC) + 8 or not head.startswith(MAGIC):
            raise BundleError("not a madoguchi bundle (bad magic)")
        prefix = head[len(MAGIC):]
        index, last = 0, False
        while not last:
            size_bytes = f.read(4)
            if len(size_bytes) != 4:
                raise BundleError("bundle cut short: no final frame")
            (word,) = struct.unpack(">I", size_bytes)
            size, last = word & ~LAST_FRAME, bool(word & LAST_FRAME)
            if size > FRAME_BYTES + 16:
                raise BundleError(f"frame {index} too large ({size} bytes)")
            sealed = f.read(size)
            try:
                plaintext = aead.decrypt(prefix + struct.pack(">I", index), sealed, _aad(index, last))
            except InvalidTag:
                raise BundleError(f"frame {index} failed authentication (wrong facility key or corrupt bundle)") from None
            while plaintext:  # in bounded pieces: a frame inflates to several MB of lines
                try:
                    data = decompressor.decompress(plaintext, INFLATE_BYTES)
                except zlib.error as exc:
                    raise BundleError(f"frame {index}: bad compressed data: {exc}") from None
                plaintext = decompressor.unconsumed_tail
                # Linear: each byte is copied once into its line, however long the line grows.
                start = 0
                while (end := data.find(b"\n", start)) != -1:
                    if end - start + tail_bytes > MAX_LINE_BYTES:
                        raise BundleError(f"a line longer than {MAX_LINE_BYTES} bytes")
                    line = b"".join((*tail, data[start:end])) if tail else data[start:end]
                    tail, tail_bytes, start = [], 0, end + 1
                    lines += 1
                    if lines > MAX_LINES:
                        raise BundleError(f"more than {MAX_LINES} lines")
                    yield line
                if start < len(data):
                    tail.append(data[start:])
                    tail_bytes += len(data) - start
                    if tail_bytes > MAX_LINE_BYTES:
                        raise BundleError(f"a line longer than {MAX_LINE_BYTES} bytes")
            index += 1
        if f.read(1):
            raise BundleError("bytes after the final frame")
    if tail or not decompressor.eof:
        raise BundleError("bundle ends inside a line or a compressed stream")


# json.loads without its checks of the input's type and encoding (set in __init__: typeshed lacks it)
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def parse(line: bytes) -> list:
    """One line, as the hub writes it (canonical: UTF-8, nothing around the value)."""
    try:
        text = line.decode()
        item, end = _scan(text, 0)
    except StopIteration:
        raise BundleError("bad line in bundle: not JSON") from None
    except ValueError as exc:
        raise BundleError(f"bad line in bundle: {exc}") from None
    if end != len(text):
        raise BundleError("bad line in bundle: extra data after the value")
    if not isinstance(item, list) or not item:
        raise BundleError("bad line in bundle: not a non-empty array")
    return item
