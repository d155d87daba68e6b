from datetime import date

import pytest
from madoguchi.edge.model import (
    DocumentKind,
    IncomeClass,
    copay_by_age,
    elderly_from,
    judge_document,
    kouki_from,
    preschool_until,
)


@pytest.mark.parametrize("birth, until", [
    (date(2020, 4, 2), date(2027, 3, 31)),  # reaches 6 on 2026-04-01: the next 31 March
    (date(2020, 4, 1), date(2026, 3, 31)),  # reaches 6 on 2026-03-31 itself
    (date(2020, 1, 15), date(2026, 3, 31)),
])
def test_preschool_ends_on_the_first_31_march_after_reaching_6(birth, until):
    assert preschool_until(birth) == until


@pytest.mark.parametrize("birth, start", [
    (date(1956, 6, 15), date(2026, 7, 1)),
    (date(1956, 6, 1), date(2026, 6, 1)),  # born on the 1st: reaches 70 the day before, in May
    (date(1956, 12, 20), date(2027, 1, 1)),
])
def test_70_plus_rules_start_the_month_after_reaching_70(birth, start):
    assert elderly_from(birth) == start


@pytest.mark.parametrize("birth, day, income, copay", [
    (date(2022, 5, 1), date(2026, 11, 22), None, 20),
    (date(1990, 5, 1), date(2026, 11, 22), None, 30),
    (date(1955, 5, 1), date(2026, 11, 22), None, 20),
    (date(1955, 5, 1), date(2026, 11, 22), IncomeClass.ACTIVE, 30),
    (date(1945, 5, 1), date(2026, 11, 22), None, 10),
    (date(1945, 5, 1), date(2026, 11, 22), IncomeClass.CERTAIN, 20),
    (date(1945, 5, 1), date(2026, 11, 22), IncomeClass.ACTIVE, 30),
    (date(1951, 11, 22), date(2026, 11, 21), None, 20),  # the day before the 75th birthday
    (date(1951, 11, 22), date(2026, 11, 22), None, 10),
])
def test_copay_by_age(birth, day, income, copay):
    assert copay_by_age(birth, day, income) == copay


def test_kouki_starts_on_the_75th_birthday():
    assert kouki_from(date(1952, 2, 29)) == date(2027, 2, 28)


@pytest.mark.parametrize("kind", [DocumentKind.NOTICE, DocumentKind.PORTAL])
def test_notice_and_portal_only_with_the_card(kind):
    assert not judge_document(kind, date(2026, 11, 22)).accepted
    assert judge_document(kind, date(2026, 11, 22), card_presented=True).accepted


def test_legacy_card_follows_its_validity_then_the_transitional_rule_then_is_refused():
    kind = DocumentKind.LEGACY_CARD
    inside = judge_document(kind, date(2025, 11, 1), printed_valid_until=date(2026, 7, 31))
    assert inside.accepted and not inside.needs_online  # capped at 2025-12-01, still inside
    transitional = judge_document(kind, date(2026, 2, 1), printed_valid_until=date(2025, 9, 30))
    assert transitional.accepted and transitional.needs_online and "2026-03-31" in transitional.reason_ja
    refused = judge_document(kind, date(2026, 4, 1))
    assert not refused.accepted and "2025-12-01" in refused.reason_ja


def test_eligibility_certificate_refused_after_its_printed_validity():
    kind = DocumentKind.ELIGIBILITY_CERTIFICATE
    assert judge_document(kind, date(2026, 7, 31), printed_valid_until=date(2026, 7, 31)).accepted
    assert not judge_document(kind, date(2026, 8, 1), printed_valid_until=date(2026, 7, 31)).accepted
