"""The desk's UI-free parts: romaji to katakana, log search by kana or time."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st
from madoguchi.edge.config import JST
from madoguchi.tui.kana import romaji_to_katakana
from madoguchi.tui.service import LogEntry, fold_kana, matches


def test_romaji_becomes_katakana():
    assert romaji_to_katakana("satou hanako") == "サトウ ハナコ"
    assert romaji_to_katakana("hattori kan'ichi") == "ハットリ カンイチ"
    assert romaji_to_katakana("shunsuke jun") == "シュンスケ ジュン"
    assert romaji_to_katakana("木村 kazuko") == "木村 カズコ"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x9FFF)))
def test_nothing_but_romaji_is_changed(text):
    """Every character that is not romaji (ASCII letters, ' and -) nor katakana is kept, in order."""
    def others(s: str) -> list[str]:
        return [c for c in s if not (c.isascii() and (c.isalpha() or c in "'-")) and not ("ァ" <= c <= "ヺ" or c == "ー")]

    assert others(romaji_to_katakana(text)) == others(text)


def entry(name_kana: str, hour: int, minute: int) -> LogEntry:
    return LogEntry(1, datetime(2026, 11, 16, hour, minute, tzinfo=JST), "card", "ok", "online", "見本", name_kana)


def test_log_search_by_kana_any_width_or_script():
    e = entry("キムラ　タクヤ", 9, 5)
    for query in ("キムラ", "きむら", "ｷﾑﾗ", "キムラタクヤ", "むら　た", ""):
        assert matches(e, query), query
    assert not matches(e, "サトウ")
    assert fold_kana("ｶﾞｷﾞ ぐ") == "ガギグ"


def test_log_search_by_time():
    e = entry("キムラ", 9, 5)
    assert matches(e, "9") and matches(e, "09:05") and matches(e, "9:0") and matches(e, "９：０５")
    assert not matches(e, "10") and not matches(e, "9:1")
