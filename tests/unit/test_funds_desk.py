"""Who pays what, through the desk's command: `madoguchi check` in a real process on a real data
directory, each scenario with the charge the desk must ask for (issue 14)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from madoguchi.edge.numbers import check_digit

from tests.unit.test_cli import madoguchi


def numbered(body: str) -> str:
    return body + check_digit(body)


RECIPIENT = numbered("765432")
CITY_FREE, CITY_UNSET = numbered("8813201"), numbered("8813202")  # 子ども医療費, two cities of 東京都


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    path = tmp_path_factory.mktemp("desk")
    out = madoguchi("population", "--patients", "1000", "--seed", "1", "--json", data_dir=path, check=True)
    (path / "fund_rules.csv").write_text(
        "houbetsu,prefecture,institution,charge,percent,yen,name\n88,13,201,none,,,八王子市 子ども医療費（無料）\n",
        encoding="utf-8")
    return path, json.loads(out.stdout)["samples"]


def check(desk, kind: str, *extra: str) -> dict:
    path, samples = desk
    s = samples[kind]
    numbers = ["--insurer", s["insurer_number"], "--symbol", s["symbol"], "--number", s["number"]]
    out = madoguchi("check", *numbers, "--birth", s["birth_date"], *extra, "--json", data_dir=path, check=True)
    return json.loads(out.stdout)


def audit_detail(desk, audit_id: int) -> dict:
    path, _ = desk
    with sqlite3.connect(path / "cache.db") as conn:
        return json.loads(conn.execute("SELECT detail FROM audit WHERE id = ?", (audit_id,)).fetchone()[0])


@pytest.mark.parametrize("kind", ["welfare", "welfare_75"])
def test_a_welfare_patient_pays_nothing_never_an_insurance_ratio(desk, kind):
    path, samples = desk
    s = samples[kind]
    out = madoguchi("check", "--public-fund", f"{s['insurer_number']}:{s['number']}", "--birth", s["birth_date"],
                    data_dir=path, check=True)
    assert "[OK]" in out.stdout and "医療扶助（生活保護）です。窓口負担なし" in out.stdout
    assert "窓口負担: 窓口負担なし" in out.stdout and "負担割合" not in out.stdout  # a 76-year-old is not 1割
    assert "福祉事務所: " in out.stdout
    result = json.loads(madoguchi("check", "--public-fund", f"{s['insurer_number']}:{s['number']}", "--birth",
                                  s["birth_date"], "--json", data_dir=path, check=True).stdout)
    assert result["copay_percent"] is None and result["charge"]["percent"] == 0
    assert result["request"]["document"] == "medical_ticket" and result["record"]["card_classification"] == "A1"
    detail = audit_detail(desk, result["audit_id"])
    assert detail["funds"] == [{"payer_number": s["insurer_number"], "source": "desk", "rule": "none",
                                "monthly_cap_yen": None}]
    assert detail["charge"]["percent"] == 0 and s["number"] not in json.dumps(detail)  # no 受給者番号 in clear


def test_a_child_with_the_citys_free_childrens_fund_pays_nothing(desk):
    result = check(desk, "preschool", "--branch", desk[1]["preschool"]["branch"],
                   "--public-fund", f"{CITY_FREE}:{RECIPIENT}")
    assert result["verdict"] == "ok" and result["copay_percent"] == 20
    assert result["charge"]["known"] and result["charge"]["percent"] == 0 and result["charge"]["ja"] == "窓口負担なし"
    assert result["funds"][0]["rule"]["source"] == "facility"


def test_a_nanbyou_patient_pays_the_ratio_up_to_the_typed_cap(desk):
    nanbyou = numbered("5413201")
    result = check(desk, "valid", "--branch", desk[1]["valid"]["branch"],
                   "--public-fund", f"{nanbyou}:{RECIPIENT}:5000")
    assert result["copay_percent"] == 30
    charge = result["charge"]
    assert (charge["known"], charge["percent"], charge["monthly_cap_yen"]) == (True, 20, 5000)
    path, s = desk[0], desk[1]["valid"]
    text = madoguchi("check", "--insurer", s["insurer_number"], "--symbol", s["symbol"], "--number", s["number"],
                     "--branch", s["branch"], "--birth", s["birth_date"], "--public-fund", f"{nanbyou}:{RECIPIENT}:5000",
                     data_dir=path, check=True).stdout
    assert "窓口負担: 2割（月上限 5,000円" in text and "公費: " + nanbyou + "（難病）" in text


def test_a_75_year_old_without_funds_pays_one_tenth(desk):
    result = check(desk, "kouki")
    assert (result["verdict"], result["copay_percent"], result["charge"], result["funds"]) == ("ok", 10, None, [])


def test_a_fund_without_a_rule_is_shown_as_unknown_not_guessed(desk):
    result = check(desk, "preschool", "--branch", desk[1]["preschool"]["branch"],
                   "--public-fund", f"{CITY_UNSET}:{RECIPIENT}")
    assert result["charge"]["known"] is False and result["charge"]["percent"] is None
    assert result["funds"][0]["ja"] == f"{CITY_UNSET}（地方公費（市区町村・都道府県））：負担ルール未設定（窓口負担を確認）"
    assert "charge_unknown" in [w["code"] for w in result["warnings"]]
    assert audit_detail(desk, result["audit_id"])["funds"][0]["rule"] == "unknown"


@pytest.mark.parametrize("fund, named", [
    (f"{CITY_FREE[:-1]}{(int(CITY_FREE[-1]) + 1) % 10}:{RECIPIENT}", "public fund payer number: its last digit"),
    (f"{CITY_FREE}:{RECIPIENT[:-1]}{(int(RECIPIENT[-1]) + 1) % 10}", "public fund recipient number: its last digit"),
])
def test_a_wrong_check_digit_is_named(desk, fund, named):
    path, s = desk[0], desk[1]["valid"]
    result = madoguchi("check", "--insurer", s["insurer_number"], "--symbol", s["symbol"], "--number", s["number"],
                       "--birth", s["birth_date"], "--public-fund", fund, data_dir=path)
    assert result.returncode == 2 and named in result.stderr and "検証番号" in result.stderr


def test_funds_show_and_check(desk, tmp_path):
    path, _ = desk
    shown = json.loads(madoguchi("funds", "show", "--json", data_dir=path, check=True).stdout)
    keys = {(r["houbetsu"], r["prefecture"], r["institution"]): r["source"] for r in shown["rules"]}
    assert keys[("12", "", "")] == "default" and keys[("88", "13", "201")] == "facility"
    bad = tmp_path / "bad.csv"
    bad.write_text("houbetsu,prefecture,institution,charge,percent,yen,name\n88,13,201,ratio,,,x\n", encoding="utf-8")
    result = madoguchi("funds", "check", str(bad), "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["problems"] == ["line 2: charge ratio needs percent"]
    assert madoguchi("funds", "check", str(tmp_path / "absent.csv")).returncode == 2
