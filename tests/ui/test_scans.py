"""Pilot tests of scans: a JAHIS prescription checked after confirmation, the My Number refused,
the お知らせ's QR leading to its printed numbers and the card-presented step."""

from __future__ import annotations

import pytest
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.qr.codes import ScanKind, ScanSource
from madoguchi.edge.verdict import Method, Outcome
from madoguchi.sim.demo import jahis_prescription, my_number_code
from madoguchi.tui import messages
from madoguchi.tui.screens.numbers import NumbersScreen
from madoguchi.tui.screens.result import ResultScreen
from madoguchi.tui.screens.scan import ScanScreen
from textual import events
from textual.widgets import Input, Label, Select, Static

from tests.ui.conftest import SIZE, answer_consent, plain, settle, wait_until

pytestmark = pytest.mark.asyncio


async def test_prescription_scan_is_shown_then_checked(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        person = desk.demo.world.samples["valid"]
        desk.post_message(messages.ScanReceived(jahis_prescription(person)))
        await settle(pilot, desk)
        screen = desk.screen
        assert isinstance(screen, ScanScreen) and screen.result.kind == ScanKind.PRESCRIPTION
        details = plain(screen.query_one("#scan-details", Static))
        assert person["name"] in details and person["insurer_number"] in details
        await pilot.press("f10")
        await settle(pilot, desk)
        ready = collected.of(messages.VerdictReady)[0]
        # A prescription finds the patient but is not a document: the verdict asks for one.
        assert ready.request.method == Method.QR and ready.result.verdict.outcome == Outcome.CONFIRM
        assert ready.result.verdict.reason == "document_needed"
        assert isinstance(desk.screen, ResultScreen)


async def test_my_number_is_refused_and_not_kept(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await pilot.press("f3")
        desk.post_message(messages.ScanReceived(my_number_code()))
        await settle(pilot, desk)
        screen = desk.screen
        assert isinstance(screen, ScanScreen) and screen.result is None
        assert str(screen.query_one("#scan-kind", Static).content) == "読み取り不可：マイナンバー"
        assert "保存はできません" in str(screen.query_one("#scan-message", Static).content)
        number = my_number_code().decode()
        assert all(number not in str(w.content) for w in screen.query(Static))
        await pilot.press("f10")  # nothing to confirm
        await settle(pilot, desk)
        assert not collected.of(messages.VerdictReady)
        count = desk.service.conn.execute("SELECT count(*) FROM audit").fetchone()[0]
        assert count == 0


async def test_keyboard_wedge_burst_becomes_a_scan(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        for char in "00000004\r":  # a 診察券 barcode typed by a scanner: all keys at once
            desk.post_message(events.Key("enter" if char == "\r" else char, char))
        await wait_until(pilot, lambda: collected.of(messages.ScanReceived), "the scan")
        await settle(pilot, desk)
        scans = collected.of(messages.ScanReceived)
        assert [(s.payload, s.source) for s in scans] == [(b"00000004", ScanSource.WEDGE)]
        assert isinstance(desk.screen, ScanScreen) and desk.screen.result.patient_id == "00000004"
        await pilot.press("f10")
        await settle(pilot, desk)
        assert collected.of(messages.VerdictReady)[0].request.method == Method.PATIENT_ID


async def test_typing_slowly_is_not_a_scan(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        for char in "00000004\r":
            await pilot.press("enter" if char == "\r" else char)
            await pilot.pause(0.1)
        await pilot.pause(0.2)
        assert not collected.of(messages.ScanReceived)


async def choose_demo(pilot, app, action_id: str) -> None:
    """F9 and the action's key in the demo menu, as the guide on the idle screen says; then
    the scan it types (the wedge detector ends a burst after 80 ms of silence)."""
    seen = len(app._notifications)
    await pilot.press("f9", str((([a[0] for a in app.demo.actions].index(action_id)) + 1) % 10))
    await settle(pilot, app)
    await wait_until(pilot, lambda: getattr(app.screen, "result", None) is not None
                     or app.screen.query("#scan-kind.-refused") or len(app._notifications) > seen, "the scan")
    await settle(pilot, app)


async def test_demo_prescription_scan_is_typed_as_a_wedge_burst(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await choose_demo(pilot, desk, "scan_prescription")
        assert [s.source for s in collected.of(messages.ScanReceived)] == [ScanSource.WEDGE]
        screen = desk.screen
        assert isinstance(screen, ScanScreen) and screen.result.kind == ScanKind.PRESCRIPTION
        person = desk.demo.world.samples["valid"]
        details = plain(screen.query_one("#scan-details", Static))
        for field in ("name", "insurer_number", "symbol", "number"):
            assert person[field] in details, field
        await pilot.press("f10")
        await settle(pilot, desk)
        ready = collected.of(messages.VerdictReady)[0]
        assert ready.request.method == Method.QR and ready.request.insurer_number == person["insurer_number"]
        assert ready.result.verdict.reason == "document_needed"


async def test_demo_my_number_scan_is_refused(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await choose_demo(pilot, desk, "scan_my_number")
        screen = desk.screen
        assert isinstance(screen, ScanScreen) and screen.result is None
        assert str(screen.query_one("#scan-kind", Static).content) == "読み取り不可：マイナンバー"
        number = my_number_code().decode()
        assert all(number not in str(w.content) for w in screen.query(Static))


async def test_notice_qr_leads_to_numbers_that_need_the_card_presented(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await choose_demo(pilot, desk, "scan_notice")
        screen = desk.screen
        assert isinstance(screen, ScanScreen) and screen.result.kind == ScanKind.PORTAL_LINK
        await pilot.press("f10")
        await settle(pilot, desk)
        screen = desk.screen
        assert isinstance(screen, NumbersScreen)
        assert screen.query_one("#document", Select).value == DocumentKind.NOTICE
        assert "カードの提示が必要" in str(screen.query_one("#card-presented-message", Label).content)
        person = desk.demo.world.samples["valid"]
        for field, value in (("insurer", person["insurer_number"]), ("symbol", person["symbol"]),
                             ("number", person["number"]), ("branch", person["branch"]),
                             ("birth", person["birth_date"])):
            screen.query_one(f"#{field}", Input).value = value
        await pilot.press("f10")
        await settle(pilot, desk)
        # Not without the card: the step is asked for, nothing is checked yet.
        assert isinstance(desk.screen, NumbersScreen) and not collected.of(messages.VerdictReady)
        message = screen.query_one("#card-presented-message", Label)
        assert "チェックしてください" in str(message.content) and message.has_class("-error")
        assert screen.focused.id == "card-presented"
        await pilot.press("space", "f10")
        await answer_consent(pilot, desk, "1", "1")
        ready = collected.of(messages.VerdictReady)[0]
        assert ready.request.document == DocumentKind.NOTICE and ready.request.card_presented
        assert ready.result.verdict.outcome == Outcome.OK
