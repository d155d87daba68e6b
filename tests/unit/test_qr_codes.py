"""classify(): every kind of code, the My Number refusal, and fuzzing for leaks."""

from __future__ import annotations

import json
import logging
import random
import re
import unicodedata
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.qr import CodeSettings, ScanError, ScanKind, ScanSource, check_request, classify
from madoguchi.edge.qr.jahis import PublicFund as JahisFund
from madoguchi.edge.qr.jahis import build_jahis
from madoguchi.edge.qr.mynumber import contains_my_number, is_my_number, is_my_number_code, my_number_check_digit
from madoguchi.edge.verdict import Method
from madoguchi.sim.documents import SAMPLE_PERSON, prescription_from_person

TODAY = date(2026, 11, 16)
MY_NUMBER = "983205673214"  # passes the check digit (worked example, see edge/qr/mynumber.py)
PRESCRIPTION = prescription_from_person(SAMPLE_PERSON)


def my_number(rng: random.Random) -> str:
    body = "".join(rng.choice("0123456789") for _ in range(11))
    return body + str(my_number_check_digit(body))


def test_my_number_check_digit():
    assert is_my_number(MY_NUMBER)
    assert not is_my_number("983205673210") and not is_my_number("98320567321") and not is_my_number("A83205673214")
    rng = random.Random(7)
    for _ in range(200):
        number = my_number(rng)
        wrong = number[:11] + str((int(number[11]) + rng.randint(1, 9)) % 10)
        assert is_my_number(number) and not is_my_number(wrong)


@pytest.mark.parametrize("payload", [
    MY_NUMBER.encode(), f"{MY_NUMBER}\r\n".encode(), "９８３２０５６７３２１４".encode("utf-8"),
    b"9832 0567 3214", b"9832-0567-3214\x1a", MY_NUMBER,
])
def test_a_my_number_code_is_refused(payload):
    result = classify(payload, today=TODAY)
    assert result.kind == ScanKind.MY_NUMBER and result.refused
    assert "マイナンバー" in result.message_ja and MY_NUMBER not in json.dumps(result.to_json())


def test_a_twelve_digit_number_failing_the_check_is_not_a_my_number():
    assert not is_my_number_code("983205673210")
    result = classify(b"983205673210", settings=CodeSettings(patient_card_pattern=r"[0-9]{12}"))
    assert result.kind == ScanKind.PATIENT_CARD and result.patient_id == "983205673210"


def test_a_my_number_inside_another_code_never_comes_out():
    jahis = build_jahis(replace(PRESCRIPTION, patient_code=MY_NUMBER, number=f"A{MY_NUMBER}"), 10)
    result = classify(jahis, today=TODAY)
    assert result.kind == ScanKind.PRESCRIPTION
    assert result.prescription.patient_code == "" and result.prescription.number == ""
    assert any("破棄" in w for w in result.warnings)
    for code in (f"MADOGUCHI-CHECK:{MY_NUMBER}", f"https://myna.go.jp/{MY_NUMBER}", f"ID{MY_NUMBER}"):
        assert classify(code.encode()).kind == ScanKind.MY_NUMBER


def test_jahis_prescription():
    result = classify(build_jahis(PRESCRIPTION, 8), today=TODAY)
    assert result.kind == ScanKind.PRESCRIPTION and result.has_numbers and not result.warnings
    request = check_request(result)
    assert (request.method, request.document) == (Method.QR, DocumentKind.PRESCRIPTION)
    assert (request.insurer_number, request.symbol, request.number, request.branch, request.birth_date) == (
        "01130012", "1234567", "89", "00", date(1980, 4, 1))


def test_prescription_warnings_reach_the_check_request():
    result = classify(build_jahis(replace(PRESCRIPTION, name="■本　花子"), 10), today=TODAY)
    assert check_request(result).input_warnings == result.warnings and result.warnings


def test_wedge_scan_that_kept_the_kanji_has_no_kanji_warning():
    typed = "JAHIS10\r\n11,,木村　拓也,ｷﾑﾗ ﾀｸﾔ\r\n22,01130012\r\n23,1234567,89,1,00\r\n13,19800401\r\n"
    result = classify(typed, ScanSource.WEDGE, today=TODAY)
    assert result.kind == ScanKind.PRESCRIPTION and result.prescription.name == "木村　拓也"
    assert not any("キーボードモード" in w for w in result.warnings)


def test_year_month_only_cannot_be_checked_by_numbers():
    result = classify(build_jahis(PRESCRIPTION, 10, birth_form="year_month"), today=TODAY)
    with pytest.raises(ScanError, match="年月のみ"):
        check_request(result)


def test_wedge_scan_of_a_jahis_code_says_kanji_cannot_arrive():
    typed = "JAHIS10\r\n11,,,\r\n22,01130012\r\n23,1234567,89,1,00\r\n13,19800401\r\n"
    result = classify(typed, ScanSource.WEDGE, today=TODAY)
    assert result.kind == ScanKind.PRESCRIPTION and "文字化け" in result.message_ja
    assert "キーボードモード" in result.warnings[0]
    assert check_request(result).number == "89"  # the numbers are ASCII and still usable


@pytest.mark.parametrize("text, birth, exchange", [
    ("01130012,1234567,89,00,19800401,1234567890123456", date(1980, 4, 1), "1234567890123456"),
    ("01130012,1234567,89,,3550401", date(1980, 4, 1), ""),
    ("\ufeff０１１３００１２，１２３４５６７，８９，００，1980-04-01，12\r\n", date(1980, 4, 1), "12"),
])
def test_e_prescription_copy_code(text, birth, exchange):
    result = classify(text.encode("utf-8"), today=TODAY)
    assert result.kind == ScanKind.E_PRESCRIPTION_COPY
    data = result.prescription
    assert (data.insurer_number, data.symbol, data.number, data.birth_date, data.exchange_number) == (
        "01130012", "1234567", "89", birth, exchange)
    assert check_request(result).method == Method.QR


@pytest.mark.parametrize("url, kind", [
    ("https://myna.go.jp/SCK0101_01_001/SCK0101_01_001_InitDiscsys.form", ScanKind.PORTAL_LINK),
    ("HTTPS://img.myna.go.jp/x", ScanKind.PORTAL_LINK),
    ("https://www.digital.go.jp/policies/mynumber", ScanKind.PORTAL_LINK),
    ("https://myna.go.jp.example.com/", ScanKind.UNRECOGNISED),
    ("https://example.com/", ScanKind.UNRECOGNISED),
])
def test_notice_and_portal_links(url, kind):
    result = classify(url.encode())
    assert result.kind == kind
    with pytest.raises(ScanError):
        check_request(result)


def test_configured_portal_host():
    result = classify(b"https://zaitaku.example-clinic.jp/u/1", settings=CodeSettings(portal_hosts=("example-clinic.jp",)))
    assert result.kind == ScanKind.PORTAL_LINK and "番号" in result.message_ja


def test_patient_card_default_and_configured_pattern():
    assert classify(b"00012345\r\n").patient_id == "00012345"
    custom = CodeSettings(patient_card_pattern=r"PT-([0-9]{6})")
    result = classify(b"PT-012345", settings=custom)
    assert result.kind == ScanKind.PATIENT_CARD and result.patient_id == "012345"
    assert check_request(result).method == Method.PATIENT_ID
    assert classify(b"PT-012345").kind == ScanKind.UNRECOGNISED


def test_check_slip():
    result = classify(b"MADOGUCHI-CHECK:42")
    assert result.kind == ScanKind.CHECK_SLIP and result.check_id == 42


@pytest.mark.parametrize("payload", [b"", b"hello", b"\xff\xfe\x00", "日本語".encode("cp932"), b"JAHIS"])
def test_anything_else_is_unrecognised(payload):
    result = classify(payload)
    assert result.kind == ScanKind.UNRECOGNISED and result.message_ja


def test_wedge_garbage_suggests_usb_com_mode():
    assert "USB-COM" in classify("ｱｲｳ漢字", ScanSource.WEDGE).message_ja


# ---- fuzzing: never raises, never leaks a My Number into a result or a log ----------------

def _carriers(number: str, noise: bytes, rng: random.Random) -> list[bytes]:
    person = replace(PRESCRIPTION, **{rng.choice(["patient_code", "number", "symbol", "name", "institution_name",
                                                   "exchange_number"]): number})
    jahis = build_jahis(person, rng.randint(2, 11), eof=rng.random() < 0.5)
    cut = rng.randint(0, len(jahis))
    return [
        number.encode(), jahis, jahis[:cut] + noise + jahis[cut:],
        f"01130012,{number},89,00,19800401,{number}".encode(), f"01130012,1,{number},00,19800401".encode(),
        noise + number.encode() + noise, f"MADOGUCHI-CHECK:{number}".encode(),
        f"https://myna.go.jp/{number}".encode(), number.encode("utf-16"),
    ]


# caplog collects the records of every example: that is what these tests check.
FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _assert_no_leak(result, caplog, number: str) -> None:
    dumped = json.dumps(result.to_json(), ensure_ascii=False)
    assert not contains_my_number(dumped), dumped
    # A 12-digit number inside a longer run of digits is not My Number-shaped (noise can extend it).
    assert not re.search(rf"(?<!\d){number}(?!\d)", repr(result))
    for record in caplog.records:
        assert not contains_my_number(record.getMessage())


@settings(max_examples=300, **FUZZ)
@given(st.randoms(use_true_random=False), st.binary(max_size=40), st.sampled_from(list(ScanSource)))
def test_fuzz_my_number_never_leaks(caplog, rng, noise, source):
    caplog.set_level(logging.DEBUG)
    number = my_number(rng)
    for payload in _carriers(number, noise, rng):
        _assert_no_leak(classify(payload, source, today=TODAY), caplog, number)


@settings(max_examples=500, **FUZZ)
@given(st.one_of(st.binary(max_size=200), st.binary(max_size=200).map(lambda b: b"JAHIS10\r\n" + b),
                 st.text(max_size=80)),
       st.sampled_from(list(ScanSource)))
def test_fuzz_classify_never_raises(caplog, payload, source):
    caplog.set_level(logging.DEBUG)
    result = classify(payload, source, today=TODAY)
    assert isinstance(result.kind, ScanKind) and result.message_ja
    _assert_no_leak(result, caplog, "no-number")
    if result.kind in (ScanKind.PRESCRIPTION, ScanKind.E_PRESCRIPTION_COPY, ScanKind.PATIENT_CARD):
        try:
            check_request(result)
        except ScanError:
            pass
    assert not any(r.levelno >= logging.ERROR for r in caplog.records), "classification hit an internal error"


COPY_FIELD = st.one_of(st.sampled_from(["01130012", "138016", "19800401", "3550401", "198004", "00", "", "89"]),
                       st.text(alphabet="0123456789０１-－ ■山", max_size=14))


@settings(max_examples=400, **FUZZ)
@given(st.lists(COPY_FIELD, min_size=1, max_size=8), st.sampled_from([",", "，", "、"]))
@example(["00000０", "19800401"], ",")
def test_fuzz_copy_shaped_text(caplog, values, comma):
    caplog.set_level(logging.DEBUG)
    result = classify(comma.join(values).encode("utf-8"), today=TODAY)
    _assert_no_leak(result, caplog, "no-number")
    if result.kind == ScanKind.E_PRESCRIPTION_COPY:
        # a copy typed with full-width digits reads as the digits (NFKC)
        assert result.prescription.insurer_number == unicodedata.normalize("NFKC", values[0])
        assert result.prescription.birth_date or result.prescription.birth_year_month


def test_the_portal_link_message_says_printed_or_shown_and_asks_plainly():
    result = classify("https://myna.go.jp/", ScanSource.SERIAL, CodeSettings(), TODAY)
    assert result.kind == ScanKind.PORTAL_LINK
    assert "画面に表示された番号" in result.message_ja and "いただいて" not in result.message_ja


def test_a_prescriptions_funds_reach_the_check_request():
    # records 27-30 (docs/domain.md §7): a fund with a wrong check digit is kept, to be shown as unusable
    data = replace(prescription_from_person(SAMPLE_PERSON), public_funds=(
        JahisFund(27, "54132014", "7654320"), JahisFund(28, "88132015", "1234567")))
    request = check_request(classify(build_jahis(data)))
    assert [(f.payer_number, f.recipient_number, f.source) for f in request.public_funds] == [
        ("54132014", "7654320", "qr"), ("88132015", "1234567", "qr")]
    assert request.public_funds[0].problem is None and "検証番号" in request.public_funds[1].problem


def test_a_welfare_prescription_without_insurance_is_looked_up_by_its_fund():
    data = replace(prescription_from_person(SAMPLE_PERSON), insurance_kind="", insurer_number="", symbol="",
                   number="", branch="", public_funds=(JahisFund(27, "12131017", "1234566"),))
    request = check_request(classify(build_jahis(data)))
    assert (request.method, request.insurer_number, request.number) == (Method.QR, "12131017", "1234566")
    assert request.public_funds[0].is_welfare
