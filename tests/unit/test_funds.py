"""公費: the numbers with their check digits, the facility's rules file, the charge they lead to."""

from __future__ import annotations

import pytest
from madoguchi.edge.funds import (
    ChargeKind,
    FundLine,
    FundRules,
    PublicFund,
    charge_for,
    load_fund_rules,
    number_problem,
    parse_fund,
    parse_fund_rules,
)
from madoguchi.edge.numbers import InputError, check_digit


def payer(houbetsu: str, prefecture: str = "13", institution: str = "201") -> str:
    body = houbetsu + prefecture + institution
    return body + check_digit(body)


RECIPIENT = "123456" + check_digit("123456")


def test_both_numbers_use_the_insurer_numbers_check_digit():
    # docs/domain.md §4's worked example, as a 公費負担者番号: 3312001 → 5
    assert parse_fund("33120015", RECIPIENT) == PublicFund("33120015", RECIPIENT)
    assert parse_fund("５４１３２０１" + check_digit("5413201"), "").recipient_number == ""


@pytest.mark.parametrize("payer_text, recipient, named", [
    ("33120016", RECIPIENT, "公費負担者番号の最後の桁（検証番号）が合いません：6 → 計算上は 5"),
    ("33120015", "1234560", "公費受給者番号の最後の桁（検証番号）が合いません：0 → 計算上は " + RECIPIENT[-1]),
    ("3312001", RECIPIENT, "公費負担者番号は8桁です：7桁"),
    ("3312001x", RECIPIENT, "公費負担者番号は数字だけです"),
])
def test_a_wrong_number_is_named(payer_text, recipient, named):
    with pytest.raises(InputError, match=named):
        parse_fund(payer_text, recipient)


def test_a_cap_must_be_yen():
    assert parse_fund(payer("54"), RECIPIENT, "5,000円").monthly_cap_yen == 5000
    with pytest.raises(InputError, match="月の上限額"):
        parse_fund(payer("54"), RECIPIENT, "五千")


def line(fund: PublicFund, rules: FundRules | None = None) -> FundLine:
    return FundLine(fund, (rules or FundRules()).rule_for(fund))


def test_national_defaults():
    assert charge_for(10, [line(PublicFund(payer("12"), RECIPIENT))]).ja == "窓口負担なし"
    nanbyou = charge_for(30, [line(PublicFund(payer("54"), RECIPIENT, monthly_cap_yen=5000))])
    assert (nanbyou.percent, nanbyou.monthly_cap_yen) == (20, 5000) and "2割（月上限 5,000円" in nanbyou.ja
    # a fund never makes the patient pay more than insurance would: 75+ at 1割 stays 1割
    assert charge_for(10, [line(PublicFund(payer("54"), RECIPIENT, monthly_cap_yen=5000))]).percent == 10
    seishin = charge_for(30, [line(PublicFund(payer("21"), RECIPIENT))])
    assert seishin.percent == 10 and seishin.cap_missing and "受給者証で確認" in seishin.ja


def test_an_unknown_fund_is_never_guessed():
    charge = charge_for(20, [line(PublicFund(payer("88"), RECIPIENT))])
    assert not charge.known and charge.percent is None and payer("88") in charge.ja
    assert line(PublicFund(payer("88"), RECIPIENT)).ja().endswith("負担ルール未設定（窓口負担を確認）")
    # a fund with a bad number (from a code) is no better known
    bad = PublicFund(payer("54")[:-1] + "0" if payer("54")[-1] != "0" else payer("54")[:-1] + "1", RECIPIENT)
    assert not charge_for(30, [line(bad)]).known and "番号が正しくありません" in line(bad).ja()
    # but a fund that pays everything settles it
    assert charge_for(30, [line(PublicFund(payer("88"), RECIPIENT)), line(PublicFund(payer("12"), RECIPIENT))]).ja \
        == "窓口負担なし"


def test_the_welfare_offices_self_pay_is_charged():
    charge = charge_for(None, [line(PublicFund(payer("12"), RECIPIENT, self_pay_yen=3000))])
    assert (charge.percent, charge.monthly_cap_yen) == (100, 3000)


FACILITY = """\ufeff# 八王子市 (13/201) の子ども医療費は無料、練馬区 (13/120) は1回200円
houbetsu,prefecture,institution,charge,percent,yen,name
88,13,201,none,,,八王子市 子ども医療費
88,13,120,per_visit,,200,練馬区 子ども医療費
21,,,ratio_cap,10,5000,精神通院（施設の既定の上限）
"""


def test_the_facility_file_sets_cities_and_replaces_defaults(tmp_path):
    path = tmp_path / "fund_rules.csv"
    path.write_text(FACILITY, encoding="utf-8")
    rules = load_fund_rules(path)
    assert rules.problems == ()
    assert charge_for(20, [line(PublicFund(payer("88", "13", "201"), RECIPIENT), rules)]).ja == "窓口負担なし"
    nerima = charge_for(20, [line(PublicFund(payer("88", "13", "120"), RECIPIENT), rules)])
    assert (nerima.percent, nerima.per_visit_yen) == (20, 200)
    assert not charge_for(20, [line(PublicFund(payer("88", "14", "201"), RECIPIENT), rules)]).known  # another city
    assert rules.rule_for(PublicFund(payer("21"))).source == "facility"
    assert charge_for(30, [line(PublicFund(payer("21"), RECIPIENT), rules)]).monthly_cap_yen == 5000
    assert rules.rule_for(PublicFund(payer("54"))).charge == ChargeKind.RATIO_CAP  # the default stays


@pytest.mark.parametrize("row, problem", [
    ("8,13,201,none,,,x", "houbetsu must be 2 digits"),
    ("88,48,201,none,,,x", "prefecture"),
    ("88,,201,none,,,x", "needs its prefecture"),
    ("88,13,201,free,,,x", "charge must be one of"),
    ("88,13,201,ratio,,,x", "needs percent"),
    ("88,13,201,ratio,120,,x", "percent must be"),
    ("88,13,201,none,10,,x", "takes no percent"),
    ("88,13,201,per_visit,,,x", "needs yen"),
    ("88,13,201,none", "fields"),
])
def test_a_bad_row_is_named_with_its_line_and_left_out(row, problem):
    rules, problems = parse_fund_rules(f"houbetsu,prefecture,institution,charge,percent,yen,name\n{row}\n".encode())
    assert rules == [] and len(problems) == 1 and problems[0].startswith("line 2:") and problem in problems[0]


def test_a_file_not_in_utf8_or_without_its_header_is_refused():
    assert "UTF-8" in parse_fund_rules("88,13,201,none,,,八王子".encode("cp932"))[1][0]
    assert "header" in parse_fund_rules(b"88,13,201,none,,,x\n")[1][0]


def test_a_missing_file_gives_the_defaults(tmp_path):
    rules = load_fund_rules(tmp_path / "fund_rules.csv")
    assert rules.path is None and rules.rule_for(PublicFund(payer("12"))).charge == ChargeKind.NONE
    assert number_problem(payer("12"), 8) is None


def test_a_quoted_line_break_is_a_bad_row_not_a_crash():
    header = "houbetsu,prefecture,institution,charge,percent,yen,name\n"
    rules, problems = parse_fund_rules((header + '88,13,201,none,,,"八王子\n市"\n88,13,202,none,,,x\n').encode())
    assert [r.institution for r in rules] == ["202"] and [p[:7] for p in problems] == ["line 2:", "line 3:"]
