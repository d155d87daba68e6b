"""JAHIS prescription codes as real generators write them, in both encodings.

The payloads are rebuilt (values changed, layout kept) from public test fixtures:
- RXPARSER: YasushiMatsumoto/jahis-rx-parser test/fixtures/qr-decoded-anonymized.txt and
  test/external-data/sample.txt (decoded from real codes): LF line endings, record 1 without
  its 種別 field, record 22 holding a non-number, an empty record 23.
- ORCA: Acedia-Belphegor/fhir-prescription debug/from_qr/example_utf8.csv (an ORCA-based
  generator writing UTF-8, JAHIS5) and example_sjis.csv (the same in Shift_JIS, with `?` for
  the characters it could not encode).
- SPEC: the deviations the specification itself allows (docs/domain.md §7): a year-only birth
  date (`13,1960`, era `13,335`), a 4-digit old insurer number (`22,0123`), 自費 (`21,6`).
"""

from __future__ import annotations

from datetime import date

import pytest
from madoguchi.edge.qr.codes import ScanKind, check_request, classify
from madoguchi.edge.qr.jahis import ScanError, decode_jahis, parse_jahis
from madoguchi.sim.population import generate

TODAY = date(2026, 11, 16)
ENCODINGS = ["cp932", "utf-8"]

RXPARSER = ("JAHIS10\n1,9709999,テスト医療センター\n2,京都府テスト市テスト区テスト町1-2-3\n"
            "3,000-0000-0000\n4,テスト内科\n5,,ﾃｽﾄｲｼ,テスト 医師\n11,,テスト 花子,ﾃｽﾄ ﾊﾅｺ\n12,2\n"
            "13,19900101\n21,1\n22,{insurer}\n23,,,1,\n51,20260130\n101,1,9,注射\n")
ORCA = ("JAHIS5\n1,1,1234567,13,医療法人社団ｘｙｚ会　オルカクリニック\n"
        "2,113-0021,東京都文京区本駒込２{dash}２８{dash}１６　ほげほげビル９９Ｆ\n4,2,01,内科\n5,,,テスト医師\n"
        "11,,九亜流　花子,ｷｭｳｱｰﾙ ﾊﾅｺ\n12,2\n13,19671012\n21,1\n22,06270409\n23,１２,３４５,1\n"
        "27,21136791,6247373\n51,20200319\n201,1,1,,7,1149019F1ZZZ,【般】ロキソプロフェンＮａ錠６０ｍｇ,3,1,錠\n")


def parsed(text: str, encoding: str):
    return parse_jahis(text.encode(encoding), TODAY)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_record_1_without_its_kind_field(encoding):
    data, _ = parsed(RXPARSER.format(insurer="06139990"), encoding)
    assert (data.institution_code, data.institution_prefecture, data.institution_name) == (
        "9709999", "", "テスト医療センター")
    assert data.name == "テスト 花子" and data.name_kana == "テスト　ハナコ" and data.birth_date == date(1990, 1, 1)
    with_prefecture, _ = parsed(RXPARSER.format(insurer="06139990").replace("1,9709999,", "1,9709999,26,"), encoding)
    assert (with_prefecture.institution_code, with_prefecture.institution_prefecture) == ("9709999", "26")
    standard, _ = parsed(RXPARSER.format(insurer="06139990").replace("1,9709999,", "1,1,9709999,26,"), encoding)
    assert (standard.institution_code, standard.institution_prefecture, standard.institution_name) == (
        "9709999", "26", "テスト医療センター")


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("insurer", ["Z3", ""])
def test_an_empty_or_invalid_record_22_gives_one_warning(encoding, insurer):
    data, warnings = parsed(RXPARSER.format(insurer=insurer), encoding)
    assert data.insurer_number == ""
    assert len([w for w in warnings if "レコード22" in w]) == 1
    assert not any("がありません" in w for w in warnings)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_missing_record_22_is_still_reported(encoding):
    _, warnings = parsed(RXPARSER.format(insurer="x").replace("22,x\n", ""), encoding)
    assert "保険者番号（レコード22）がありません" in warnings


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("value,year", [("1960", 1960), ("335", 1960), ("５０１", 2019)])
def test_a_year_only_birth_date_is_kept(encoding, value, year):
    data, warnings = parsed(RXPARSER.format(insurer="06139990").replace("13,19900101", f"13,{value}"), encoding)
    assert (data.birth_year, data.birth_date, data.birth_year_month) == (year, None, None)
    assert any("年のみ" in w for w in warnings)
    assert data.to_json()["birth_year"] == year
    scan = classify(RXPARSER.format(insurer="06139990").replace("13,19900101", f"13,{value}").encode(encoding),
                    today=TODAY)
    with pytest.raises(ScanError, match=f"年のみ：{year}年"):  # the desk asks for the rest
        check_request(scan)


@pytest.mark.parametrize("value", ["635", "2999", "000"])
def test_an_impossible_year_is_a_warning_not_a_year(value):
    data, warnings = parsed(RXPARSER.format(insurer="06139990").replace("13,19900101", f"13,{value}"), "cp932")
    assert data.birth_year is None and any("読めません" in w for w in warnings)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_four_digit_old_insurer_number_is_kept_and_said(encoding):
    text = RXPARSER.format(insurer="0123")
    data, warnings = parsed(text, encoding)
    assert data.insurer_number == "0123" and not data.insurer_number_valid
    assert any("4桁" in w for w in warnings)
    with pytest.raises(ScanError, match="4桁の旧番号"):
        check_request(classify(text.replace("23,,,1,", "23,12,345,1,").encode(encoding), today=TODAY))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_self_pay_prescription_says_so(encoding):
    text = RXPARSER.format(insurer="").replace("21,1\n", "21,6\n")
    data, warnings = parsed(text, encoding)
    assert data.insurance_kind_ja == "自費" and not any("レコード22" in w for w in warnings)
    with pytest.raises(ScanError, match="自費の処方箋です"):
        check_request(classify(text.encode(encoding), today=TODAY))


def test_orca_utf8_code_is_read_as_utf8():
    data, warnings = parse_jahis(ORCA.format(dash="−").encode("utf-8"), TODAY)
    assert data.layout == "JAHIS5" and data.name == "九亜流　花子" and data.name_kana == "キュウアール　ハナコ"
    assert data.institution_name == "医療法人社団ｘｙｚ会　オルカクリニック"
    assert (data.insurer_number, data.symbol, data.number) == ("06270409", "12", "345")
    assert data.public_funds[0].payer_number == "21136791"
    assert any("UTF-8" in w for w in warnings) and not data.name_needs_visual_check


def test_orca_shift_jis_code_with_question_marks():
    data, warnings = parse_jahis(ORCA.format(dash="?").encode("cp932"), TODAY)
    assert data.name == "九亜流　花子" and warnings == []
    marked, warnings = parse_jahis(ORCA.format(dash="?").replace("九亜流", "九?流").encode("cp932"), TODAY)
    assert marked.name_needs_visual_check and any("表示できない文字" in w for w in warnings)


def names(count: int) -> list[str]:
    return [r["name"] for r, _ in zip(generate(count * 2, 7, TODAY), range(count), strict=False)]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_short_codes_decode_without_mojibake(encoding):
    """The shortest codes (a name and nothing else to betray the encoding) in both encodings:
    no name comes out wrong, and a code both encodings could read carries a warning."""
    wrong, guessed = [], 0
    for name in names(800):
        try:
            payload = f"JAHIS10\r\n11,,{name}\r\n".encode(encoding)
        except UnicodeEncodeError:
            continue
        text, warnings = decode_jahis(payload)
        if f"11,,{name}" not in text:
            wrong.append(name)
        guessed += any("推定" in w for w in warnings)
    assert wrong == []
    assert guessed > 0 if encoding == "utf-8" else guessed == 0  # no Shift_JIS name here is valid UTF-8


def test_a_guess_is_always_said():
    # 漢 in UTF-8 (E6 BC A2) is also valid Shift_JIS (two characters): read as UTF-8, with a warning.
    text, warnings = decode_jahis("JAHIS10\r\n11,,漢\r\n".encode())
    assert "漢" in text and any("推定" in w for w in warnings)
    text, warnings = decode_jahis("JAHIS10\r\n11,,ﾀﾅｶ\r\n".encode("cp932"))
    assert "ﾀﾅｶ" in text and warnings == []  # half-width kana: only Shift_JIS reads it, no guess


def test_a_keyboard_wedge_code_is_not_decoded_again():
    scan = classify(RXPARSER.format(insurer="06139990"), today=TODAY)
    assert scan.kind == ScanKind.PRESCRIPTION and scan.prescription.name == "テスト 花子"
