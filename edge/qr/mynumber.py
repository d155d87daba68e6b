"""Recognise a My Number (個人番号) only in order to refuse it (docs/domain.md §6).

The QR code on the back of the マイナンバーカード holds the 12-digit My Number. The desk must
never accept, store, log or keep it, so every scan is checked here first and every value
a parser returns is checked again before it leaves the parser.

Check digit (検査用数字), 平成26年総務省令第85号 第5条 (the formula that 番号法施行令 第8条
refers to), as quoted at https://qiita.com/ytkhs/items/fa6ef94d3c8615b0ce64 and (from
law.e-gov.go.jp) at https://xn--u9jwfseya1eugsc9884bqx0c.com/math; the worked example
983205673214 (valid) is from https://qiita.com/ekzemplaro/items/6e4e782c00d29fda15a9:
  check = 11 - (sum of Pn * Qn for n = 1..11) mod 11, or 0 when that remainder is 0 or 1,
  Pn = the n-th digit counted from the right of the 11 digits before the check digit,
  Qn = n + 1 for 1 <= n <= 6, n - 5 for 7 <= n <= 11.
"""

from __future__ import annotations

import re
import unicodedata

_RUN_RE = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
_SEPARATORS_RE = re.compile(r"[\s\-]")


def my_number_check_digit(body: str) -> int:
    """The check digit of the 11 digits `body` (most significant first)."""
    total = 0
    for n, ch in enumerate(reversed(body), 1):
        total += int(ch) * (n + 1 if n <= 6 else n - 5)
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_my_number(digits: str) -> bool:
    """Exactly 12 ASCII digits whose last one is the My Number check digit."""
    return (len(digits) == 12 and digits.isascii() and digits.isdigit()
            and my_number_check_digit(digits[:11]) == int(digits[11]))


def is_my_number_code(text: str) -> bool:
    """A whole scanned payload that is a My Number (spaces, hyphens and full-width digits allowed)."""
    return is_my_number(_SEPARATORS_RE.sub("", unicodedata.normalize("NFKC", text)))


def contains_my_number(text: str) -> bool:
    """Whether a run of exactly 12 digits in `text` (after NFKC) passes the check digit."""
    return any(is_my_number(m[0]) for m in _RUN_RE.finditer(unicodedata.normalize("NFKC", text)))
