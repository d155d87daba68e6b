"""The desk: a Textual reception UI in Japanese, keyboard-only.

The kiosk cannot be quit from the keyboard (no ctrl+q, no ctrl+c, no command palette): the
maintenance screen (F12) exits behind the staff PIN of the configuration. Every binding has
an id, so a keymap in the configuration can move it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from madoguchi.edge.qr.codes import CodeSettings
from madoguchi.edge.verdict import CheckRequest
from madoguchi.tui import messages
from madoguchi.tui.service import DeskService, DeskStatus
from textual import work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

if TYPE_CHECKING:  # imports cryptography: only a card needs it
    from madoguchi.tui.cards import CardPort

log = logging.getLogger(__name__)

STATUS_REFRESH_SECONDS = 5.0


@dataclass
class DemoControls:
    """What the demo lets a newcomer do without hardware (made by madoguchi.sim.desk). The desk
    never looks into `world` and `cards` (the simulated world's objects): tests reach them here."""

    world: Any
    cards: Any
    actions: list[tuple[str, str, Callable[[], str]]]  # (id, label_ja, run returning message_ja), in a worker
    network_online: Callable[[], bool]
    sample_declaration: Callable[[], dict[str, str]]
    guide_ja: list[str] = field(default_factory=list)


class DeskApp(App, inherit_bindings=False):
    TITLE = "窓口"
    CSS_PATH = ["global.tcss", "app.tcss"]
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = [
        Binding("f2", "numbers", "番号", id="desk.numbers"),
        Binding("f3", "documents", "書類", id="desk.documents"),
        Binding("f4", "visual_check", "目視", id="desk.visual_check"),
        Binding("f5", "declaration", "申立", id="desk.declaration"),
        Binding("f6", "followups", "要対応", id="desk.followups"),
        Binding("f7", "today_log", "記録", id="desk.today_log"),
        Binding("f12", "maintenance", "保守", id="desk.maintenance"),
        Binding("f9", "demo_menu", "デモ", id="desk.demo_menu"),  # last: on 80 columns it may be cut
    ]

    status: reactive[DeskStatus | None] = reactive(None, always_update=True)
    card_in_reader: reactive[bool] = reactive(False)

    def __init__(self, service: DeskService, *, staff_pin: str = "", demo: DemoControls | None = None,
                 card_timeout: float = 10.0, keymap: dict[str, str] | None = None,
                 scan_codes: CodeSettings = CodeSettings(), card_port: CardPort | None = None) -> None:
        self.started = time.monotonic()
        super().__init__()
        self.service = service
        self.card_port = card_port
        self._card_monitor = None
        self.scan_codes = scan_codes
        self.staff_pin = staff_pin
        self.demo = demo
        self.card_timeout = card_timeout
        self.check_margin = 5.0  # seconds a check may take beyond the online budget (database, cache)
        if keymap:
            self.set_keymap(keymap)

    # ---- screens --------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        from madoguchi.tui.screens.idle import IdleScreen

        return IdleScreen()

    def on_mount(self) -> None:
        if self.card_port is not None:
            self.service.reader_state = "connected"
            self._card_monitor = self.card_port.start_monitor(self._card_inserted, self._card_removed)
        self.set_interval(STATUS_REFRESH_SECONDS, self.refresh_status)
        self.refresh_status()
        self.call_after_refresh(self._first_frame)

    def on_unmount(self) -> None:
        if self._card_monitor is not None:
            self._card_monitor.stop()

    def _first_frame(self) -> None:
        log.info("desk ready: first frame %.0f ms after start", (time.monotonic() - self.started) * 1000)

    def go_idle(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def show(self, screen: Screen) -> None:
        """Show `screen` over the idle screen, in place of what is shown: the screen on top is
        switched for it, so no screen in between is resumed and drawn again on the way."""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if len(self.screen_stack) == 2:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "demo_menu":
            return self.demo is not None
        if getattr(self.screen, "PATIENT_FACING", False):
            # The patient is at the keypad: only the fallbacks the PIN screen offers.
            return action in ("visual_check", "documents", "maintenance", "demo_menu")
        return True

    def action_numbers(self) -> None:
        from madoguchi.tui.screens.numbers import NumbersScreen

        self.show(NumbersScreen())

    def action_documents(self) -> None:
        from madoguchi.tui.screens.scan import ScanScreen

        self.show(ScanScreen())

    def action_visual_check(self) -> None:
        from madoguchi.tui.screens.pin import VisualCheckScreen

        self.show(VisualCheckScreen())

    def action_declaration(self) -> None:
        from madoguchi.tui.screens.declaration import DeclarationScreen

        self.show(DeclarationScreen())

    def action_followups(self) -> None:
        from madoguchi.tui.screens.followups import FollowupsScreen

        self.show(FollowupsScreen())

    def action_today_log(self) -> None:
        from madoguchi.tui.screens.log import LogScreen

        self.show(LogScreen())

    def action_maintenance(self) -> None:
        from madoguchi.tui.screens.maintenance import MaintenanceScreen

        self.push_screen(MaintenanceScreen())

    def action_demo_menu(self) -> None:
        from madoguchi.tui.screens.demo_menu import DemoMenuScreen

        if self.demo is not None:
            self.push_screen(DemoMenuScreen(self.demo))

    # ---- checks ---------------------------------------------------------------

    def start_check(self, request: CheckRequest) -> None:
        """Show the result screen (spinner first) and decide in a worker."""
        from madoguchi.tui.screens.result import ResultScreen

        self.show(ResultScreen(self.check_timeout()))
        self.run_check(request)

    def check_timeout(self) -> float:
        """How long the result screen waits: the online budget, then the cache, with a margin."""
        return self.service.policy.online_budget_seconds + self.check_margin

    def on_check_requested(self, message: messages.CheckRequested) -> None:
        self.start_check(message.request)

    @work(thread=True, exclusive=True, exit_on_error=False, group="check", description="check")
    def run_check(self, request: CheckRequest) -> None:
        result = self.service.check(request)
        if not get_current_worker().is_cancelled:
            self.post_message(messages.VerdictReady(request, result))

    def on_verdict_ready(self, message: messages.VerdictReady) -> None:
        from madoguchi.tui.screens.result import ResultScreen

        verdict = message.result.verdict
        log.info("check by %s: %s from %s (%s), audit %d", message.request.method.value, verdict.outcome.value,
                 verdict.source.value, verdict.reason, message.result.audit_id)

        if isinstance(self.screen, ResultScreen) and self.screen.verdict is None:
            self.screen.show_verdict(message.result.verdict, message.request)
        else:  # decided where it started (the PIN screen): straight to the verdict
            self.show(ResultScreen(self.check_timeout(), message.result.verdict, message.request))
        # The counts after the verdict is drawn: their worker would compete with its first frame.
        self.call_after_refresh(self.refresh_status)

    def on_check_failed(self, message: messages.CheckFailed) -> None:
        log.warning("check failed: shown to staff as %r", message.message_ja)
        show_failure = getattr(self.screen, "show_failure", None)
        if show_failure is not None:
            show_failure(message.message_ja)
        else:
            self.notify(message.message_ja, severity="error")

    # ---- card -------------------------------------------------------------------

    def _card_inserted(self, reader: str) -> None:
        """From the card monitor's thread."""
        self.post_message(messages.CardInserted(reader))

    def _card_removed(self, reader: str) -> None:
        self.post_message(messages.CardRemoved())

    def on_card_inserted(self, message: messages.CardInserted) -> None:
        from madoguchi.tui.screens.pin import PinScreen

        log.info("card inserted in %s", message.label)
        self.card_in_reader = True
        self.show(PinScreen())

    def on_card_removed(self, message: messages.CardRemoved) -> None:
        from madoguchi.tui.screens.pin import PinScreen, VisualCheckScreen

        log.info("card removed")
        self.card_in_reader = False
        if isinstance(self.screen, (PinScreen, VisualCheckScreen)):
            self.workers.cancel_group(self.screen, "card")
            self.go_idle()
            self.notify("カードが外されました")

    # ---- scans ------------------------------------------------------------------

    def on_scan_received(self, message: messages.ScanReceived) -> None:
        from madoguchi.tui.screens.scan import ScanScreen

        log.info("scan received: %d bytes from the %s scanner", len(message.payload), message.source.value)

        if isinstance(self.screen, ScanScreen):
            self.screen.show_scan(message.payload, message.source)
        elif not getattr(self.screen, "PATIENT_FACING", False):
            self.show(ScanScreen(message.payload, message.source))

    # ---- demo -------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, group="demo")
    def run_demo_action(self, action: tuple[str, str, Callable[[], str]]) -> None:
        log.info("demo action: %s", action[0])
        message_ja = action[2]()
        if message_ja:
            self.notify(message_ja)
        self.refresh_status()

    def on_network_changed(self, message: messages.NetworkChanged) -> None:
        log.info("network %s", "restored" if message.online else "cut")
        self.refresh_status()

    # ---- status ---------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="status")
    def refresh_status(self) -> None:
        hint = self.demo.network_online() if self.demo else None
        if hint:  # the demo has no sync daemon: it re-checks offline decisions itself when online
            self.service.reconcile()
        self.post_message(messages.StatusUpdated(self.service.status(hint)))

    def on_status_updated(self, message: messages.StatusUpdated) -> None:
        self.status = message.status

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place turns a failed worker into a message on screen (and a log line in English)."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        log.error("worker %s failed: %r", event.worker.name, error, exc_info=error)
        if event.worker.group in ("check", "card"):
            self.post_message(messages.CheckFailed(
                "確認できませんでした（内部エラー）。番号入力（F2）か申立（F5）で受け付けてください"))
        elif event.worker.group != "status":
            self.notify("処理できませんでした（内部エラー）。もう一度お試しください", severity="error")
