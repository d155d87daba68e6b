"""公費の追加: the funds of a 受給者証 (医療証) shown with a card or a document, added to the check
just made; the check is made again with them (a new audit entry records them)."""

from __future__ import annotations

from dataclasses import replace

from madoguchi.edge.verdict import CheckRequest
from madoguchi.tui.screens.base import DeskScreen
from madoguchi.tui.widgets.fund_rows import FundRows
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Static


class FundsScreen(DeskScreen):
    BINDINGS = [
        Binding("escape", "back", "戻る", id="desk.back", show=False),
        Binding("f10", "submit", "再確認", id="desk.funds.submit"),
    ]

    def __init__(self, request: CheckRequest) -> None:
        super().__init__()
        self.request = request

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Static("公費の追加：受給者証（医療証）の番号を入力し、Enter か F10 で確認し直します",
                         classes="form-title")
            yield FundRows(id="funds")

    def action_back(self) -> None:
        self.app.pop_screen()  # back to the verdict, unchanged

    def on_mount(self) -> None:
        self.query_one("#fund1-payer", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        errors: dict[str, str] = {}
        rows = self.query_one(FundRows)
        funds = rows.funds(errors)
        bad = rows.show_errors(errors)
        if bad or not funds:
            if not funds and not bad:
                rows.tell("fund1", "公費負担者番号を入力してください")
            self.query_one(f"#{bad or 'fund1-payer'}", Input).focus()
            return
        self.app.start_check(replace(self.request, public_funds=funds))
