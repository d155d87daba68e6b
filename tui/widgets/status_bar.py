"""The status bar every screen shows: network, data age, reader, today's counts."""

from __future__ import annotations

from madoguchi.edge.verdict import age_ja
from madoguchi.tui.service import DeskStatus
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

READER_JA = {"connected": "接続", "absent": "未接続", "error": "エラー"}


class StatusBar(Horizontal):
    """Follows the app's `status` reactive; the app refreshes it from a worker."""

    def compose(self) -> ComposeResult:
        if getattr(self.app, "demo", False):
            yield Label("デモ", id="status-demo")
        yield Label(id="status-network")
        yield Label(id="status-data")
        yield Label(id="status-reader")
        yield Label(id="status-checks")
        yield Label(id="status-followups")

    def on_mount(self) -> None:
        self.watch(self.app, "status", self.show)

    def show(self, status: DeskStatus | None) -> None:
        network = self.query_one("#status-network", Label)
        data = self.query_one("#status-data", Label)
        reader = self.query_one("#status-reader", Label)
        checks = self.query_one("#status-checks", Label)
        followups = self.query_one("#status-followups", Label)
        if status is None:
            network.update("準備中")
            for label in (data, reader, checks, followups):
                label.update("")
            return
        network.update("オンライン" if status.online else "オフライン")
        network.set_class(not status.online, "-warning")
        age = status.data_age_seconds
        no_data = age is None  # a fresh install before the first sync
        if age is None:
            data.update("データ: なし（同期待ち）")
        else:  # the age of the synced data as a whole; a verdict shows its own record's age
            stale = "（古い）" if status.data_stale else ""  # in words too, not by colour alone
            data.update(f"データ: {age_ja(age)}時点{stale}")
        data.set_class(status.data_stale and not (status.sync_rejected or no_data), "-warning")
        data.set_class(status.sync_rejected or no_data, "-error")
        if status.sync_rejected:
            data.update(f"{data.content} 同期拒否")
        reader.update(f"リーダー: {READER_JA.get(status.reader, status.reader)}")
        reader.set_class(status.reader == "error", "-error")
        reader.set_class(status.reader == "absent", "-warning")
        checks.update(f"本日 {status.checks_today}件")
        followups.update(f"要対応 {status.followups_open}件")
        followups.set_class(status.followups_open > 0, "-warning")
