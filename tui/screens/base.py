"""What every desk screen has: the status bar on top, the F-keys in the footer."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from madoguchi.edge.qr.codes import ScanSource
from madoguchi.edge.qr.scanners import WedgeDetector, WedgeEvent
from madoguchi.tui.messages import ScanReceived
from madoguchi.tui.widgets.status_bar import StatusBar
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

if TYPE_CHECKING:
    from madoguchi.tui.app import DeskApp

WEDGE_POLL_SECONDS = 0.05
# A wait shows its spinner and "checking" only after this long: a card or a check answering
# sooner goes straight on, without a frame nobody could read drawn on the UI thread meanwhile.
WAIT_SHOWN_AFTER = 0.1


class DeskScreen(Screen):
    """`ACCEPTS_SCANS`: a screen without text inputs listens for keyboard-wedge scans (a fast
    burst of keys ending in Enter) and posts them as ScanReceived."""

    ACCEPTS_SCANS = False
    BINDINGS = [Binding("escape", "back", "戻る", id="desk.back", show=False)]

    if TYPE_CHECKING:
        app: DeskApp  # every desk screen runs in the desk

    def __init__(self) -> None:
        super().__init__()
        self._wedge = WedgeDetector()  # here, not on mount: keys may arrive before the mount is handled
        self._last_key = (0.0, 0.0)  # (the last key's time of arrival, when it was handled)

    def on_mount(self) -> None:
        if self.ACCEPTS_SCANS:
            self.set_interval(WEDGE_POLL_SECONDS, self._poll_wedge)

    def on_key(self, event: events.Key) -> None:
        if not self.ACCEPTS_SCANS:
            return
        char = "\r" if event.key == "enter" else event.character
        if char and (char.isprintable() or char in ("\r", "\u3000")):  # U+3000 (全角空白) is not "printable"
            # Gaps are judged on arrival times (the key event's), not on when a busy UI got to
            # them: a scan stays a scan, and keys typed apart stay typed, however loaded the machine.
            self._last_key = (event.time, time.monotonic())
            self._deliver(self._wedge.feed(char, event.time))

    def _poll_wedge(self) -> None:
        """A burst ends after a silence, counted from when its last key was handled, and never
        while the app or this screen still holds messages (keys of the burst queued behind a
        busy UI: the timer calls this directly, not through the screen's queue)."""
        if self.app.message_queue_size or self.message_queue_size:
            return
        arrived, handled = self._last_key
        self._deliver(self._wedge.poll(arrived + time.monotonic() - handled))

    def _deliver(self, wedge_events: list[WedgeEvent]) -> None:
        for wedge_event in wedge_events:
            if wedge_event.kind == "scan":
                self.app.post_message(ScanReceived(wedge_event.text.encode("utf-8"), ScanSource.WEDGE))

    def compose_body(self) -> ComposeResult:
        yield from ()

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status-bar")
        yield from self.compose_body()
        yield Footer(compact=True)  # every F-key fits on 80 columns

    def action_back(self) -> None:
        self.app.go_idle()
