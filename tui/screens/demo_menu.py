"""デモ操作: insert or remove a virtual card, cut or restore the network, scan a sample."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from madoguchi.tui.app import DemoControls, DeskApp


class DemoMenuScreen(ModalScreen):
    BINDINGS = [Binding("escape", "app.pop_screen", "閉じる", id="desk.demo.close"), *(
        Binding(str(n % 10), f"choose({n - 1})", show=False, id=f"desk.demo.{n % 10}") for n in range(1, 11)
    )]

    if TYPE_CHECKING:
        app: DeskApp  # it runs in the desk

    def __init__(self, demo: DemoControls) -> None:
        super().__init__()
        self.demo = demo

    def compose(self) -> ComposeResult:
        with Vertical(id="demo-menu"):
            yield Static("デモ操作（数字キーかEnterで選択、Escで閉じる）", classes="form-title")
            # ten digit keys: an eleventh action is chosen with the arrows and Enter
            yield OptionList(*[Option(f"{n % 10 if n <= 10 else ' '}  {label}", id=action_id)
                               for n, (action_id, label, _) in enumerate(self.demo.actions, 1)])

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def action_choose(self, index: int) -> None:
        if index < len(self.demo.actions):
            self.run(index)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.run(event.option_index)

    def run(self, index: int) -> None:
        app = self.app
        app.pop_screen()
        app.run_demo_action(self.demo.actions[index])
