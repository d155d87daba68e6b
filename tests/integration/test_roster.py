"""The roster kept current: nightly pre-check (roster + scheduled.csv) and the reader's pushes,
published to a real device through the real repository."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import date, datetime, timedelta

from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.model import QualificationRecord, Validity
from madoguchi.edge.verdict import CheckRequest, Method, OnlineAnswer
from madoguchi.sim import population
from madoguchi.sim.national import NationalSystem
from madoguchi.sim.simulator import SimulatedUpstream
from madoguchi.sync.hub import repository as hub
from madoguchi.sync.hub import roster
from madoguchi.sync.hub.upstream.base import NumbersQuery
from madoguchi.sync.tables import QUALIFICATION_TABLE

from tests.integration.test_sync_support import FACILITY, NOW, TODAY, world  # noqa: F401 - fixture
from tests.unit.test_store import full_record

LATER = NOW + timedelta(days=4)  # beyond the 72 h policy: without a pre-check the cache is stale


def national_on(moment, patients=300, extra=()):
    records = list(population.generate(patients, 1, TODAY, NOW)) + list(extra)
    return NationalSystem(records, clock=lambda: moment)


def check_later(w, sample):
    request = CheckRequest(Method.NUMBERS, insurer_number=sample["insurer_number"], symbol=sample["symbol"],
                           number=sample["number"], branch=sample["branch"],
                           birth_date=date.fromisoformat(sample["birth_date"]))
    return run_check(w.conn, request, Policy(), clock=lambda: LATER).verdict


def test_the_nightly_precheck_keeps_the_devices_cache_fresh(world):
    assert check_later(world, world.sample).outcome.value == "confirm"  # 4 days old: 要確認
    outcome = roster.precheck(world.paths, FACILITY, SimulatedUpstream(national_on(LATER)))
    patients = world.hub_conn().execute("SELECT count(DISTINCT patient_id) FROM qualification").fetchone()[0]
    assert (outcome.asked, outcome.answered, outcome.errors) == (patients, patients, 0)
    assert outcome.changed >= patients
    assert world.sync().result == "ok"
    verdict = check_later(world, world.sample)
    assert verdict.outcome.value == "ok" and verdict.source.value == "cache" and verdict.age_seconds == 0


def test_scheduled_patients_new_to_the_roster_are_added_and_bad_lines_counted(world):
    newcomer = dict(next(r for r in population.generate(300, 2, TODAY, NOW) if r["validity"] == 1
                         and not r["disqualification_date"]), record_id=90_000_001, patient_id="new-1")
    (world.paths.store_dir(FACILITY) / roster.SCHEDULED_FILE).write_text(
        "insurer_number,symbol,number,branch,birth_date\n"
        f"{newcomer['insurer_number']},{newcomer['symbol']},{newcomer['number']},{newcomer['branch']},"
        f"{newcomer['birth_date']}\n"
        "01130012,12,34,00,not-a-date\n", encoding="utf-8")
    outcome = roster.precheck(world.paths, FACILITY, SimulatedUpstream(national_on(LATER, extra=[newcomer])))
    assert outcome.scheduled_rejected == 1 and outcome.errors == 0
    assert world.sync().result == "ok"
    assert check_later(world, newcomer).outcome.value == "ok"


def test_an_unreachable_upstream_stops_the_precheck_without_changes(world):
    national = national_on(LATER)
    national.cut()
    before = world.version("targets")
    outcome = roster.precheck(world.paths, FACILITY, SimulatedUpstream(national))
    assert outcome.answered == 0 and outcome.errors == outcome.asked > 0
    assert world.version("targets") == before


def test_reader_pushes_reach_the_roster_and_the_device(world):
    national = national_on(LATER)
    upstream = SimulatedUpstream(national)
    stop = threading.Event()
    thread = threading.Thread(target=roster.receive_pushes, args=(world.paths, upstream, stop, 0.05))
    thread.start()
    try:
        before = world.version("targets")
        upstream.reader_check(patient_id=world.sample["patient_id"])
        for _ in range(100):
            if world.version("targets") > before:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert world.version("targets") > before
    assert world.sync().result == "ok"
    assert check_later(world, world.sample).outcome.value == "ok"
    other = json.loads(json.dumps(population.samples(300, 1, TODAY, NOW)["family_member"]))
    assert check_later(world, other).outcome.value == "confirm"  # not pushed: still 4 days old


def test_live_answers_reach_the_roster_in_one_batch_the_newest_kept(world):
    s = world.sample
    query = NumbersQuery(s["insurer_number"], s["symbol"], s["number"], date.fromisoformat(s["birth_date"]),
                         s["branch"], "")
    first, second = (SimulatedUpstream(national_on(NOW + timedelta(hours=h))).check(query, 5) for h in (1, 2))
    record_id = second.records[0].record_id
    live = roster.LiveAnswers(world.paths, interval=3600)  # no timed batch in this test: close() writes it
    conn = world.hub_conn()
    as_of = lambda: conn.execute("SELECT as_of FROM qualification WHERE record_id = ?",  # noqa: E731
                                 (record_id,)).fetchone()[0]
    before = as_of()
    live.add(FACILITY, first)
    live.add(FACILITY, second)
    assert as_of() == before  # not one write per check
    live.close()
    assert datetime.fromisoformat(as_of()) == second.records[0].as_of  # the newest answer, not the first
    assert conn.execute("SELECT count(*) FROM hub_change WHERE code = 'q' AND key = ?",
                        (str(record_id),)).fetchone()[0] == 1  # noted for the next bundle: devices learn it
    live.add(FACILITY, first)  # after close: dropped, never written behind the newer one
    live.flush()
    assert datetime.fromisoformat(as_of()) == second.records[0].as_of
    conn.close()


def test_every_field_of_a_record_reaches_the_desk(world):
    """Imported records, and an upstream answer with every newer field (処方箋発行形態, the 限度額
    certificate and its dates, 特定疾病 certificates, consents...), reach the desk's cache whole;
    an answer (which never carries a card link) leaves the roster's card link as it was."""
    known = [QualificationRecord.from_json(r) for r in population.generate(300, 1, TODAY, NOW)
             if r["registered_on"] <= TODAY.isoformat()]
    cached = {r.record_id: r for p in {r.patient_id for r in known} for r in store.find_by_patient_id(world.conn, p)}
    assert cached == {r.record_id: r for r in known}
    assert any(r.prescription_issue for r in known) and any(r.specific_disease_certificates for r in known)

    conn = world.hub_conn()
    row = next(r for r in conn.execute(f"SELECT {', '.join(store.COLUMN_NAMES)} FROM qualification "
                                       "WHERE patient_id = ?", (world.sample["patient_id"],)))
    linked = (*row[:roster.CARD_LINK], "a" * 64, *row[roster.CARD_LINK + 1:])
    with store.transaction(conn):
        hub.change(conn, QUALIFICATION_TABLE, [linked], [])
    conn.close()
    answer_record = replace(full_record(), record_id=row[0], patient_id=world.sample["patient_id"],
                            as_of=NOW + timedelta(hours=1))
    assert roster.remember(world.paths, FACILITY, [OnlineAnswer(Validity.VALID, (answer_record,))]) == 1
    hub.publish(world.paths, FACILITY)
    assert world.sync().result == "ok"
    assert [r for r in store.find_by_patient_id(world.conn, world.sample["patient_id"])
            if r.record_id == row[0]] == [replace(answer_record, card_link="a" * 64)]
