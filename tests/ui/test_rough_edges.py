"""The rough edges a newcomer met at the desk (issue 16), each as the receptionist or the
patient meets it; and the patient's PIN screen in the patient's language."""

from __future__ import annotations

import logging
import re

import pytest
from madoguchi.tui import messages
from madoguchi.tui.screens.declaration import KANA_ERROR_JA
from madoguchi.tui.screens.followups import FollowupsScreen
from madoguchi.tui.screens.idle import PROMPT_JA, REMOVE_JA, IdleScreen
from madoguchi.tui.screens.pin import PinScreen, VisualCheckScreen
from madoguchi.tui.screens.result import ResultScreen
from textual import events
from textual.widgets import DataTable, Input, Static

from tests.ui.conftest import SIZE, answer_consent, plain, settle, wait_until
from tests.ui.test_flows import person, type_numbers

pytestmark = pytest.mark.asyncio


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


def burst(app, keys: str) -> None:
    """Keys posted at once, as a wedge scanner or tmux send-keys delivers them."""
    for key in keys:
        name = {"\t": "tab", "\r": "enter", "\u3000": "\u3000"}.get(key, key)
        app.post_message(events.Key(name, key))


async def insert(pilot, app, kind: str, **options):
    card = app.demo.cards.insert(kind, **options)
    await settle(pilot, app)
    assert isinstance(app.screen, PinScreen)
    return card


async def demo_action(pilot, app, action_id: str) -> None:
    await pilot.press("f9", str([a[0] for a in app.demo.actions].index(action_id) + 1))
    await settle(pilot, app)


# 1 ------------------------------------------------------------------------------------------
async def test_a_missing_name_message_goes_once_the_name_is_typed(desk):
    async with desk.run_test(size=SIZE) as pilot:
        await pilot.press("f5", "f10")
        await settle(pilot, desk)
        assert "氏名を入力" in text(desk, "#name-message")
        await pilot.press(*"sato")
        assert text(desk, "#name-message") == ""


# 2 ------------------------------------------------------------------------------------------
async def test_a_full_width_space_is_kept_and_furigana_must_be_kana(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await pilot.press("f5")
        burst(desk, "sato\u3000hanako")
        await settle(pilot, desk)
        assert desk.screen.query_one("#name", Input).value == "sato\u3000hanako"
        assert "漢字は入力できません" in text(desk, ".form-title")  # the form says how to type a name
        await pilot.press("tab", *"sato123!!")
        assert text(desk, "#kana-message") == KANA_ERROR_JA
        await pilot.press("tab", *"19700413", "f10")
        await settle(pilot, desk)
        assert not collected.of(messages.VerdictReady)
        assert text(desk, "#kana-message") == KANA_ERROR_JA


# 3 (the parsing itself: tests/unit/test_numbers.py) ------------------------------------------
async def test_six_digit_and_era_less_birth_dates_as_typed(desk):
    async with desk.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        desk.screen.query_one("#birth", Input).value = "700413"
        await pilot.pause()
        assert text(desk, "#birth-message") == "1970年4月13日"
        desk.screen.query_one("#birth", Input).value = "50.1.2"
        await pilot.pause()
        assert "S50.1.2" in text(desk, "#birth-message")


# 4 ------------------------------------------------------------------------------------------
async def test_keys_in_the_same_burst_as_tab_land_in_the_next_field(desk):
    async with desk.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        burst(desk, "\t123\t456")
        await settle(pilot, desk)
        values = {f: desk.screen.query_one(f"#{f}", Input).value for f in ("insurer", "symbol", "number")}
        assert values == {"insurer": "", "symbol": "123", "number": "456"}


# 5, 6 -----------------------------------------------------------------------------------------
async def test_three_wrong_pins_lock_the_screen_then_the_demo_card_placed_again_is_fresh(desk):
    async with desk.run_test(size=SIZE) as pilot:
        await insert(pilot, desk, "valid")
        for _ in range(3):
            await pilot.press(*"0000")
            await settle(pilot, desk)
        assert text(desk, "#pin-prompt") == "このカードの暗証番号はロックされています"
        assert text(desk, "#pin-tries") == "ロック中"
        await pilot.press("escape")
        await demo_action(pilot, desk, "card_valid")  # 6: the demo's card is not locked for the session
        assert isinstance(desk.screen, PinScreen)
        assert text(desk, "#pin-tries") == "残り3回"
        assert text(desk, "#pin-prompt") == "暗証番号（数字4桁）を入力してください"


# 7 ------------------------------------------------------------------------------------------
async def test_after_the_next_patient_key_the_idle_screen_asks_for_the_card_left_in_the_reader(desk):
    async with desk.run_test(size=SIZE) as pilot:
        await insert(pilot, desk, "valid")
        await pilot.press(*"1234")
        await answer_consent(pilot, desk, "1", "1")
        assert isinstance(desk.screen, ResultScreen)
        await pilot.press("enter")
        assert isinstance(desk.screen, IdleScreen)
        assert text(desk, "#idle-prompt") == REMOVE_JA
        await demo_action(pilot, desk, "card_remove")
        assert text(desk, "#idle-prompt") == PROMPT_JA
        seen = len(desk._notifications)
        await demo_action(pilot, desk, "card_remove")  # nothing left to remove
        assert [n.message for n in desk._notifications][seen:] == ["リーダーにカードはありません"]


# 8 ------------------------------------------------------------------------------------------
async def test_followups_name_the_patient_fit_the_screen_and_are_not_covered(desk, collected):
    async with desk.run_test(size=(80, 24), message_hook=collected.append) as pilot:
        desk.demo.world.national.cut()
        await type_numbers(pilot, desk, person(desk, "stale"))
        await pilot.press("enter")
        await answer_consent(pilot, desk, "1", "1")
        await pilot.press("escape")
        await demo_action(pilot, desk, "network")  # back online: reconciliation, and a toast
        await wait_until(pilot, lambda: desk.service.followups(), "a followup")
        assert len(desk._notifications) > 0
        await pilot.press("f6")
        await settle(pilot, desk)
        assert isinstance(desk.screen, FollowupsScreen)
        assert len(desk._notifications) == 0  # the toast no longer covers the detail
        table = desk.screen.query_one(DataTable)
        name = person(desk, "stale")["name"]
        assert name in str(table.get_row_at(0)[-1])
        assert table.virtual_size.width <= table.size.width  # no sideways scrolling
        assert name in str(desk.screen.query_one("#followup-detail", Static).content)


# 9 ------------------------------------------------------------------------------------------
async def test_a_visual_check_verdict_says_it_was_visual(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await insert(pilot, desk, "valid")
        await pilot.press("f4")
        await settle(pilot, desk)
        assert isinstance(desk.screen, VisualCheckScreen)
        await pilot.press("f10")
        await answer_consent(pilot, desk, "1", "1")
        assert isinstance(desk.screen, ResultScreen)
        assert text(desk, "#verdict-band") == "〇  確認OK　目視確認"
        assert "目視確認（顔写真）" in plain(desk.screen.query_one("#verdict-details Static"))


# 10, 11 -----------------------------------------------------------------------------------
async def test_one_screen_says_which_age_is_which_and_writes_dates_one_way(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        desk.demo.world.national.cut()
        await type_numbers(pilot, desk, person(desk, "stale"))
        await pilot.press("enter")
        await answer_consent(pilot, desk, "1", "1")
        details = plain(desk.screen.query_one("#verdict-details Static"))
        assert "オフライン：この方の資格は" in details  # the record's age
        assert text(desk, "#status-data").endswith("時点")  # the synced data's age
        await pilot.press("escape")
        await type_numbers(pilot, desk, person(desk, "lost"))
        await pilot.press("enter")
        await answer_consent(pilot, desk, "1", "1")
        shown = "\n".join(plain(w) for w in desk.screen.query(Static))
        assert "に資格喪失" in shown and not re.search(r"\d{4}-\d{2}-\d{2}", shown), shown


# 12 ------------------------------------------------------------------------------------------
async def test_the_documents_screen_says_what_it_reads(desk):
    async with desk.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        help_text = plain(desk.screen.query_one("#scan-help", Static))
        for kind in ("院外処方箋", "診察券", "お知らせ", "マイナンバーカード裏面", "番号入力 F2"):
            assert kind in help_text


# 15 ------------------------------------------------------------------------------------------
async def test_the_desk_log_records_a_session(desk, tmp_path):
    from madoguchi.tui.run import log_to_file

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        log_to_file(tmp_path / "desk.log")
        async with desk.run_test(size=SIZE) as pilot:
            await insert(pilot, desk, "valid")
            await pilot.press(*"1234")
            await answer_consent(pilot, desk, "1", "1")
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    logged = (tmp_path / "desk.log").read_text(encoding="utf-8")
    assert "card inserted" in logged and "check by card: ok from online" in logged
    assert "1234" not in logged.replace("audit", "")  # never the PIN


# Beyond: the patient's language, large text, not by colour alone ------------------------------
async def test_the_patient_picks_a_language_with_one_key_and_the_next_card_starts_in_japanese(desk):
    async with desk.run_test(size=SIZE) as pilot:
        await insert(pilot, desk, "valid")
        seen = []
        for _ in range(6):
            seen.append(text(desk, "#pin-prompt"))
            await pilot.press("plus")
        assert seen == ["暗証番号（数字4桁）を入力してください", "Please enter your PIN (4 digits)",
                        "请输入密码（4位数字）", "비밀번호(숫자 4자리)를 입력해 주세요",
                        "Vui lòng nhập mã PIN (4 chữ số)", "Digite a sua senha (4 dígitos)"]
        assert text(desk, "#pin-prompt") == seen[0]  # round again
        await pilot.press("plus", *"0000")
        await settle(pilot, desk)
        assert text(desk, "#pin-message") == "Wrong PIN (tries left: 2)"
        await pilot.press("escape")
        await insert(pilot, desk, "lost")  # the next patient
        assert text(desk, "#pin-prompt") == seen[0]


async def test_large_text_for_the_patient(desk):
    async with desk.run_test(size=SIZE) as pilot:
        await insert(pilot, desk, "valid")
        await pilot.press("minus", "1")
        assert desk.screen.has_class("-large")
        assert desk.screen.query_one("#pin-big").display and not desk.screen.query_one("#pin-dots").display
        await pilot.press("minus")
        assert not desk.screen.has_class("-large")


async def test_every_verdict_reads_without_colour(desk, collected):
    bands = {}
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        for kind in ("valid", "lost", "not_found"):
            if kind == "not_found":  # offline, a number the cache does not hold
                desk.demo.world.national.cut()
            await type_numbers(pilot, desk, person(desk, kind))
            await pilot.press("enter")
            await answer_consent(pilot, desk, "1", "1")
            bands[kind] = text(desk, "#verdict-band")
            await pilot.press("escape")
    assert bands == {"valid": "〇  確認OK", "lost": "✕  資格なし／無効", "not_found": "？  要確認"}


async def test_at_one_try_left_the_staff_notice_and_the_patients_text_are_both_readable(desk):
    """On the kiosk's 80x24 (and larger, and in large text) the staff's box sits below the
    patient's text: nothing overlaps, nothing is cut off, no toast covers either."""
    async with desk.run_test(size=(80, 24), notifications=True) as pilot:
        await insert(pilot, desk, "valid")
        for _ in range(2):
            await pilot.press(*"0000")
            await settle(pilot, desk)
        assert desk.screen.tries_left == 1
        for step in ("80x24", "large", "100x30"):
            if step == "large":
                await pilot.press("minus")
            elif step == "100x30":
                await pilot.resize_terminal(100, 30)
            await settle(pilot, desk)
            assert not desk.screen.query("Toast"), step
            pin = desk.screen.query_one("#pin")
            parts = [desk.screen.query_one(f"#pin-{part}") for part in ("prompt", "tries", "message", "choices", "staff")]
            for part in parts:
                assert part.region and pin.content_region.contains_region(part.region), (step, part.id, part.region)
            for i, part in enumerate(parts):
                for other in parts[i + 1:]:
                    assert not part.region.overlaps(other.region), (step, part.id, other.id)
            assert "目視確認（F4）" in text(desk, "#pin-staff") and "残り1回" in text(desk, "#pin-tries"), step
