"""Fixtures shared by the whole suite: a real SQLite store with a synthetic population."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from madoguchi.edge import store
from madoguchi.edge.config import JST
from madoguchi.sim import population
from madoguchi.sim.population import load_population

# A fixed moment for deterministic tests: 10:00 JST on a Monday.
NOW = datetime(2026, 11, 16, 1, 0, tzinfo=timezone.utc)
TODAY = NOW.astimezone(JST).date()


@pytest.fixture(scope="session")
def population_records() -> list[dict]:
    return list(population.generate(1000, 1, TODAY, NOW.astimezone(JST)))


@pytest.fixture(scope="session")
def population_samples() -> dict[str, dict]:
    return population.samples(1000, 1, TODAY, NOW.astimezone(JST))


@pytest.fixture
def populated(tmp_path, population_records):
    """(data_dir, connection) of a store loaded with the population as known on TODAY."""
    conn = store.open_database(tmp_path, create=True)
    load_population(conn, population_records, TODAY, NOW)
    yield tmp_path, conn
    conn.close()


@pytest.fixture(scope="session", autouse=True)
def root_medium(tmp_path_factory):
    """The facilities' root keys, kept off the hub as on a real one (a removable medium): every hub
    the tests make, in this process or a child, signs its first root with a key from here."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("root-medium")
        patch.setenv("MADOGUCHI_ROOT_KEYS", str(path))
        yield path


@pytest.fixture(scope="session", autouse=True)
def no_forbidden_select():
    """Suite-wide: no virtual My Number Card ever saw a SELECT of 券面AP / 券面入力補助AP."""
    yield
    import sys

    virtual = sys.modules.get("madoguchi.sim.vcard")
    if virtual is not None:
        violations = virtual.registered_violations()
        assert not violations, f"forbidden SELECTs reached a virtual card: {violations}"
