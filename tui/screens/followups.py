"""要対応: what reconciliation found to correct, each item marked as handled once done."""

from __future__ import annotations

from datetime import datetime

from madoguchi.edge.reconcile import Followup
from madoguchi.tui import messages
from madoguchi.tui.screens.base import DeskScreen
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

KIND_JA = {
    "lost_after_ok": "資格喪失", "valid_after_all": "有効だった", "declaration_resolved": "申立の資格判明",
    "declaration_not_insured": "申立の資格なし", "copay_changed": "負担割合",
}
FIXED_WIDTH = 2 + 11 + 14 + 3 * 2 + 1  # padding, 日時, 種類, cell padding, scrollbar


class FollowupsScreen(DeskScreen):
    BINDINGS = [
        Binding("escape", "back", "戻る", id="desk.back", show=False),
        Binding("f10", "handled", "対応済み", id="desk.followups.handled"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.followups: list[Followup] = []

    def compose_body(self) -> ComposeResult:
        with Vertical(id="followups"):
            yield Static("要対応：オフラインで受け付けた確認の、回復後の再確認結果です", classes="form-title")
            yield DataTable(id="followup-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="followup-detail")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # 内容 is as wide as what is left: the row is cut at the screen's edge (no sideways
        # scrolling), the whole message is in the detail below.
        table.add_column("日時", width=11)
        table.add_column("種類", width=14)
        table.add_column("氏名・内容", width=max(self.app.size.width - FIXED_WIDTH, 20))
        table.focus()
        self.app.clear_notifications()  # a toast would cover the detail
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="followups")
    def load(self) -> None:
        self.post_message(messages.FollowupsLoaded(self.app.service.followups()))

    @work(thread=True, exclusive=True, exit_on_error=False, group="followups")
    def mark(self, followup_id: int) -> None:
        self.app.service.mark_handled(followup_id)
        self.post_message(messages.FollowupsLoaded(self.app.service.followups()))
        self.app.refresh_status()

    def on_followups_loaded(self, message: messages.FollowupsLoaded) -> None:
        self.followups = message.followups
        table = self.query_one(DataTable)
        table.clear()
        tz = self.app.service.policy.timezone
        for f in self.followups:
            at = datetime.fromisoformat(f.created_at).astimezone(tz)
            table.add_row(at.strftime("%m/%d %H:%M"), KIND_JA.get(f.kind, f.kind), f.message_ja, key=str(f.id))
        self.show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def selected(self) -> Followup | None:
        table = self.query_one(DataTable)
        if not self.followups or table.cursor_row >= len(self.followups):
            return None
        return self.followups[table.cursor_row]

    def show_detail(self) -> None:
        detail = self.query_one("#followup-detail", Static)
        followup = self.selected()
        if followup is None:
            detail.update("要対応はありません")
            return
        text = Text()
        text.append(followup.message_ja + "\n")
        text.append("対応：", style="bold")
        text.append(followup.correction_ja)
        text.append("\nF10 で対応済みにします", style="dim")
        detail.update(text)

    def action_handled(self) -> None:
        followup = self.selected()
        if followup is not None:
            self.mark(followup.id)
