"""The status bar: data age yellow beyond the policy, red when a sync was rejected; no
ambiguous-width symbols in the desk's own copy."""

from __future__ import annotations

import ast
import unicodedata
from datetime import timedelta
from pathlib import Path

import pytest
from madoguchi.edge import store
from madoguchi.tui import messages
from textual.widgets import Label

from tests.conftest import NOW
from tests.ui.conftest import SIZE, settle

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.asyncio
async def test_old_data_is_yellow_and_a_rejected_sync_red(desk, collected):
    conn = desk.service.conn
    with store.transaction(conn):
        store.set_sync_state(conn, 2, NOW - timedelta(hours=80))
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await settle(pilot, desk)
        label = desk.screen.query_one("#status-data", Label)
        assert str(label.content) == "データ: 3日前時点（古い）"  # in words, not by colour alone
        assert label.has_class("-warning") and not label.has_class("-error")
        with store.transaction(conn):
            store.record_sync_attempt(conn, "rejected", "signature does not verify", NOW)
        desk.refresh_status()
        await settle(pilot, desk)
        assert collected.of(messages.StatusUpdated)[-1].status.sync_rejected
        assert str(label.content) == "データ: 3日前時点（古い） 同期拒否"
        assert label.has_class("-error") and not label.has_class("-warning")


def desk_copy() -> list[tuple[str, str]]:
    """Every string literal of tui/ (the desk's copy) with where it is."""
    found = []
    for path in sorted((ROOT / "tui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.value))
    return found


def test_desk_copy_has_no_ambiguous_width_symbols():
    """…, ○, ※, → and the like are drawn one or two cells wide depending on the terminal.
    Letters are not symbols: Tiếng Việt and Português need ê, ò, ã (ambiguous too), and the
    kiosk's terminal keeps ambiguous characters narrow, as Textual counts them."""
    offenders = [(where, ch) for where, text in desk_copy() for ch in text
                 if unicodedata.east_asian_width(ch) == "A" and not ch.isascii()
                 and not unicodedata.category(ch).startswith("L")]
    assert not offenders, offenders


def test_the_checker_sees_an_ambiguous_symbol():
    assert unicodedata.east_asian_width("…") == "A" and unicodedata.east_asian_width("※") == "A"
