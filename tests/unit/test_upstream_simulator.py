"""The national-system simulator as an Upstream: lag, losses, 複数該当, 不開示, cards, outages, slowness."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import pytest
from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.model import Validity
from madoguchi.edge.verdict import CheckRequest, Method, Outcome, Source, decide
from madoguchi.sim.national import NationalSystem
from madoguchi.sim.simulator import SimulatedUpstream
from madoguchi.sync.hub.upstream.base import (
    NumbersQuery,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    online_source,
)

from tests.conftest import NOW, TODAY


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def upstream(population_records, clock):
    return SimulatedUpstream(NationalSystem(population_records, clock=clock))


def query(rec: dict, branch: bool = True) -> NumbersQuery:
    return NumbersQuery(rec["insurer_number"], rec["symbol"], rec["number"], date.fromisoformat(rec["birth_date"]),
                        rec["branch"] if branch else "")


def test_a_new_job_is_known_only_after_its_registration_lag(upstream, clock, population_records):
    new = next(r for r in population_records if r["registered_on"] > TODAY.isoformat())
    assert upstream.check(query(new), 1.0).validity == Validity.NOT_FOUND
    clock.now = datetime.fromisoformat(new["registered_on"] + "T01:00:00+00:00")
    assert upstream.check(query(new), 1.0).validity == Validity.VALID


def test_a_loss_on_demand(upstream, population_samples):
    sample = population_samples["valid"]
    upstream.national.lose(sample["patient_id"], TODAY - timedelta(days=1))
    answer = upstream.check(query(sample), 1.0)
    assert answer.validity == Validity.INVALID and answer.records[0].loss_reason == "退職"


def test_twins_without_branch_are_several_matches(upstream, population_samples):
    sample = population_samples["valid"]
    twin = upstream.national.add_twin(sample["patient_id"], "T1")
    assert twin["branch"] != sample["branch"]
    assert upstream.check(query(sample, branch=False), 1.0).validity == Validity.MULTIPLE
    assert upstream.check(query(twin), 1.0).records[0].patient_id == "T1"


def test_nondisclosure_withholds_the_address(upstream, population_samples):
    record = upstream.check(query(population_samples["nondisclosure"]), 1.0).records[0]
    assert record.nondisclosure and record.address is None


def test_batch_answers_in_order_and_reports_bad_entries(upstream, population_samples):
    queries = [query(population_samples["valid"]), query(population_samples["lost"]),
               NumbersQuery("06139990", "1", "1", date(1980, 1, 1), "xyz")]
    answers = upstream.batch_check(queries, 1.0)
    assert answers[0].validity == Validity.VALID and answers[1].validity == Validity.INVALID
    assert isinstance(answers[2], UpstreamError)


def test_certificates_resolve_for_linked_virtual_cards(population_records, population_samples, clock):
    patient = population_samples["valid"]["patient_id"]
    upstream = SimulatedUpstream(NationalSystem(population_records, clock=clock), {"link-1": patient})
    assert upstream.resolve_card("link-1", 1.0).records[0].patient_id == patient
    assert upstream.resolve_card("unknown", 1.0).validity == Validity.NOT_FOUND


def test_reader_checks_arrive_as_pushes(upstream, population_samples):
    assert upstream.pushes(0.01) == []
    upstream.reader_check(patient_id=population_samples["valid"]["patient_id"])
    upstream.reader_check(patient_id=population_samples["lost"]["patient_id"])
    assert [a.validity for a in upstream.pushes(1.0)] == [Validity.VALID, Validity.INVALID]


def test_outage_windows_and_cuts(upstream, clock, population_samples):
    upstream.national.add_outage(NOW + timedelta(hours=1), NOW + timedelta(hours=4))
    assert upstream.check(query(population_samples["valid"]), 1.0).validity == Validity.VALID
    clock.now = NOW + timedelta(hours=2)
    with pytest.raises(UpstreamUnavailable):
        upstream.check(query(population_samples["valid"]), 1.0)
    clock.now = NOW + timedelta(hours=4)
    upstream.national.cut()
    with pytest.raises(UpstreamUnavailable):
        upstream.batch_check([query(population_samples["valid"])], 1.0)
    upstream.national.restore()
    assert upstream.check(query(population_samples["valid"]), 1.0).validity == Validity.VALID


def test_slow_answers_time_out_within_the_timeout(upstream, population_samples):
    upstream.national.latency = 5.0
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        upstream.check(query(population_samples["valid"]), 0.1)
    assert time.monotonic() - started < 1.0
    upstream.national.latency = 0.01
    assert upstream.check(query(population_samples["valid"]), 0.5).validity == Validity.VALID


def test_the_desk_decides_through_the_simulator(populated, population_records, population_samples, clock):
    _, conn = populated
    patient = population_samples["valid"]["patient_id"]
    upstream = SimulatedUpstream(NationalSystem(population_records, clock=clock), {"link-1": patient})
    verdict = decide(CheckRequest(Method.CARD, card_link="link-1"), store.Lookup(conn), Policy(), NOW, online_source(upstream))
    assert (verdict.source, verdict.outcome) == (Source.ONLINE, Outcome.OK)
    assert verdict.record.patient_id == patient
    upstream.national.cut()
    verdict = decide(CheckRequest(Method.PATIENT_ID, patient_id=patient), store.Lookup(conn), Policy(), NOW,
                     online_source(upstream))
    assert verdict.source == Source.CACHE
