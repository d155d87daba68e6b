"""Today's log (from the audit log), searchable by name kana (romaji typed is converted) or time."""

from __future__ import annotations

from madoguchi.tui import messages
from madoguchi.tui.kana import romaji_to_katakana
from madoguchi.tui.screens.base import DeskScreen
from madoguchi.tui.widgets.verdict_panel import OUTCOME_JA, OUTCOME_MARK
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Static

METHOD_JA = {"card": "カード", "visual": "目視確認", "numbers": "番号", "qr": "QR", "patient_id": "診察券",
             "declaration": "申立"}
SOURCE_JA = {"online": "オンライン", "cache": "オフライン", "declaration": "申立", "none": "-"}
VERDICT_JA = {outcome.value: f"{OUTCOME_MARK[outcome]} {label}" for outcome, label in OUTCOME_JA.items()}


class LogScreen(DeskScreen):
    def compose_body(self) -> ComposeResult:
        with Vertical(id="log"):
            yield Static("本日の記録：カナ（ローマ字可）か時刻（例 9:05、14）で絞り込みます", classes="form-title")
            yield Input(id="log-search", placeholder="検索", compact=True)
            yield Static("", id="log-query", markup=False)
            yield DataTable(id="log-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("時刻", "方法", "判定", "情報源", "氏名", "カナ")
        self.query_one("#log-search", Input).focus()
        self.load("")

    def on_input_changed(self, event: Input.Changed) -> None:
        query = romaji_to_katakana(event.value)
        self.query_one("#log-query", Static).update(f"検索：{query}" if query != event.value else "")
        self.load(query)

    @work(thread=True, exclusive=True, exit_on_error=False, group="log")
    def load(self, query: str) -> None:
        self.post_message(messages.LogLoaded(query, self.app.service.today_log(query)))

    def on_log_loaded(self, message: messages.LogLoaded) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for e in message.entries:
            table.add_row(e.at.strftime("%H:%M"), METHOD_JA.get(e.method, e.method),
                          VERDICT_JA.get(e.verdict, e.verdict), SOURCE_JA.get(e.source, e.source),
                          e.name, e.name_kana)
