"""保守: leaving the kiosk needs the staff PIN from the configuration ([desk] staff_pin)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

if TYPE_CHECKING:
    from madoguchi.tui.app import DeskApp


class MaintenanceScreen(ModalScreen):
    BINDINGS = [Binding("escape", "app.pop_screen", "戻る", id="desk.maintenance.back")]

    if TYPE_CHECKING:
        app: DeskApp  # it runs in the desk

    def compose(self) -> ComposeResult:
        with Vertical(id="maintenance"):
            yield Static("保守：終了するには職員用の保守PINを入力してください", classes="form-title")
            if self.app.staff_pin:
                yield Input(id="staff-pin", password=True, max_length=16, compact=True, placeholder="保守PIN")
            yield Static("" if self.app.staff_pin else
                         "保守PINが設定されていないため終了できません（設定ファイルの [desk] staff_pin）",
                         id="maintenance-message", markup=False)
            yield Static("Esc 戻る", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if hmac.compare_digest(event.value.encode(), self.app.staff_pin.encode()):
            self.app.exit()
            return
        event.input.value = ""
        self.query_one("#maintenance-message", Static).update("保守PINが違います")
