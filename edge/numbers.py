"""Number and text rules for insurance documents (docs/domain.md §4).

保険者番号 (insurer number) validation with its check digit, normalisation of
記号 (symbol), 番号 (number) and 枝番 (branch), birth dates in Western and
Japanese era forms, and half-width kana.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date


class InputError(ValueError):
    """Bad input from a person or a document; the message says what is wrong."""


# The longest value each field may hold: the desk's inputs, the command line and every check
# request share these bounds, so an over-long value is refused before it reaches a log.
MAX_LENGTH = {
    "insurer_number": 8, "symbol": 20, "number": 20, "branch": 2, "birth_date": 16, "patient_id": 20,
    "name": 40, "name_kana": 40, "address": 80, "insurer": 40, "workplace": 40, "phone": 20,
}
FIELD_JA = {
    "insurer_number": "保険者番号", "symbol": "記号", "number": "番号", "branch": "枝番", "birth_date": "生年月日",
    "patient_id": "患者番号", "name": "氏名", "name_kana": "フリガナ", "address": "住所", "insurer": "保険者",
    "workplace": "勤務先", "phone": "電話",
}


def check_length(field: str, text: str | None) -> None:
    """Refuse a value longer than its field allows (the message never echoes the value)."""
    limit = MAX_LENGTH[field]
    if text and len(text) > limit:
        raise InputError(f"{field} is too long: {len(text)} characters, at most {limit} "
                         f"({FIELD_JA[field]}が長すぎます：{limit}文字まで)")


def shown(text: str, limit: int = 20) -> str:
    """A bad value for an error message: quoted, cut to `limit` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


# 法別番号: the first two digits of an 8-digit insurer number.
HOUBETSU = {
    "01": "協会けんぽ",
    "02": "船員保険",
    "03": "日雇特例（一般）",
    "04": "日雇特例（特別）",
    "06": "組合健保",
    "07": "自衛官等",
    "31": "共済（国家公務員）",
    "32": "共済（地方公務員）",
    "33": "共済（警察）",
    "34": "共済（私学）",
    "39": "後期高齢者医療",
    "63": "特例退職（組合）",
    "67": "国保退職者",
    "72": "特例退職（国家公務員共済）",
    "73": "特例退職（地方公務員共済）",
    "74": "特例退職（警察共済）",
    "75": "特例退職（私学共済）",
}


def check_digit(body: str) -> str:
    """Luhn-style check digit over the digits before it (docs/domain.md §4).

    Weights 2, 1, 2, 1, ... from the rightmost digit; a two-digit product
    counts as the sum of its digits; the check digit is 10 minus the last digit
    of the sum (0 when that is 0).
    """
    total = 0
    for i, ch in enumerate(reversed(body)):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


@dataclass(frozen=True)
class InsurerNumber:
    """A validated 保険者番号: 8 digits, or 6 for municipal 国保."""

    digits: str

    @property
    def houbetsu(self) -> str | None:
        """法別番号, or None for a 6-digit 国保 number."""
        return self.digits[:2] if len(self.digits) == 8 else None

    @property
    def is_kouki(self) -> bool:
        """後期高齢者医療 (法別 39): 番号 is per person, no 記号."""
        return self.houbetsu == "39"

    @property
    def kind(self) -> str:
        return HOUBETSU[self.digits[:2]] if len(self.digits) == 8 else "国民健康保険"

    @property
    def padded(self) -> str:
        """As the qualification terminal expects it: 8 chars, left-padded with spaces."""
        return self.digits.rjust(8)

    def __str__(self) -> str:
        return self.digits


def parse_insurer_number(text: str) -> InsurerNumber:
    """Validate a 保険者番号 as typed or printed; raise InputError naming the problem."""
    raw = unicodedata.normalize("NFKC", text or "").strip()
    raw = re.sub(r"[\s\-]", "", raw)
    if not raw:
        raise InputError("insurer number is empty (保険者番号が空です)")
    for pos, ch in enumerate(raw, 1):
        if not ch.isascii() or not ch.isdigit():
            raise InputError(
                f"insurer number: character {pos} {ch!r} is not a digit "
                f"(保険者番号の{pos}桁目が数字ではありません)"
            )
    if len(raw) not in (6, 8):
        raise InputError(
            f"insurer number has {len(raw)} digits; it must have 8, or 6 for 国保 "
            f"(保険者番号は8桁、国保は6桁です: {len(raw)}桁)"
        )
    if len(raw) == 8 and raw[:2] not in HOUBETSU:
        raise InputError(
            f"insurer number: unknown 法別番号 {raw[:2]} in digits 1-2 "
            f"(保険者番号の1〜2桁目の法別番号 {raw[:2]} は不明です)"
        )
    expected = check_digit(raw[:-1])
    if raw[-1] != expected:
        n = len(raw)
        raise InputError(
            f"insurer number: check digit (digit {n}) is {raw[-1]} but digits 1-{n - 1} give "
            f"{expected}; one of the digits is mistyped "
            f"(保険者番号の{n}桁目（検証番号）が合いません: {raw[-1]} → 計算上は {expected}。"
            f"どこかの桁の入力誤りです)"
        )
    return InsurerNumber(raw)


_HYPHENS = "\u002d\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d\u30fc\uff70"
_HYPHEN_RE = re.compile(f"[{_HYPHENS}]")
_SPACE_RE = re.compile(r"\s+")


def normalize_symbol(text: str | None) -> str:
    """Canonical 記号 or 番号 for storage and comparison.

    Full-width letters and digits become half-width (NFKC), spaces go, and every
    hyphen-like character (including ー / ｰ typed for a hyphen) is dropped, so
    「１２－３４」, "12-34" and "1234" compare equal. Leading zeros and kana or
    kanji in a 記号 are kept: they are significant.
    """
    if not text:
        return ""
    value = unicodedata.normalize("NFKC", text)
    value = _SPACE_RE.sub("", value)
    return _HYPHEN_RE.sub("", value)


def normalize_branch(text: str | None) -> str:
    """枝番: two digits ("1" and "１" become "01"); empty when not printed."""
    value = normalize_symbol(text)
    if not value:
        return ""
    if not value.isascii() or not value.isdigit() or len(value) > 2:
        raise InputError(
            f"branch number {shown(text or '')} must be at most 2 digits (枝番は2桁の数字です)"
        )
    return value.zfill(2)


# Eras: code used in JAHIS / GYYMMDD, kanji, romaji initial, first day.
ERAS = (
    (1, "明治", "M", date(1868, 1, 25)),
    (2, "大正", "T", date(1912, 7, 30)),
    (3, "昭和", "S", date(1926, 12, 25)),
    (4, "平成", "H", date(1989, 1, 8)),
    (5, "令和", "R", date(2019, 5, 1)),
)
_ERA_BY_KEY = {}
for _code, _kanji, _initial, _start in ERAS:
    for _key in (str(_code), _kanji, _initial, _initial.lower()):
        _ERA_BY_KEY[_key] = (_code, _start)


def era_to_date(era_code: int, year: int, month: int, day: int) -> date:
    """Convert an era date; raise InputError if it is not a day of that era."""
    index = era_code - 1
    if not 0 <= index < len(ERAS):
        raise InputError(f"unknown era code {era_code} (元号コード {era_code} は不明です)")
    _, kanji, _, start = ERAS[index]
    if year < 1:
        raise InputError(f"{kanji}{year}年 is not a year (年が不正です)")
    try:
        result = date(start.year + year - 1, month, day)
    except ValueError as exc:
        raise InputError(f"{kanji}{year}年{month}月{day}日 is not a date ({exc})") from None
    end = ERAS[index + 1][3] if index + 1 < len(ERAS) else None
    if result < start or (end is not None and result >= end):
        raise InputError(f"{kanji}{year}年{month}月{day}日 is outside the {kanji} era (元号の範囲外です)")
    return result


def date_to_era(value: date) -> tuple[int, int, int, int]:
    """(era code, year in era, month, day) for a date from 明治 onwards."""
    for code, _, _, start in reversed(ERAS):
        if value >= start:
            return code, value.year - start.year + 1, value.month, value.day
    raise InputError(f"{value} is before 明治 (明治より前の日付です)")


def date_ja(value: date) -> str:
    """A date as the desk reads it everywhere: 2026年5月29日."""
    return f"{value.year}年{value.month}月{value.day}日"


def format_gyymmdd(value: date) -> str:
    """The `GYYMMDD` era form used by JAHIS codes (e.g. 3500102 = 昭和50年1月2日)."""
    code, year, month, day = date_to_era(value)
    return f"{code}{year:02d}{month:02d}{day:02d}"


_WESTERN_RE = re.compile(r"^(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?$")
_ERA_TEXT_RE = re.compile(
    r"^(明治|大正|昭和|平成|令和|[MTSHRmtshr])\.?(\d{1,2}|元)[-/.年](\d{1,2})[-/.月](\d{1,2})日?$"
)


BIRTH_EXAMPLES_JA = "例 19750102、1975-01-02、S50.1.2、昭和50年1月2日"


def parse_birth_date(text: str, today: date | None = None) -> date:
    """Parse a birth date typed or printed in any usual form.

    Western: 19750102, 1975-01-02, 1975/1/2, 1975年1月2日. Era: 3500102 (GYYMMDD),
    S50.1.2, 昭和50年1月2日, 平成元年1月8日. Full-width digits are accepted. Six digits
    (700413) are YYMMDD when only one century gives a past date; a date with a two-digit year
    and no era (50.1.2) is refused with an example, as the era cannot be told.
    A date in the future is refused.
    """
    today = today or date.today()
    check_length("birth_date", text)
    raw = _SPACE_RE.sub("", unicodedata.normalize("NFKC", text or ""))
    if not raw:
        raise InputError("birth date is empty (生年月日が空です)")
    if raw.isdigit() and len(raw) == 7:
        value = era_to_date(int(raw[0]), int(raw[1:3]), int(raw[3:5]), int(raw[5:7]))
    elif raw.isdigit() and len(raw) == 6:
        value = _two_digit_year(text, int(raw[:2]), int(raw[2:4]), int(raw[4:]), today)
    elif m := _WESTERN_RE.match(raw):
        try:
            value = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError as exc:
            raise InputError(f"birth date {shown(text)} is not a date ({exc}) (生年月日が不正です)") from None
    elif m := _ERA_TEXT_RE.match(raw):
        code, _ = _ERA_BY_KEY[m[1]]
        year = 1 if m[2] == "元" else int(m[2])
        value = era_to_date(code, year, int(m[3]), int(m[4]))
    elif _NO_ERA_RE.match(raw):
        raise InputError(f"birth date {shown(text)} is not in a known form: a two-digit year needs its era "
                         f"(S50.1.2) or four digits (1975-01-02) "
                         f"(元号を付けるか西暦4桁で入力してください：{BIRTH_EXAMPLES_JA})")
    else:
        raise InputError(
            f"birth date {shown(text)} is not in a known form: YYYYMMDD, YYYY-MM-DD, GYYMMDD or 昭和50年1月2日 "
            f"(生年月日の形式が不明です：{BIRTH_EXAMPLES_JA})"
        )
    if value > today:
        raise InputError(f"birth date {value} is in the future (生年月日が未来の日付です)")
    return value


_NO_ERA_RE = re.compile(r"^\d{1,2}[-/.年]\d{1,2}[-/.月]\d{1,2}日?$")


def _two_digit_year(text: str, year: int, month: int, day: int, today: date) -> date:
    """YYMMDD: the century is the one that gives a past date, if only one does."""
    candidates = []
    for century in (1900, 2000):
        try:
            value = date(century + year, month, day)
        except ValueError:
            raise InputError(f"birth date {shown(text)} is not a date (生年月日が不正です：{BIRTH_EXAMPLES_JA})") from None
        if value <= today:
            candidates.append(value)
    if len(candidates) != 1:
        raise InputError(f"birth date {shown(text)}: the century cannot be told from two digits "
                         f"(西暦4桁で入力してください：{BIRTH_EXAMPLES_JA})")
    return candidates[0]


def parse_year_month(text: str) -> tuple[int, int]:
    """A birth year and month printed without a day: YYYYMM or era GYYMM (a JAHIS
    prescription code may carry only these). Returns (Western year, month)."""
    raw = _SPACE_RE.sub("", unicodedata.normalize("NFKC", text or ""))
    if not raw.isascii() or not raw.isdigit() or len(raw) not in (5, 6):
        raise InputError("year-month must be YYYYMM or GYYMM (生年月が不正です)")
    if len(raw) == 6:
        year, month = int(raw[:4]), int(raw[4:])
        if not 1 <= month <= 12 or year < 1868:
            raise InputError(f"{year}年{month}月 is not a year-month (生年月が不正です)")
        return year, month
    code, era_year, month = int(raw[0]), int(raw[1:3]), int(raw[3:])
    if not 1 <= code <= len(ERAS) or era_year < 1 or not 1 <= month <= 12:
        raise InputError("era year-month is not valid (和暦の生年月が不正です)")
    _, kanji, _, start = ERAS[code - 1]
    year = start.year + era_year - 1
    end = ERAS[code][3] if code < len(ERAS) else None
    # The month belongs to the era if any of its days does.
    if (year, month) < (start.year, start.month) or (end is not None and (year, month) > (end.year, end.month)):
        raise InputError(f"{kanji}{era_year}年{month}月 is outside the {kanji} era (元号の範囲外です)")
    return year, month


_HALF_KANA_RE = re.compile("[\uff61-\uff9f]+")


def to_fullwidth_kana(text: str) -> str:
    """Half-width katakana (ｶﾞｷﾞ) to full-width (ガギ), joining voiced marks; the rest untouched."""
    return _HALF_KANA_RE.sub(lambda m: unicodedata.normalize("NFKC", m[0]), text)


def age_on(birth: date, on: date) -> int:
    """Age in completed years on a day."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
