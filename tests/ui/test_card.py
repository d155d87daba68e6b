"""Pilot tests of the card flows with the demo's virtual My Number Cards (in-process reader)."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from madoguchi.edge.verdict import Consent, Method, Outcome, Source
from madoguchi.sim.vcard import registered_violations
from madoguchi.tui import messages
from madoguchi.tui.screens.consent import ConsentScreen
from madoguchi.tui.screens.idle import IdleScreen
from madoguchi.tui.screens.pin import PinScreen, VisualCheckScreen
from madoguchi.tui.screens.result import ResultScreen
from textual.widgets import Static

from tests.ui.conftest import SIZE, answer_consent, plain, settle, staff_notes, wait_until

pytestmark = pytest.mark.asyncio
INS_VERIFY = 0x20


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


async def insert(pilot, app, kind: str, **options):
    card = app.demo.cards.insert(kind, **options)
    await settle(pilot, app)
    assert isinstance(app.screen, PinScreen)
    return card


async def test_card_and_pin_give_the_verdict(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await insert(pilot, desk, "valid")
        assert collected.of(messages.CardTriesRead)[0].tries_left == 3
        assert text(desk, "#pin-tries") == "残り3回"
        await pilot.press(*"12")
        assert text(desk, "#pin-dots") == "＊　＊　＿　＿"
        await pilot.press("backspace", *"234")
        await settle(pilot, desk)
        assert "限度額情報" in text(desk, "#consent-question")  # the patient's questions, after the PIN
        await answer_consent(pilot, desk, "1", "2")
        ready = collected.of(messages.VerdictReady)[0]
        assert ready.request.method == Method.CARD
        assert ready.request.consent == Consent(limit="1", medical="0")
        assert ready.result.verdict.outcome == Outcome.OK and ready.result.verdict.source == Source.ONLINE
        assert isinstance(desk.screen, ResultScreen)
        assert text(desk, "#verdict-band") == "〇  確認OK"
    assert not registered_violations()


async def test_digits_typed_while_the_card_is_read_are_kept(desk, collected):
    """The patient types as soon as the card is down, while the reader still opens the session and
    reads the tries (a few hundred ms on a real reader): no digit typed meanwhile may be lost."""
    card_read = threading.Event()
    open_transport = desk.card_port.open_transport

    def slow_open():
        card_read.wait(10)
        return open_transport()

    desk.card_port = dataclasses.replace(desk.card_port, open_transport=slow_open)
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        desk.demo.cards.insert("valid")
        for _ in range(200):
            if isinstance(desk.screen, PinScreen):
                break
            await pilot.pause(0.01)
        assert isinstance(desk.screen, PinScreen) and desk.screen.busy
        await pilot.press(*"1234")
        assert text(desk, "#pin-dots") == "＊　＊　＊　＊"
        card_read.set()
        await answer_consent(pilot, desk, "1", "1")
        ready = collected.of(messages.VerdictReady)[0]
        assert ready.result.verdict.outcome == Outcome.OK
        assert isinstance(desk.screen, ResultScreen)


async def test_wrong_pin_shows_tries_then_the_fallback_at_one_try(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await insert(pilot, desk, "valid")
        await pilot.press(*"0000")
        await settle(pilot, desk)
        assert isinstance(desk.screen, PinScreen)
        assert text(desk, "#pin-message") == "暗証番号が違います（残り2回）"
        await pilot.press(*"0000")
        await settle(pilot, desk)
        assert text(desk, "#pin-tries") == "残り1回"
        assert "職員にお声がけください" in text(desk, "#pin-message")
        assert "F4" not in text(desk, "#pin-message")  # staff instructions are not the patient's
        assert "目視確認（F4）" in staff_notes(desk)
        assert not collected.of(messages.VerdictReady)
        # Staff take the fallback: 目視確認 (no PIN), recorded as such.
        await pilot.press("f4")
        await settle(pilot, desk)
        assert isinstance(desk.screen, VisualCheckScreen)
        await pilot.press("f10")
        await answer_consent(pilot, desk, "f11")  # staff: an emergency, the patient cannot answer
        ready = collected.of(messages.VerdictReady)[0]
        assert ready.request.consent == Consent(limit="3", medical="3")
        assert ready.request.method == Method.VISUAL and ready.result.verdict.outcome == Outcome.OK
        assert [e.method for e in desk.service.today_log()] == ["visual"]  # recorded as 目視確認


async def test_locked_card_leads_to_the_fallback(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await insert(pilot, desk, "family_member", locked=True)
        assert text(desk, "#pin-prompt") == "このカードの暗証番号はロックされています"  # not "enter the PIN"
        assert text(desk, "#pin-tries") == "ロック中"
        assert "市区町村の窓口" in text(desk, "#pin-message") and "F" not in text(desk, "#pin-message")
        assert "目視確認（F4）" in staff_notes(desk)
        await pilot.press(*"1234")
        await settle(pilot, desk)
        assert not collected.of(messages.VerdictReady)  # no PIN is sent to a locked card


async def test_lost_qualification_by_card_is_ng(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await insert(pilot, desk, "lost")
        await pilot.press(*"1234")
        await answer_consent(pilot, desk, "2", "2")
        assert collected.of(messages.VerdictReady)[0].result.verdict.outcome == Outcome.NG
        assert text(desk, "#verdict-band") == "✕  資格なし／無効"


async def test_offline_card_check_with_stale_data_needs_confirmation(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        desk.demo.world.national.cut()
        await insert(pilot, desk, "stale")
        await pilot.press(*"1234")
        await answer_consent(pilot, desk, "f8")
        verdict = collected.of(messages.VerdictReady)[0].result.verdict
        assert verdict.outcome == Outcome.CONFIRM and verdict.source == Source.CACHE
        assert "オフライン：" in plain(desk.screen.query_one("#verdict-details Static"))


async def test_card_removed_during_pin_entry_returns_to_idle(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await insert(pilot, desk, "valid")
        await pilot.press(*"12")
        desk.demo.cards.reader.remove()
        await settle(pilot, desk)
        assert isinstance(desk.screen, IdleScreen)
        assert collected.of(messages.CardRemoved)


async def test_hung_card_shows_a_timeout_then_the_fallback(desk, collected):
    desk.card_timeout = 0.5
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        card = await insert(pilot, desk, "valid")
        card.hang_on_ins = INS_VERIFY  # held until released: the watchdog fires whatever the load
        try:
            await pilot.press(*"1234")
            await wait_until(pilot, lambda: "カードが応答しません" in text(desk, "#pin-message"), "the card timeout")
            assert "目視確認（F4）" in staff_notes(desk)
            assert not desk.screen.query_one("#pin-spinner").display
        finally:
            card.release()
        await settle(pilot, desk)
        assert not collected.of(messages.VerdictReady)


async def test_hung_online_source_after_the_pin_times_out_to_the_fallback(tmp_path, collected):
    """The PIN is right, the patient answers, then the online source hangs: the check's timeout,
    not the card's."""
    from madoguchi.edge.config import Policy
    from madoguchi.sim.desk import demo_app
    from madoguchi.tui.app import DeskApp
    from madoguchi.tui.service import DeskService

    from tests.ui.conftest import fixed_clock
    from tests.ui.test_flows import held_source

    source, asked, released, _ = held_source()
    demo = demo_app(tmp_path / "data", clock=fixed_clock)
    desk = DeskApp(DeskService(demo.service.conn, Policy(online_budget_seconds=0.2), source, clock=fixed_clock),
                   card_port=demo.card_port)
    desk.check_margin = 0.3
    try:
        async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
            demo.demo.cards.insert("valid")
            await settle(pilot, desk)
            await pilot.press(*"1234")
            await wait_until(pilot, lambda: isinstance(desk.screen, ConsentScreen), "the consent questions")
            assert collected.of(messages.CardHolderProven)
            await pilot.press("1", "1")
            await wait_until(pilot, asked.is_set, "the online source asked")
            await wait_until(pilot, lambda: "確認の応答がありません" in staff_notes(desk), "the check timeout")
            assert "目視確認（F4）" in staff_notes(desk) and "職員" in text(desk, "#consent-question")
            assert not desk.screen.query_one("#consent-spinner").display
            await pilot.press(*"1234")  # nothing is sent again
            released.set()
            await settle(pilot, desk)
            assert not collected.of(messages.VerdictReady)
            assert isinstance(desk.screen, ConsentScreen)
    finally:
        released.set()
