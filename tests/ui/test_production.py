"""The production desk (`madoguchi tui`) where it differs from the demo: a fresh install with no
data yet, and the exit status systemd sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from madoguchi.edge.config import Policy
from madoguchi.edge.verdict import Outcome, Source
from madoguchi.sim.desk import demo_app
from madoguchi.tui import messages
from madoguchi.tui.app import DeskApp
from madoguchi.tui.run import exit_status, open_or_create
from madoguchi.tui.screens.pin import PinScreen, VisualCheckScreen
from madoguchi.tui.screens.result import ResultScreen
from madoguchi.tui.screens.scan import ScanScreen
from madoguchi.tui.service import DeskService
from textual.widgets import Label, Static

from tests.ui.conftest import SIZE, answer_consent, declare, fixed_clock, settle, staff_notes
from tests.ui.test_flows import person, type_numbers

pytestmark = pytest.mark.asyncio


def fresh_desk(tmp_path: Path, with_cards_of: DeskApp | None = None) -> DeskApp:
    """The desk on a data directory that has never been synced (no online source either)."""
    conn = open_or_create(tmp_path / "fresh")
    port = with_cards_of.card_port if with_cards_of is not None else None
    return DeskApp(DeskService(conn, Policy(), clock=fixed_clock), staff_pin="9999", card_port=port)


async def test_a_fresh_install_starts_and_says_there_is_no_data(tmp_path, collected):
    demo = demo_app(tmp_path / "demo", clock=fixed_clock)  # only for its patients' numbers
    desk = fresh_desk(tmp_path)
    assert (tmp_path / "fresh" / "cache.db").exists()
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await settle(pilot, desk)
        label = desk.screen.query_one("#status-data", Label)
        assert str(label.content) == "データ: なし（同期待ち）" and label.has_class("-error")
        # Numbers typed for a real patient: never 確認OK from no data.
        await type_numbers(pilot, desk, person(demo, "valid"))
        await pilot.press("enter")
        await answer_consent(pilot, desk, "f8")
        verdict = collected.of(messages.VerdictReady)[0].result.verdict
        assert verdict.outcome == Outcome.CONFIRM and verdict.source != Source.ONLINE
        assert isinstance(desk.screen, ResultScreen)
        assert str(desk.screen.query_one("#verdict-band", Static).content) == "？  要確認"
        # 申立 works and is kept for reconciliation.
        await pilot.press("enter", "f5")
        await declare(pilot, desk)
        await pilot.press("f10")
        await settle(pilot, desk)
        declared = collected.of(messages.VerdictReady)[1].result
        assert declared.verdict.provisional_copay and declared.outbox_id is not None
        assert collected.of(messages.StatusUpdated)[-1].status.checks_today == 2


async def test_a_card_before_the_first_sync_leads_to_documents(tmp_path, collected):
    demo = demo_app(tmp_path / "demo", clock=fixed_clock)
    desk = fresh_desk(tmp_path, with_cards_of=demo)
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        demo.demo.cards.insert("valid")
        await settle(pilot, desk)
        assert isinstance(desk.screen, PinScreen)
        await pilot.press(*"1234")
        await settle(pilot, desk)
        assert not collected.of(messages.VerdictReady)
        assert "職員" in str(desk.screen.query_one("#pin-message", Static).content)
        assert "同期待ち" in staff_notes(desk) and "書類（F3）" in staff_notes(desk)
        # 目視確認 reads the card without the PIN, and says the same.
        await pilot.press("f4")
        await settle(pilot, desk)
        assert isinstance(desk.screen, VisualCheckScreen)
        await pilot.press("f10")
        await settle(pilot, desk)
        assert "同期待ち" in str(desk.screen.query_one("#visual-message", Static).content)
        assert not collected.of(messages.VerdictReady)
        await pilot.press("f3")
        assert isinstance(desk.screen, ScanScreen)


async def test_a_crash_gives_a_non_zero_exit_status(tmp_path):
    desk = fresh_desk(tmp_path)

    def crash() -> None:
        raise RuntimeError("a bug in a handler")

    with pytest.raises(RuntimeError):
        async with desk.run_test(size=SIZE) as pilot:
            desk.call_later(crash)
            await pilot.pause()
    assert exit_status(desk) == 1


async def test_the_maintenance_exit_is_a_clean_exit(tmp_path):
    desk = fresh_desk(tmp_path)
    async with desk.run_test(size=SIZE) as pilot:
        await pilot.press("f12", *"9999", "enter")
        await pilot.pause()
    assert exit_status(desk) == 0
