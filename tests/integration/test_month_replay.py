"""A replayed month at one desk, on a simulated clock: every offline decision is reconciled once,
and every contradiction reaches the 要対応 list within a minute of the hub's return.

The month: a desk check every 5 minutes from 9:00 to 18:00 (JST); two patients a day lose their
qualification (the national system knows at once, the cache three days later through the
nightly sync); two outages of several hours — first the desk's network to the hub, then the
national system behind the hub; some patients without any document declare (申立) while
offline. The sync daemon's outbox upload runs every 30 s. Real stores, the simulator upstream,
the hub's re-check in-process (the HTTP path is tested in tests/integration/test_hub_api_reconcile.py).
"""

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from madoguchi.edge import store
from madoguchi.edge.config import JST, Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.store import list_followups
from madoguchi.edge.verdict import CheckRequest, Declaration, Method, OnlineUnavailable
from madoguchi.sim.national import NationalSystem
from madoguchi.sim.population import load_population
from madoguchi.sim.simulator import SimulatedUpstream
from madoguchi.sync.device.upload import upload_outbox
from madoguchi.sync.hub import store as hubstore
from madoguchi.sync.hub.reconciliation import parse_entries, recheck_uploaded

from tests.unit.test_verdict import by_numbers

POLICY = Policy()
START = date(2026, 10, 1)
DAYS = 30
TICK = timedelta(seconds=30)
CHECK_EVERY = timedelta(minutes=5)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(START + timedelta(days=day), time(hour, minute), JST)


HUB_CUT = (at(7, 10), at(7, 15, 30))  # the desk cannot reach the hub
UPSTREAM_CUT = (at(20, 9), at(20, 14))  # the hub cannot reach the national system


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def inside(window, moment):
    return window[0] <= moment < window[1]


def test_a_month_of_checks_with_two_outages(tmp_path):
    from madoguchi.sim import population

    clock = Clock(at(0, 0))
    records = list(population.generate(300, 7, START, at(0, 0)))
    current = [r for r in records if r["registered_on"] <= START.isoformat() and not r["disqualification_date"]]
    people = {r["patient_id"]: r for r in current if r["validity"] == 1}
    national = NationalSystem(records, clock=clock)
    national.add_outage(*UPSTREAM_CUT)
    upstream = SimulatedUpstream(national)
    device = store.open_database(tmp_path / "device", create=True)
    hub = hubstore.open_facility_store(tmp_path / "hub", create=True)
    load_population(hub, records, START, clock.now)
    rng = random.Random(11)
    losses: dict[str, date] = {}

    def hub_post(path, body, timeout):
        if inside(HUB_CUT, clock.now):
            raise OnlineUnavailable("no route to the hub")
        return {"results": recheck_uploaded(hub, "desk-1", parse_entries(body), upstream, POLICY, clock.now, 1.0,
                                               10.0)}

    def desk_online(request, budget):
        if inside(HUB_CUT, clock.now):
            raise OnlineUnavailable("no route to the hub")
        return national.online_source()(request, budget)

    def nightly_sync(day: date):
        known = [dict(r, as_of=clock.now.isoformat()) for r in records]
        for r in known:
            lost_on = losses.get(r["patient_id"])
            if lost_on and lost_on + timedelta(days=3) <= day and not r["disqualification_date"]:
                r["disqualification_date"] = lost_on.isoformat()
        load_population(device, known, day, clock.now)

    offline_checks = []  # (outbox_id, patient_id, day, verdict, declared)
    for day_index in range(DAYS):
        day = START + timedelta(days=day_index)
        clock.now = at(day_index, 2)
        for pid in rng.sample(sorted(set(people) - set(losses)), 2):
            losses[pid] = day
            national.lose(pid, day)
        nightly_sync(day)
        if day_index == 15:  # the desk was restarted: the outbox is on disk
            device.close()
            device = store.open_database(tmp_path / "device")
        clock.now, next_check = at(day_index, 6), at(day_index, 9)
        while clock.now < at(day_index, 22):
            if clock.now >= next_check and clock.now < at(day_index, 18):
                next_check += CHECK_EVERY
                offline = inside(HUB_CUT, clock.now) or inside(UPSTREAM_CUT, clock.now)
                recent = [p for p, d in losses.items() if d >= day - timedelta(days=2)]
                pid = rng.choice(recent) if offline and rng.random() < 0.3 else rng.choice(sorted(people))
                person = people[pid]
                declared = offline and rng.random() < 0.1
                if declared:
                    request = CheckRequest(Method.DECLARATION, DocumentKind.DECLARATION, card_presented=True, declaration=Declaration(
                        person["name"], person["name_kana"], date.fromisoformat(person["birth_date"])))
                else:
                    request = by_numbers(person)
                result = run_check(device, request, POLICY, desk_online, clock=clock)
                if result.outbox_id:
                    offline_checks.append((result.outbox_id, pid, day, result.verdict.outcome.value, declared))
            upload_outbox(device, hub_post, clock=clock)
            clock.now += TICK

    assert len(offline_checks) > 100
    assert device.execute("SELECT count(*) FROM outbox WHERE reconciled_at IS NULL").fetchone()[0] == 0
    assert len(offline_checks) == device.execute("SELECT count(*) FROM outbox").fetchone()[0]
    expected = {}
    for outbox_id, pid, day, verdict, declared in offline_checks:
        if declared:
            expected[outbox_id] = "declaration_not_insured" if losses.get(pid, day + timedelta(1)) <= day \
                else "declaration_resolved"
        elif verdict == "ok" and pid in losses and losses[pid] <= day:
            expected[outbox_id] = "lost_after_ok"
    followups = list_followups(device)
    assert {f.outbox_id: f.kind for f in followups} == expected
    assert len(followups) == len(expected), "a followup was duplicated"
    assert sum(k == "lost_after_ok" for k in expected.values()) >= 5
    returns = [HUB_CUT[1], UPSTREAM_CUT[1]]
    for f in followups:
        created = datetime.fromisoformat(f.created_at)
        back = min(r for r in returns if r >= created - timedelta(minutes=1))
        assert created - back <= timedelta(minutes=1), f"followup {f.id} appeared {created - back} after the return"
    assert hub.execute("SELECT count(*) FROM reconciled_entry").fetchone()[0] == len(offline_checks)
    assert store.verify_audit(device)[1] == []
