"""What a facility gives its hub: a roster CSV as a レセコン exports it, and an insurer-master file.
Insurer names come from these and from upstream answers, never from the simulated world."""

from __future__ import annotations

from datetime import date

import pytest
from madoguchi.edge import store
from madoguchi.sim import population
from madoguchi.sim.national import NationalSystem
from madoguchi.sim.simulator import SimulatedUpstream
from madoguchi.sync.hub import ingest, roster
from madoguchi.sync.hub import repository as hub
from madoguchi.sync.hub import store as hubstore

from tests.integration.test_sync_support import FACILITY, NOW, TODAY, world  # noqa: F401 - fixture

HEADER = "診察券番号,保険者番号,記号,番号,枝番,生年月日,氏名カナ,氏名\n"


def roster_line(patient_id: str, r: dict) -> str:
    return (f"{patient_id},{r['insurer_number']},{r['symbol']},{r['number']},{r['branch']},"
            f"{r['birth_date'].replace('-', '')},{r['name_kana']},{r['name']}\n")


def newcomers(count: int, seed: int = 5) -> list[dict]:
    """People the national system knows and the facility's roster does not (yet)."""
    found = [r for r in population.generate(200, seed, TODAY, NOW) if r["validity"] == 1
             and not r["disqualification_date"]]
    return [dict(r, record_id=80_000_000 + i, patient_id="") for i, r in enumerate(found[:count])]


def test_a_shift_jis_roster_csv_is_prechecked_and_reaches_the_desk_by_patient_id(world, tmp_path):
    people = newcomers(3)
    csv_file = tmp_path / "roster.csv"
    csv_file.write_bytes((HEADER + "".join(roster_line(f"K{i:05}", r) for i, r in enumerate(people)))
                         .encode("cp932"))
    summary = ingest.import_file(world.paths, FACILITY, csv_file, TODAY)
    assert (summary["patients"], summary["added"], summary["removed"]) == (3, 3, 0)

    national = NationalSystem(list(population.generate(300, 1, TODAY, NOW)) + people, clock=lambda: NOW)
    outcome = roster.precheck(world.paths, FACILITY, SimulatedUpstream(national))
    assert outcome.errors == 0 and outcome.changed >= 3
    assert world.sync().result == "ok"
    found = store.find_by_patient_id(world.conn, "K00001")
    assert [(r.number, r.birth_date) for r in found] == [(people[1]["number"], date.fromisoformat(people[1]["birth_date"]))]
    assert store.insurer_name(world.conn, people[1]["insurer_number"]) == people[1]["insurer_name"]


def test_a_roster_with_bad_lines_is_refused_whole_naming_lines_and_fields(world, tmp_path):
    good, other = newcomers(2)
    bad = dict(other, insurer_number="01130013", birth_date="1980-13-01")
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text(HEADER + roster_line("K1", good) + roster_line("K2", bad) + roster_line("K1", other)
                        + "K3,,,,,,,\n", encoding="utf-8")
    with pytest.raises(ingest.BadFile) as refused:
        ingest.import_file(world.paths, FACILITY, csv_file, TODAY)
    message = str(refused.value)
    assert "line 3: insurer_number:" in message and "line 4: patient_id: 診察券番号 appears twice" in message
    assert "line 5: insurer_number:" in message and "nothing imported" in message
    assert bad["name_kana"] not in message  # lines are named, personal data is not echoed
    assert hubstore.roster_numbers(hub.open_facility_store(world.paths, FACILITY)) == []


def test_a_roster_without_its_column_names_says_which_are_missing(world, tmp_path):
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text("1,01130012,12,34,00,19800102,ヤマダ\n", encoding="utf-8")
    with pytest.raises(ingest.BadFile, match="missing: 診察券番号, 保険者番号, 番号, 生年月日, 氏名カナ"):
        ingest.import_file(world.paths, FACILITY, csv_file, TODAY)


def test_the_insurer_master_names_insurers_and_is_published(world, tmp_path):
    master = tmp_path / "insurers.csv"
    master.write_text("保険者番号,保険者名\n06139992,テスト健康保険組合\n", encoding="utf-8")
    assert ingest.import_insurers(world.paths, FACILITY, master) == {
        "facility": FACILITY, "insurers": 1, "changed": 1}
    assert ingest.import_insurers(world.paths, FACILITY, master)["changed"] == 0  # already so
    world.publish()
    assert world.sync().result == "ok"
    assert store.insurer_name(world.conn, "06139992") == "テスト健康保険組合"
    master.write_text("保険者番号,保険者名\n06139993,誤り\n", encoding="utf-8")
    with pytest.raises(ingest.BadFile, match="line 2: insurer_number: .*check digit"):
        ingest.import_insurers(world.paths, FACILITY, master)


def test_hub_insurers_are_only_those_the_records_name(world):
    named = {r.insurer_number for r in store.find_by_patient_id(world.conn, world.sample["patient_id"])}
    insurers = dict(world.hub_conn().execute("SELECT insurer_number, name FROM insurer"))
    records = {(n, m) for n, m in world.hub_conn().execute("SELECT DISTINCT insurer_number, insurer_name FROM qualification")}
    assert named <= set(insurers) and set(insurers.items()) == records


def test_hub_import_and_hub_insurers_on_the_command_line(tmp_path):
    from madoguchi.cli import main

    people = newcomers(2)
    roster_csv, master = tmp_path / "roster.csv", tmp_path / "insurers.csv"
    roster_csv.write_text(HEADER + "".join(roster_line(f"P{i}", r) for i, r in enumerate(people)), encoding="utf-8")
    master.write_text("保険者番号,保険者名\n06139992,テスト健康保険組合\n", encoding="utf-8")
    base = ["--data-dir", str(tmp_path / "hubdata")]
    assert main([*base, "hub", "import", str(roster_csv), "--facility", "clinic-b", "--json"]) == 0
    assert main([*base, "hub", "insurers", str(master), "--facility", "clinic-b", "--json"]) == 0
    master.write_text("保険者番号,保険者名\n0613999,短い\n", encoding="utf-8")
    assert main([*base, "hub", "insurers", str(master), "--facility", "clinic-b"]) == 2
