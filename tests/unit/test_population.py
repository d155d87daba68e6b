from datetime import date
from itertools import islice

from madoguchi.edge.funds import number_problem
from madoguchi.edge.model import IncomeClass, copay_by_age
from madoguchi.edge.numbers import parse_insurer_number
from madoguchi.sim import population

from tests.conftest import NOW, TODAY


def test_same_seed_same_population_other_seed_other_population(population_records):
    again = list(islice(population.generate(1000, 1, TODAY, NOW), 200))
    assert again == population_records[:200]
    other = list(islice(population.generate(1000, 2, TODAY, NOW), 200))
    assert other != population_records[:200]


def test_every_insurer_number_is_valid_and_records_are_consistent(population_records):
    people = {r["person_id"] for r in population_records}
    assert len(people) == 1000
    welfare = [rec for rec in population_records if rec["card_classification"] == "A1"]
    assert welfare, "医療扶助 people"
    for rec in welfare:  # no insurance: the fund's numbers, no ratio
        assert number_problem(rec["insurer_number"], 8) is None and number_problem(rec["number"], 7) is None
        assert rec["insurer_number"].startswith("12") and rec["copay_percent"] is None and rec["welfare_office"]
    for rec in population_records:
        if rec in welfare:
            continue
        number = parse_insurer_number(rec["insurer_number"])
        if number.is_kouki:
            assert rec["symbol"] == "" and rec["branch"] == ""
        else:
            assert len(rec["branch"]) == 2
        birth = date.fromisoformat(rec["birth_date"])
        assert rec["copay_percent"] in {copay_by_age(birth, TODAY, c) for c in (None, *IncomeClass)}
        assert (rec["address"] is None) == rec["nondisclosure"]


def test_population_has_every_kind_a_desk_meets(population_records, population_samples):
    assert set(population_samples) == set(population.SAMPLE_KINDS)
    assert any(r["registered_on"] > TODAY.isoformat() for r in population_records), "a pending job change"
    ages = [(TODAY - date.fromisoformat(r["birth_date"])).days // 365 for r in population_records]
    assert min(ages) <= 1 and max(ages) >= 90
