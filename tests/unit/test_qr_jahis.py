"""JAHIS 院外処方箋 QR: every version round-trips, odd real-world codes give warnings, and
arbitrary bytes raise nothing but JahisError."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from madoguchi.edge.numbers import check_digit, parse_year_month
from madoguchi.edge.qr.jahis import JahisError, PrescriptionData, PublicFund, build_jahis, parse_jahis
from madoguchi.sim.documents import SAMPLE_PERSON, prescription_from_person

TODAY = date(2026, 11, 16)
PERSON = replace(
    prescription_from_person(SAMPLE_PERSON),
    name="山田　太郎", name_kana="ヤマダ　タロウ", sex=1, personal_family=2, branch="03", copay_class="3",
    public_funds=(PublicFund(27, "12131015", "1234566"), PublicFund(30, "28131019", "")),
    exchange_number="1234567890123456", prescription_number_kind="1",
)


def parsed(payload: bytes):
    return parse_jahis(payload, TODAY)


@pytest.mark.parametrize("version", range(2, 11))
@pytest.mark.parametrize("eof", [False, True])
def test_every_version_round_trips(version, eof):
    data, warnings = parsed(build_jahis(PERSON, version, eof=eof))
    expected = replace(PERSON, layout=f"JAHIS{version}", branch=PERSON.branch if version >= 7 else "",
                       insurer_number_valid=True)
    assert data == expected
    assert warnings == []


@pytest.mark.parametrize("form, birth, year_month", [
    ("western", date(1980, 4, 1), None), ("era", date(1980, 4, 1), None),
    ("year_month", None, (1980, 4)), ("era_year_month", None, (1980, 4)),
])
def test_birth_date_in_every_form(form, birth, year_month):
    data, warnings = parsed(build_jahis(PERSON, 10, birth_form=form))
    assert (data.birth_date, data.birth_year_month) == (birth, year_month)
    assert bool(year_month) == any("年月のみ" in w for w in warnings)


def test_era_year_month_at_the_start_of_an_era():
    assert parse_year_month("40101") == (1989, 1)  # 平成元年1月: the era began on the 8th
    assert parse_year_month("36401") == (1989, 1)  # 昭和64年1月
    data, _ = parsed(b"JAHIS10\r\n13,50105\r\n")
    assert data.birth_year_month == (2019, 5)


def test_ascii_only_code_without_names():
    data, warnings = parsed(b"JAHIS5\r\n12,2\r\n13,19750102\r\n22,138016\r\n23,,12345,1\r\n")
    assert (data.sex, data.birth_date, data.insurer_number, data.number) == (2, date(1975, 1, 2), "138016", "12345")
    assert data.insurer_number_valid and warnings == []


def test_unknown_version_parses_what_it_can_with_a_warning():
    data, warnings = parsed(build_jahis(PERSON, 11))
    assert data.insurer_number == PERSON.insurer_number and data.branch == "03"
    assert any("JAHIS11" in w for w in warnings)


def test_check_digit_mismatch_is_a_warning_not_a_crash():
    body = "0113001"
    wrong = body + str((int(check_digit(body)) + 1) % 10)
    data, warnings = parsed(build_jahis(replace(PERSON, insurer_number=wrong), 10))
    assert data.insurer_number == wrong and not data.insurer_number_valid
    assert any("検証番号" in w for w in warnings)


def test_unconvertible_character_flags_the_name():
    data, warnings = parsed(build_jahis(replace(PERSON, name="渡■　一郎"), 10))
    assert data.name == "渡■　一郎" and data.name_needs_visual_check
    assert any("■" in w for w in warnings)


def test_full_width_and_hyphen_variants_are_normalised():
    payload = "JAHIS9\r\n22,０１１３００１２\r\n23,１２－３４,００５６,1,１\r\n".encode("cp932")
    data, _ = parsed(payload)
    assert (data.insurer_number, data.symbol, data.number, data.branch) == ("01130012", "1234", "0056", "01")


def test_branch_only_from_jahis7():
    payload = b"JAHIS6\r\n23,1,2,1,05\r\n"
    assert parsed(payload)[0].branch == ""
    assert parsed(payload.replace(b"JAHIS6", b"JAHIS7"))[0].branch == "05"


def test_self_pay_has_no_insurer_number_and_no_warning():
    data, warnings = parsed(b"JAHIS10\r\n21,6\r\n22,\r\n23,,,1\r\n")
    assert data.insurer_number == "" and data.insurance_kind_ja == "自費" and warnings == []


def test_zero_padded_kokuho_number_is_unpadded():
    data, warnings = parsed(b"JAHIS10\r\n22,00138016\r\n")
    assert data.insurer_number == "138016" and data.insurer_number_valid


def test_drug_records_are_ignored_and_bad_lines_warned():
    payload = build_jahis(PERSON, 10) + "201,1,2,1,2,???,薬,1,1,錠\r\nごみ\r\n".encode("cp932")
    data, warnings = parsed(payload)
    assert data.insurer_number == PERSON.insurer_number
    assert len(warnings) == 1 and "レコード番号" in warnings[0]


def test_lone_lf_lines_and_utf8_are_accepted():
    data, warnings = parsed("JAHIS10\n11,,山田　花子,ﾔﾏﾀﾞ ﾊﾅｺ\n".encode("utf-8"))
    assert data.name == "山田　花子" and data.name_kana == "ヤマダ　ハナコ"
    assert any("UTF-8" in w for w in warnings)


def test_undecodable_bytes_are_replaced_and_warned():
    data, warnings = parsed(b"JAHIS10\r\n11,,\x81\xff\xfc,\r\n22,01130012\r\n")
    assert data.name_needs_visual_check and data.insurer_number == "01130012"
    assert any("文字化け" in w for w in warnings)


@pytest.mark.parametrize("payload", [b"", b"JAHIS\r\n", b"JAHISX\r\n", b"hello", b"\x1a", b"JAHIS10abc"])
def test_not_a_jahis_code_raises_jahis_error(payload):
    with pytest.raises(JahisError):
        parsed(payload)


JAHIS_LINE = st.lists(
    st.one_of(st.sampled_from(["1", "11", "12", "13", "14", "21", "22", "23", "24", "27", "30", "82", "201", "x", ""]),
              st.text(alphabet="0123456789０１２３-－ー■山田ｱｲｳ ,", max_size=14)),
    min_size=1, max_size=6,
).map(",".join)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_raise_only_jahis_error(payload):
    for candidate in (payload, b"JAHIS10\r\n" + payload, b"JAHIS" + payload):
        try:
            data, warnings = parsed(candidate)
        except JahisError:
            continue
        assert isinstance(data, PrescriptionData) and all(isinstance(w, str) for w in warnings)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 12), st.lists(JAHIS_LINE, max_size=12), st.sampled_from(["\r\n", "\n", "\r"]),
       st.sampled_from(["cp932", "utf-8"]))
def test_fuzz_record_shaped_text_never_raises(version, lines, newline, encoding):
    payload = newline.join([f"JAHIS{version}", *lines]).encode(encoding)
    data, warnings = parsed(payload)
    assert data.layout == f"JAHIS{version}"
    assert data.insurer_number == "" or len(data.insurer_number) in (6, 8)
