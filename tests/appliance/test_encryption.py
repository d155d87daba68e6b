"""Encryption at rest: the cache opened through edge.store.open_database with a SQLCipher key."""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from madoguchi.edge import store
from madoguchi.sim.population import load_population

from tests.conftest import NOW, TODAY

pytest.importorskip("sqlcipher3", reason="extra `sqlcipher` not installed")


@pytest.fixture
def key_file(tmp_path, monkeypatch):
    path = tmp_path / "db.key"
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    monkeypatch.setenv(store.DATABASE_KEY_FILE_ENV, str(path))
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    return path


def test_an_encrypted_cache_is_unreadable_without_its_key(tmp_path, key_file, population_records, monkeypatch):
    data_dir = tmp_path / "data"
    conn = store.open_database(data_dir, create=True)
    load_population(conn, population_records[:200], TODAY, NOW)
    someone = population_records[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()

    raw = store.database_path(data_dir).read_bytes()
    assert not raw.startswith(b"SQLite format 3")
    assert someone["name"].encode() not in raw and someone["name_kana"].encode() not in raw
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        sqlite3.connect(store.database_path(data_dir)).execute("SELECT count(*) FROM qualification").fetchone()

    conn = store.open_database(data_dir)  # with the key: works as a plain store does
    assert store.cache_stats(conn, data_dir, TODAY).records == 200
    assert store.find_by_patient_id(conn, someone["patient_id"])
    conn.close()

    monkeypatch.delenv(store.DATABASE_KEY_FILE_ENV)
    with pytest.raises(store.StoreLocked, match="no database key"):
        store.open_database(data_dir)
    other = tmp_path / "other.key"
    other.write_text(secrets.token_hex(32))
    other.chmod(0o600)
    monkeypatch.setenv(store.DATABASE_KEY_FILE_ENV, str(other))
    with pytest.raises(store.StoreLocked, match="does not fit"):
        store.open_database(data_dir)


def test_the_systemd_credential_wins_over_the_key_file(tmp_path, key_file, monkeypatch):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / store.DATABASE_KEY_CREDENTIAL).write_text(secrets.token_hex(32))
    (credentials / store.DATABASE_KEY_CREDENTIAL).chmod(0o400)  # as systemd makes it
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    store.open_database(tmp_path / "data", create=True).close()
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(store.StoreLocked):  # the key file alone does not open it
        store.open_database(tmp_path / "data")


@pytest.mark.parametrize("content", ["", "abc", "zz" * 32, "00" * 16])
def test_a_bad_key_file_is_a_clear_error(tmp_path, monkeypatch, content):
    path = tmp_path / "db.key"
    path.write_text(content)
    path.chmod(0o600)
    monkeypatch.setenv(store.DATABASE_KEY_FILE_ENV, str(path))
    with pytest.raises(store.StoreLocked, match="database key"):
        store.open_database(tmp_path, create=True)


def test_a_plain_cache_still_opens_without_a_key(tmp_path, monkeypatch, population_records):
    monkeypatch.delenv(store.DATABASE_KEY_FILE_ENV, raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    conn = store.open_database(tmp_path, create=True)
    load_population(conn, population_records[:200], TODAY, NOW)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    raw = store.database_path(tmp_path).read_bytes()  # the same check as above does see plain text
    assert raw.startswith(b"SQLite format 3") and population_records[0]["name"].encode() in raw


def test_the_store_tests_pass_on_an_encrypted_store(tmp_path):
    """Every store test again, each database encrypted (the key given by file)."""
    key = tmp_path / "db.key"
    key.write_text(secrets.token_hex(32))
    key.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    env[store.DATABASE_KEY_FILE_ENV] = str(key)
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_store.py"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_a_key_file_others_can_read_is_refused(key_file):
    key_file.chmod(0o644)
    with pytest.raises(store.StoreLocked, match="may be read by others"):
        store.open_database(key_file.parent / "data", create=True)
