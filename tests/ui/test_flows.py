"""Pilot tests of the desk's flows, on the demo world (real SQLite, the in-process national system)."""

from __future__ import annotations

import json

import pytest
from madoguchi.edge.config import JST
from madoguchi.edge.verdict import Method, Outcome, Source
from madoguchi.tui import messages
from madoguchi.tui.screens.consent import ConsentScreen
from madoguchi.tui.screens.declaration import DeclarationScreen
from madoguchi.tui.screens.followups import FollowupsScreen
from madoguchi.tui.screens.idle import IdleScreen
from madoguchi.tui.screens.log import LogScreen
from madoguchi.tui.screens.maintenance import MaintenanceScreen
from madoguchi.tui.screens.numbers import NumbersScreen, insurer_feedback
from madoguchi.tui.screens.result import ResultScreen
from textual.widgets import DataTable, Input, Static

from tests.conftest import NOW
from tests.ui.conftest import SIZE, answer_consent, declare, plain, settle, staff_notes, wait_until

pytestmark = pytest.mark.asyncio


def person(app, kind: str) -> dict:
    return app.demo.world.samples[kind]


async def type_numbers(pilot, app, p: dict, birth: str | None = None) -> None:
    await pilot.press("f2")
    screen = app.screen
    assert isinstance(screen, NumbersScreen)
    for field, value in (("insurer", p["insurer_number"]), ("symbol", p["symbol"]), ("number", p["number"]),
                         ("branch", p["branch"]), ("birth", birth or p["birth_date"])):
        screen.query_one(f"#{field}", Input).value = value
    await pilot.pause()


async def test_idle_shows_status_and_the_guide(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await settle(pilot, desk)
        assert isinstance(desk.screen, IdleScreen)
        status = collected.of(messages.StatusUpdated)[-1].status
        assert status.online and status.checks_today == 0 and status.followups_open == 0
        assert str(desk.screen.query_one("#status-network").content) == "オンライン"
        assert "デモの手順" in str(desk.screen.query_one("#demo-guide", Static).content)


async def test_kiosk_cannot_be_quit_from_the_keyboard(desk):
    async with desk.run_test(size=SIZE) as pilot:
        for key in ("ctrl+q", "ctrl+c", "ctrl+p", "escape"):
            await pilot.press(key)
        await pilot.pause()
        assert desk.is_running and desk.return_code is None
        assert isinstance(desk.screen, IdleScreen)


async def test_maintenance_exit_needs_the_staff_pin(desk):
    async with desk.run_test(size=SIZE) as pilot:
        await pilot.press("f12")
        assert isinstance(desk.screen, MaintenanceScreen)
        await pilot.press("1", "2", "3", "4", "enter")
        assert "違います" in str(desk.screen.query_one("#maintenance-message", Static).content)
        assert desk.is_running
        await pilot.press(*"9999", "enter")
        await pilot.pause()
    assert desk.return_code == 0


async def test_numbers_check_online_is_ok(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await type_numbers(pilot, desk, person(desk, "valid"))
        await pilot.press("enter")
        await answer_consent(pilot, desk, "1", "1")
        ready = collected.of(messages.VerdictReady)
        assert len(ready) == 1 and ready[0].request.method == Method.NUMBERS
        verdict = ready[0].result.verdict
        assert verdict.outcome == Outcome.OK and verdict.source == Source.ONLINE
        assert isinstance(desk.screen, ResultScreen)
        assert str(desk.screen.query_one("#verdict-band", Static).content) == "〇  確認OK"
        await pilot.press("enter")
        assert isinstance(desk.screen, IdleScreen)


async def test_numbers_check_asks_the_patients_consent(desk, collected):
    """A 資格確認書's numbers: the facility obtains the consent of the patient at the desk, on the
    patient-facing questions; the answers reach the request, and the verdict hides the 限度額 class."""
    today = NOW.astimezone(JST).date().isoformat()
    p = next(r for r in desk.demo.world.records if r["limit_class"] and r["disqualification_date"] is None
             and r["registered_on"] <= today)
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await type_numbers(pilot, desk, p)
        await pilot.press("f10")
        await settle(pilot, desk)
        assert isinstance(desk.screen, ConsentScreen) and not collected.of(messages.VerdictReady)
        assert "限度額情報" in str(desk.screen.query_one("#consent-question", Static).content)
        await pilot.press("escape")  # staff go back to the form: nothing typed is lost
        assert isinstance(desk.screen, NumbersScreen)
        assert desk.screen.query_one("#number", Input).value == p["number"]
        await pilot.press("f10")
        await answer_consent(pilot, desk, "2", "1")
        (ready,) = collected.of(messages.VerdictReady)
        assert ready.result.verdict.request["consent"] == {"limit": "0", "medical": "1"}
        assert ready.result.verdict.record.limit_class == ""
        assert "限度額情報：同意なし" in plain(desk.screen.query_one("#verdict-details Static"))
        await pilot.press("enter")
        await type_numbers(pilot, desk, p)
        await pilot.press("f10")
        await answer_consent(pilot, desk, "1", "2")
        verdict = collected.of(messages.VerdictReady)[1].result.verdict
        assert verdict.request["consent"] == {"limit": "1", "medical": "0"}
        assert verdict.record.limit_class == p["limit_class"]
        details = [json.loads(row[0]) for row in desk.service.conn.execute("SELECT detail FROM audit ORDER BY id")]
        assert [d["consent"] for d in details] == [{"limit": "0", "medical": "1"}, {"limit": "1", "medical": "0"}]


async def test_numbers_are_validated_as_typed(desk, collected):
    assert insurer_feedback("3213201") == ("入力中（8桁、国保は6桁）: 7桁", False)
    assert insurer_feedback("32132011") == ("OK 共済（地方公務員）", True)
    message, ok = insurer_feedback("32132012")
    assert not ok and "検証番号" in message
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await pilot.press("f2", *"32132012")
        assert "検証番号" in str(desk.screen.query_one("#insurer-message", Static).content)
        await pilot.press("enter")
        await settle(pilot, desk)
        assert isinstance(desk.screen, NumbersScreen) and not collected.of(messages.VerdictReady)
        assert "番号を入力してください" in str(desk.screen.query_one("#number-message", Static).content)
        assert desk.screen.focused.id == "insurer"


async def test_lost_qualification_is_ng_with_next_steps(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await type_numbers(pilot, desk, person(desk, "lost"))
        await pilot.press("f10")
        await answer_consent(pilot, desk, "f8")
        verdict = collected.of(messages.VerdictReady)[0].result.verdict
        assert verdict.outcome == Outcome.NG
        assert str(desk.screen.query_one("#verdict-band", Static).content) == "✕  資格なし／無効"
        details = plain(desk.screen.query_one("#verdict-details Static"))
        # A 資格確認書's numbers, no card: not a 申立 case (docs/domain.md §3)
        assert "10割" in details and "療養費" in details and "申立書" not in details


async def test_offline_stale_data_needs_confirmation_then_followup(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        desk.demo.world.national.cut()
        await type_numbers(pilot, desk, person(desk, "stale"))
        await pilot.press("enter")
        await answer_consent(pilot, desk, "1", "1")
        verdict = collected.of(messages.VerdictReady)[0].result.verdict
        assert verdict.outcome == Outcome.CONFIRM and verdict.source == Source.CACHE
        assert str(desk.screen.query_one("#verdict-band", Static).content) == "？  要確認"
        assert "オフライン" in plain(desk.screen.query_one("#verdict-details Static"))
        assert not collected.of(messages.StatusUpdated)[-1].status.online
        # The network returns (F9, then the menu entry): reconciliation writes a 要対応 item.
        await pilot.press("escape", "f9")
        index = [a[0] for a in desk.demo.actions].index("network")
        await pilot.press(str(index + 1))
        await settle(pilot, desk)
        assert collected.of(messages.StatusUpdated)[-1].status.followups_open == 1
        await pilot.press("f6")
        await settle(pilot, desk)
        assert isinstance(desk.screen, FollowupsScreen)
        assert desk.screen.query_one(DataTable).row_count == 1
        assert "有効" in str(desk.screen.query_one("#followup-detail", Static).content)
        await pilot.press("f10")
        await settle(pilot, desk)
        assert desk.screen.query_one(DataTable).row_count == 0
        assert collected.of(messages.StatusUpdated)[-1].status.followups_open == 0


async def test_declaration_shows_provisional_copay_and_is_saved(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await pilot.press("f5")
        assert isinstance(desk.screen, DeclarationScreen)
        await pilot.press(*"mihon", "tab", *"mihon tarou")
        assert str(desk.screen.query_one("#kana-message", Static).content) == "ミホン タロウ"
        await pilot.press("tab", *"20220401")
        await pilot.pause()
        assert "仮の負担割合：2割（未就学児）" in str(desk.screen.query_one("#provisional-copay", Static).content)
        await pilot.press("f10")  # whether the card was presented, and its face, are still missing
        await settle(pilot, desk)
        assert not collected.of(messages.VerdictReady)
        assert "カードの提示の有無" in str(desk.screen.query_one("#card-message", Static).content)
        assert "券面の氏名" in str(desk.screen.query_one("#card_name-message", Static).content)
        await declare(pilot, desk, birth="20220401", form=False)
        await pilot.press("f10")
        await settle(pilot, desk)
        ready = collected.of(messages.VerdictReady)[0]
        assert ready.request.declaration.name_kana == "ミホン タロウ"
        assert ready.request.card_presented and ready.request.declaration.card_sex == 1
        assert ready.result.verdict.provisional_copay and ready.result.verdict.copay_percent == 20
        assert ready.result.outbox_id is not None  # saved for reconciliation


async def test_declaration_refuses_missing_fields(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await pilot.press("f5", "f10")
        await settle(pilot, desk)
        assert isinstance(desk.screen, DeclarationScreen) and not collected.of(messages.VerdictReady)
        assert "氏名を入力" in str(desk.screen.query_one("#name-message", Static).content)


async def test_declaration_sample_is_resolved_after_reconciliation(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await pilot.press("f5", "f8", "f10")
        await settle(pilot, desk)
        assert collected.of(messages.VerdictReady)[0].result.verdict.provisional_copay
        # Online, the demo re-checks offline decisions with every status refresh.
        assert [f.kind for f in desk.service.followups()] == ["declaration_resolved"]
        assert collected.of(messages.StatusUpdated)[-1].status.followups_open == 1


async def test_today_log_is_searchable_by_kana_and_time(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        for kind in ("valid", "lost"):
            await type_numbers(pilot, desk, person(desk, kind))
            await pilot.press("enter")
            await answer_consent(pilot, desk, "1", "1")
        await pilot.press("f7")
        await settle(pilot, desk)
        assert isinstance(desk.screen, LogScreen)
        assert desk.screen.query_one(DataTable).row_count == 2
        kana = person(desk, "lost")["name_kana"].split("　")[0]
        desk.screen.query_one("#log-search", Input).value = kana
        await settle(pilot, desk)
        assert collected.of(messages.LogLoaded)[-1].query == kana
        assert desk.screen.query_one(DataTable).row_count == 1
        desk.screen.query_one("#log-search", Input).value = "10:00"  # NOW is 10:00 JST
        await settle(pilot, desk)
        assert desk.screen.query_one(DataTable).row_count == 2
        desk.screen.query_one("#log-search", Input).value = "11"
        await settle(pilot, desk)
        assert desk.screen.query_one(DataTable).row_count == 0


async def test_a_hung_check_times_out_to_the_fallback(tmp_path, collected):
    from madoguchi.edge.config import Policy
    from madoguchi.sim.desk import demo_app

    from tests.ui.conftest import fixed_clock

    desk = demo_app(tmp_path / "data", clock=fixed_clock, policy=Policy(online_budget_seconds=0.2))
    desk.check_margin = 0.3
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await type_numbers(pilot, desk, person(desk, "valid"))
        await pilot.press("enter")
        assert isinstance(desk.screen, ConsentScreen)
        with desk.service._lock:  # the database hangs until the lock is let go: no race
            await pilot.press("f8")  # the check runs from the consent screen, with its own timeout
            await wait_until(pilot, lambda: "応答がありません" in staff_notes(desk), "the fallback")
            assert "番号入力（F2）" in staff_notes(desk) and not desk.screen.query_one("#consent-spinner").display
            assert desk.is_running
        await settle(pilot, desk)
        assert not collected.of(messages.VerdictReady)  # the late answer is dropped


async def test_bindings_can_be_moved_by_id(tmp_path):
    from madoguchi.sim.desk import demo_app
    from madoguchi.tui.app import DeskApp

    from tests.ui.conftest import fixed_clock

    desk = demo_app(tmp_path / "data", clock=fixed_clock)
    production = DeskApp(desk.service, keymap={"desk.numbers": "f11"})
    async with production.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        assert isinstance(production.screen, IdleScreen)
        await pilot.press("f11")
        assert isinstance(production.screen, NumbersScreen)
        await pilot.press("f9")  # no demo menu outside the demo
        assert isinstance(production.screen, NumbersScreen)


def held_source():
    """An online source that answers only when the test lets it (no race against a budget):
    (source, asked, release, budgets it was given)."""
    import threading

    from madoguchi.edge.verdict import OnlineUnavailable

    asked, released, budgets = threading.Event(), threading.Event(), []

    def source(request, budget):
        budgets.append(budget)
        asked.set()
        released.wait()  # a hub that does not answer
        raise OnlineUnavailable("no answer")
    return source, asked, released, budgets


def desk_with_source(tmp_path, source, margin: float):
    from madoguchi.edge.config import Policy
    from madoguchi.sim.desk import demo_app
    from madoguchi.tui.app import DeskApp
    from madoguchi.tui.service import DeskService

    from tests.ui.conftest import fixed_clock

    world = demo_app(tmp_path / "data", clock=fixed_clock)
    desk = DeskApp(DeskService(world.service.conn, Policy(online_budget_seconds=0.2), source, clock=fixed_clock))
    desk.check_margin = margin
    return world, desk


async def test_a_spinner_shows_while_the_online_source_is_held(tmp_path, collected):
    source, asked, released, budgets = held_source()
    world, desk = desk_with_source(tmp_path, source, margin=3600)  # the result screen never gives up here
    try:
        async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
            await type_numbers(pilot, desk, person(world, "valid"))
            await pilot.press("enter", "1", "1")  # the check runs from the consent screen
            await wait_until(pilot, asked.is_set, "the online source asked")
            assert budgets == [0.2]
            assert isinstance(desk.screen, ConsentScreen)
            # shown once the check has taken longer than a glance (WAIT_SHOWN_AFTER)
            await wait_until(pilot, lambda: desk.screen.query_one("#consent-spinner").display, "the spinner")
            assert not staff_notes(desk)
            released.set()  # no answer: the cache decides
            await settle(pilot, desk)
            verdict = collected.of(messages.VerdictReady)[0].result.verdict
            assert verdict.source == Source.CACHE
            assert isinstance(desk.screen, ResultScreen) and not desk.screen.query("LoadingIndicator")
    finally:
        released.set()


async def test_a_hung_online_source_shows_the_fallback(tmp_path, collected):
    source, asked, released, budgets = held_source()
    world, desk = desk_with_source(tmp_path, source, margin=0.3)
    try:
        async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
            await type_numbers(pilot, desk, person(world, "valid"))
            await pilot.press("enter", "1", "1")
            await wait_until(pilot, lambda: "応答がありません" in staff_notes(desk), "the fallback")
            assert asked.is_set() and budgets == [0.2]
            assert not desk.screen.query_one("#consent-spinner").display
            await pilot.press("escape")  # the UI did not freeze: back to the numbers, to try another way
            assert isinstance(desk.screen, NumbersScreen)
            released.set()
            await settle(pilot, desk)
            assert not collected.of(messages.VerdictReady)  # the late answer is dropped
    finally:
        released.set()
