"""待機: waiting for a card, a scan or a key."""

from __future__ import annotations

from madoguchi.tui.screens.base import DeskScreen
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class IdleScreen(DeskScreen):
    ACCEPTS_SCANS = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "back"  # nothing to go back to

    def compose_body(self) -> ComposeResult:
        with Vertical(id="idle"):
            yield Static("マイナ保険証をカードリーダーに置いてください", id="idle-prompt")
            yield Static("書類・QRは F3　番号入力は F2　申立は F5　Esc でこの画面に戻る", id="idle-hint")
            demo = self.app.demo
            if demo is not None:
                yield Static("\n".join(demo.guide_ja), id="demo-guide")
