"""待機: waiting for a card, a scan or a key."""

from __future__ import annotations

from madoguchi.tui.screens.base import DeskScreen
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

PROMPT_JA = "マイナ保険証をカードリーダーに置いてください"
REMOVE_JA = "前の方のカードがリーダーに残っています。取り出してください"


class IdleScreen(DeskScreen):
    ACCEPTS_SCANS = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "back"  # nothing to go back to

    def compose_body(self) -> ComposeResult:
        with Vertical(id="idle"):
            yield Static(PROMPT_JA, id="idle-prompt")
            yield Static("書類・QRは F3　番号入力は F2　申立は F5　Esc でこの画面に戻る", id="idle-hint")
            demo = self.app.demo
            if demo is not None:
                yield Static("\n".join(demo.guide_ja), id="demo-guide")

    def on_mount(self) -> None:
        self.watch(self.app, "card_in_reader", self.show_prompt)

    def show_prompt(self, card_in_reader: bool) -> None:
        """After 次の方 the last patient's card may still be in the reader: ask for it first."""
        prompt = self.query_one("#idle-prompt", Static)
        prompt.update(REMOVE_JA if card_in_reader else PROMPT_JA)
        prompt.set_class(card_in_reader, "-remove")
