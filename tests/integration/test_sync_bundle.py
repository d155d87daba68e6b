"""The bundle format (chunked AES-GCM framing) and the incremental multiset digest."""

from __future__ import annotations

import io
import json
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from madoguchi.edge import store
from madoguchi.sim import population
from madoguchi.sync import bundle
from madoguchi.sync.tables import INSURER_TABLE, QUALIFICATION_TABLE, change_rows, get_digest, set_digest

from tests.integration.test_sync_support import NOW, TODAY

KEY = bytes(range(32))
COLUMN = {name: i for i, name in enumerate(store.COLUMN_NAMES)}
lines_strategy = st.lists(st.binary(max_size=200).map(lambda b: b.replace(b"\n", b"")), max_size=40)


def write(lines: list[bytes], key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    writer = bundle.BundleWriter(out, key, level=0)
    for line in lines:
        writer.write_line(line)
    writer.close()
    return out.getvalue()


def read(data: bytes, key: bytes = KEY) -> list[bytes]:
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        return list(bundle.read_lines(Path(f.name), key))


def frames(data: bytes) -> list[bytes]:
    """Split a bundle into its raw frames (size word included)."""
    pos, result = len(bundle.MAGIC) + 8, []
    while pos < len(data):
        (word,) = struct.unpack(">I", data[pos:pos + 4])
        size = word & ~bundle.LAST_FRAME
        result.append(data[pos:pos + 4 + size])
        pos += 4 + size
    return result


@settings(max_examples=60, deadline=None)
@given(lines_strategy)
def test_lines_round_trip_across_many_frames(lines):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bundle, "FRAME_BYTES", 32)
        assert read(write(lines)) == lines


def test_reordered_dropped_or_relabelled_frames_fail():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bundle, "FRAME_BYTES", 32)
        data = write([b"x" * 50, b"y" * 70, b"z" * 90])
        head, parts = data[:len(bundle.MAGIC) + 8], frames(data)
        assert len(parts) >= 3
        swapped = head + parts[1] + parts[0] + b"".join(parts[2:])
        dropped_last = head + b"".join(parts[:-1])
        last_word = struct.unpack(">I", parts[0][:4])[0] | bundle.LAST_FRAME
        early_end = head + struct.pack(">I", last_word) + parts[0][4:]
        for bad in (swapped, dropped_last, early_end):
            with pytest.raises(bundle.BundleError):
                read(bad)
        with pytest.raises(bundle.BundleError):
            read(data, bytes(32))


def row(data: dict) -> tuple:
    return store.record_row(data)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["put", "delete"]), st.integers(1, 40), st.integers(0, 3)), max_size=30))
def test_incremental_digest_equals_a_full_scan(changes):
    records = {r["record_id"]: r for r in population.generate(30, 2, TODAY, NOW)}
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.open_database(Path(tmp), create=True)
        with store.transaction(conn):
            digest = change_rows(conn, QUALIFICATION_TABLE, [row(r) for r in records.values()], [], 0)
            digest = change_rows(conn, INSURER_TABLE, [("01130012", "協会けんぽ")], [], digest)
            set_digest(conn, digest)
        for op, record_id, variant in changes:
            with store.transaction(conn):
                if op == "delete":
                    digest = change_rows(conn, QUALIFICATION_TABLE, [], [record_id], digest)
                else:
                    base = records.get(record_id) or next(iter(records.values()))
                    changed = {**base, "record_id": record_id, "copay_percent": 10 * (variant + 1)}
                    digest = change_rows(conn, QUALIFICATION_TABLE, [row(changed)], [], digest)
                set_digest(conn, digest)
        assert get_digest(conn) == bundle.scan_digest(conn)
        conn.close()


def test_digest_is_order_independent_and_sees_one_changed_field():
    rows = [row(r) for r in population.generate(20, 3, TODAY, NOW)]
    total = lambda rs: sum(bundle.row_hash(bundle.QUALIFICATION, bundle.canonical(r)) for r in rs)  # noqa: E731
    assert total(rows) == total(list(reversed(rows)))
    edited = list(rows)
    edited[5] = (*edited[5][:store.AS_OF], "2000-01-01T00:00:00+09:00", *edited[5][store.AS_OF + 1:])
    assert total(edited) != total(rows)


def test_facility_key_file_must_hold_64_hex_digits(tmp_path):
    path = tmp_path / "k"
    path.write_text("abcd")
    with pytest.raises(bundle.BundleError):
        bundle.load_facility_key(path)
    path.write_text(bundle.new_facility_key() + "\n")
    assert len(bundle.load_facility_key(path)) == 32


@pytest.mark.parametrize("line", [b'["m"]', b'["i","01130012"]', b'[1,"x"]', b'{"a":1}', b'["zz",1]', b"not json"])
def test_a_malformed_signed_bundle_is_refused_and_changes_nothing(tmp_path, line):
    from madoguchi.sync.device.client import apply_bundle

    conn = store.open_database(tmp_path, create=True)
    path = tmp_path / "b"
    custom = {"kind": "full", "from": None, "to": 1, "digest": "0" * 64}
    with open(path, "wb") as out:
        writer = bundle.BundleWriter(out, KEY)
        writer.write_line(bundle.canonical(("h", custom)))
        writer.write_line(line)
        writer.close()
    with pytest.raises(bundle.BundleError):
        apply_bundle(conn, path, KEY, custom)
    assert store.get_sync_state(conn) is None
    conn.close()


# ---- bundles across releases ------------------------------------------------------------------

def signed_bundle(path: Path, custom: dict, lines: list[bytes]) -> Path:
    with open(path, "wb") as out:
        writer = bundle.BundleWriter(out, KEY)
        writer.write_line(bundle.canonical(("h", custom)))
        for line in lines:
            writer.write_line(line)
        writer.close()
    return path


def test_a_release_0_1_0_hubs_bundles_are_applied_full_and_delta(tmp_path):
    """An old hub writes every row with release 0.1.0's columns and hashes them whole: this
    release reads such rows with empty details and reaches the same digest, delta after delta."""
    from madoguchi.sync.device.client import apply_bundle

    old = store.RELEASE_0_1_COLUMNS
    rows = [row(r)[:old] for r in population.generate(20, 4, TODAY, NOW)]
    old_hash = lambda r: bundle.row_hash(bundle.QUALIFICATION, bundle.canonical(r))  # noqa: E731
    digest = sum(map(old_hash, rows)) + bundle.row_hash(bundle.INSURER, bundle.canonical(("01130012", "協会けんぽ")))
    full = {"kind": "full", "from": None, "to": 1, "digest": bundle.digest_hex(digest), "generated_at": NOW.isoformat()}
    conn = store.open_database(tmp_path, create=True)
    apply_bundle(conn, signed_bundle(tmp_path / "full", full, [bundle.canonical(("i", "01130012", "協会けんぽ")),
                                                               *map(bundle.canonical, rows)]), KEY, full)
    assert bundle.digest_hex(bundle.scan_digest(conn)) == full["digest"]
    assert store.find_by_patient_id(conn, rows[0][COLUMN["patient_id"]])[0].prescription_issue == ""

    changed = (*rows[1][:store.AS_OF], "2026-11-20T10:00:00+09:00")
    digest += old_hash(changed) - old_hash(rows[1]) - old_hash(rows[2])
    delta = {"kind": "delta", "from": 1, "to": 2, "digest": bundle.digest_hex(digest), "generated_at": NOW.isoformat()}
    apply_bundle(conn, signed_bundle(tmp_path / "delta", delta, [bundle.canonical(("q-", rows[2][0])),
                                                                 bundle.canonical(changed)]), KEY, delta)
    assert get_digest(conn) == bundle.scan_digest(conn) == digest % bundle.DIGEST_MODULUS
    conn.close()


def test_this_release_writes_release_0_1_0_lines_for_rows_with_nothing_more(tmp_path):
    """A release-0.1.0 desk takes a row of exactly its 32 columns and refuses any other (the whole
    bundle, keeping its data): rows with nothing in `details` stay in that shape; rows with more
    need the desks updated before the hub."""
    rows = [row(r) for r in population.generate(30, 5, TODAY, NOW)]
    with_details = [r for r in rows if r[-1]]
    assert with_details and len(with_details) < len(rows)
    for r in rows:
        line = bundle.record_line(r)
        assert line == bundle.canonical(r if r[-1] else r[:store.RELEASE_0_1_COLUMNS])
        assert len(json.loads(line)) == (len(store.COLUMN_NAMES) if r[-1] else 32)


def test_an_empty_last_column_written_out_is_refused(tmp_path):
    """It would hash unlike the stored row: the next delta's digest could never match."""
    from madoguchi.sync.device.client import apply_bundle

    bare = (*row(next(population.generate(1, 6, TODAY, NOW)))[:-1], "")
    custom = {"kind": "full", "from": None, "to": 1, "generated_at": NOW.isoformat(),
              "digest": bundle.digest_hex(bundle.row_hash(bundle.QUALIFICATION, bundle.canonical(bare)))}
    conn = store.open_database(tmp_path, create=True)
    with pytest.raises(bundle.BundleError, match="an empty last column written out"):
        apply_bundle(conn, signed_bundle(tmp_path / "b", custom, [bundle.canonical(bare)]), KEY, custom)
    assert store.get_sync_state(conn) is None
    conn.close()


@pytest.mark.parametrize("line", [b"", b"[", b"[1] ", b" [1]", b"[1][2]", b"[1,\"\xff\"]", b"{}", b"[]", b"7"])
def test_a_line_that_is_not_one_canonical_array_is_refused(line):
    with pytest.raises(bundle.BundleError, match="bad line in bundle"):
        bundle.parse(line)


def test_a_canonical_line_parses_as_json_does():
    line = bundle.canonical([1, "名前", None, 2.5, {"a": [True]}, "\\u0007"])
    assert bundle.parse(line) == json.loads(line)
