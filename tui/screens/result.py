"""The result: a spinner while deciding, then the big verdict panel (or the fallback)."""

from __future__ import annotations

from madoguchi.edge.verdict import CheckRequest, Verdict
from madoguchi.tui.screens.base import DeskScreen
from madoguchi.tui.widgets.verdict_panel import VerdictPanel
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import LoadingIndicator, Static

FALLBACK_JA = "番号入力（F2）、書類（F3）、申立（F5：カードを提示した方）で受け付けてください"


class ResultScreen(DeskScreen):
    BINDINGS = [
        Binding("escape", "back", "戻る", id="desk.back", show=False),
        Binding("enter", "next", "次の方", id="desk.next"),
        Binding("f8", "funds", "公費", id="desk.result.funds"),
    ]

    def __init__(self, timeout: float, verdict: Verdict | None = None, request: CheckRequest | None = None) -> None:
        super().__init__()
        self.timeout = timeout
        self.verdict = verdict
        self.request = request
        self._timer: Timer | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="result"):
            if self.verdict is not None:
                yield VerdictPanel(self.verdict, self.request, id="verdict")
                return
            with Vertical(id="pending"):
                yield Static("確認しています", id="pending-label")
                yield LoadingIndicator()

    def action_next(self) -> None:
        self.app.go_idle()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """F8 公費 only for a check that can take funds (not a 申立, not while deciding)."""
        return self.takes_funds if action == "funds" else True

    @property
    def takes_funds(self) -> bool:
        return self.verdict is not None and self.request is not None and self.request.declaration is None

    def action_funds(self) -> None:
        """公費 from a 受給者証 shown with the card (or the document): the check made again with them."""
        from madoguchi.tui.screens.funds import FundsScreen

        if self.takes_funds and self.request is not None:
            self.app.push_screen(FundsScreen(self.request))

    def on_mount(self) -> None:
        if self.verdict is None:
            self._timer = self.set_timer(self.timeout, self._timed_out)

    def _timed_out(self) -> None:
        """No answer in time: the worker may still be stuck, the desk goes on without it."""
        self.workers.cancel_group(self.app, "check")
        self.show_failure(f"応答がありません。{FALLBACK_JA}")

    def show_verdict(self, verdict: Verdict, request: CheckRequest | None = None) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.verdict = verdict
        self.request = request
        body = self.query_one("#result", Vertical)
        body.remove_children()
        body.mount(VerdictPanel(verdict, request, id="verdict"))
        self.refresh_bindings()

    def show_failure(self, message_ja: str) -> None:
        if self._timer is not None:
            self._timer.stop()
        body = self.query_one("#result", Vertical)
        body.remove_children()
        body.mount(Static(message_ja, id="result-failure", markup=False))
