"""Pilot tests of scans: a JAHIS prescription checked after confirmation, the My Number refused."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Static

from edge.demo import jahis_prescription, my_number_code
from edge.qr.codes import ScanKind, ScanSource
from edge.verdict import Method, Outcome
from tests.ui.conftest import SIZE, plain, settle
from tui import messages
from tui.screens.result import ResultScreen
from tui.screens.scan import ScanScreen

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
        assert ready.request.method == Method.QR and ready.result.verdict.outcome == Outcome.OK
        assert isinstance(desk.screen, ResultScreen)


async def test_my_number_is_refused_and_not_kept(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await pilot.press("f3")
        desk.post_message(messages.ScanReceived(my_number_code()))
        await settle(pilot, desk)
        screen = desk.screen
        assert isinstance(screen, ScanScreen) and screen.result is None
        assert str(screen.query_one("#scan-kind", Static).content) == "マイナンバー"
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
        await pilot.pause(0.2)
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
