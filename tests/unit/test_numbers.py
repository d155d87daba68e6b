import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from madoguchi.edge.numbers import (
    HOUBETSU,
    InputError,
    check_digit,
    format_gyymmdd,
    normalize_branch,
    normalize_symbol,
    parse_birth_date,
    parse_insurer_number,
    to_fullwidth_kana,
)


def test_worked_example_from_the_setting_rules():
    assert check_digit("3312001") == "5"
    assert parse_insurer_number("33120015").digits == "33120015"


@pytest.mark.parametrize("text", ["01130012", "０１１３００１２", "0113-0012", " 01130012 "])
def test_valid_eight_digit_numbers_in_any_width(text):
    number = parse_insurer_number(text)
    assert number.digits == "01130012" and number.kind == "協会けんぽ" and not number.is_kouki


def test_six_digit_kokuho_number_is_padded_for_the_terminal():
    body = "13001"
    number = parse_insurer_number(body + check_digit(body))
    assert number.houbetsu is None and number.kind == "国民健康保険"
    assert number.padded == "  " + body + check_digit(body)


@pytest.mark.parametrize("text, fragment", [
    ("01130013", r"check digit \(digit 8\) is 3 but digits 1-7 give 2"),
    ("0113001", "has 7 digits"),
    ("0113A012", "character 5 'A' is not a digit"),
    ("99130012", "unknown 法別番号 99"),
    ("", "empty"),
])
def test_bad_insurer_numbers_say_what_is_wrong(text, fragment):
    with pytest.raises(InputError, match=fragment):
        parse_insurer_number(text)


valid_bodies = st.one_of(
    st.tuples(st.sampled_from(sorted(HOUBETSU)), st.text("0123456789", min_size=5, max_size=5)).map("".join),
    st.text("0123456789", min_size=5, max_size=5),
)


@given(valid_bodies, st.data())
def test_every_one_digit_change_of_a_valid_number_is_detected(body, data):
    valid = body + check_digit(body)
    parse_insurer_number(valid)
    position = data.draw(st.integers(0, len(valid) - 1))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != valid[position]]))
    changed = valid[:position] + digit + valid[position + 1:]
    with pytest.raises(InputError):
        parse_insurer_number(changed)


@given(st.text(alphabet="0123456789ABCあいう国-－ー 　‐", max_size=12))
def test_symbol_normalisation_is_idempotent_and_width_blind(text):
    once = normalize_symbol(text)
    assert normalize_symbol(once) == once
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in once)
    assert normalize_symbol(wide) == once
    assert " " not in once and "-" not in once


def test_symbol_keeps_leading_zeros_and_kanji():
    assert normalize_symbol("００１２－３４") == "001234"
    assert normalize_symbol("国 ０１") == "国01"


@pytest.mark.parametrize("text, expected", [("1", "01"), ("１２", "12"), ("", ""), (None, "")])
def test_branch(text, expected):
    assert normalize_branch(text) == expected


def test_branch_refuses_three_digits():
    with pytest.raises(InputError, match="2 digits"):
        normalize_branch("123")


@given(st.dates(min_value=date(1868, 1, 25), max_value=date(2026, 1, 1)))
def test_era_form_round_trips(day):
    assert parse_birth_date(format_gyymmdd(day), today=date(2026, 11, 22)) == day


@pytest.mark.parametrize("text, expected", [
    ("19750102", date(1975, 1, 2)), ("1975-1-2", date(1975, 1, 2)), ("1975/01/02", date(1975, 1, 2)),
    ("1975年1月2日", date(1975, 1, 2)), ("3500102", date(1975, 1, 2)), ("S50.1.2", date(1975, 1, 2)),
    ("昭和50年1月2日", date(1975, 1, 2)), ("平成元年1月8日", date(1989, 1, 8)), ("R1.5.1", date(2019, 5, 1)),
    ("１９７５０１０２", date(1975, 1, 2)), ("昭和64年1月7日", date(1989, 1, 7)),
])
def test_birth_date_forms(text, expected):
    assert parse_birth_date(text, today=date(2026, 11, 22)) == expected


@pytest.mark.parametrize("text, fragment", [
    ("平成1年1月7日", "outside the 平成 era"), ("19750230", "not a date"), ("6010101", "unknown era"),
    ("2030-01-01", "future"), ("1/2/75", "not in a known form"), ("", "empty"),
])
def test_bad_birth_dates(text, fragment):
    with pytest.raises(InputError, match=fragment):
        parse_birth_date(text, today=date(2026, 11, 22))


@pytest.mark.parametrize("text, expected", [
    ("700413", date(1970, 4, 13)),  # 2070 has not come: only one century fits
    ("991231", date(1999, 12, 31)), ("300101", date(1930, 1, 1)),
])
def test_six_digits_are_yymmdd_when_one_century_fits(text, expected):
    assert parse_birth_date(text, today=date(2026, 11, 22)) == expected


@pytest.mark.parametrize("text", ["50.1.2", "45.4.13", "150301", "1/2/75"])
def test_an_ambiguous_year_gets_an_example_of_what_works(text):
    """45.4.13 is 明治45 or 昭和45; 150301 is 1915 or 2015: asked again, with examples."""
    with pytest.raises(InputError) as error:
        parse_birth_date(text, today=date(2026, 11, 22))
    assert "S50.1.2" in str(error.value) and "19750102" in str(error.value)


def test_an_over_long_birth_date_is_refused_without_echoing_it():
    with pytest.raises(InputError) as error:
        parse_birth_date("9" * 100_000, today=date(2026, 11, 22))
    assert len(str(error.value)) < 200 and "16" in str(error.value)


# Full-width katakana that have a half-width form (with voiced marks as two half-width chars).
_HALF = [chr(c) for c in range(0xFF66, 0xFF9E)]
_TO_HALF = {unicodedata.normalize("NFKC", h): h for h in _HALF}
for _h in list(_HALF):
    for _mark in ("ﾞ", "ﾟ"):
        _full = unicodedata.normalize("NFKC", _h + _mark)
        if len(_full) == 1:
            _TO_HALF[_full] = _h + _mark


@given(st.text(alphabet=sorted(_TO_HALF) + ["　", "A", "漢"], max_size=20))
def test_half_width_kana_round_trips_to_full_width(full):
    half = "".join(_TO_HALF.get(c, c) for c in full)
    assert to_fullwidth_kana(half) == full


def test_half_width_kana_joins_voiced_marks():
    assert to_fullwidth_kana("ﾔﾏﾀﾞ ﾀﾛｳ") == "ヤマダ タロウ"
