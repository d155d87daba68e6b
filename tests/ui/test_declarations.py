"""The 申立 through the desk's own entry points: only for a patient who presented the card (its
printed fields recorded), the 10割 path for anyone else, and a month's claims exported with
`madoguchi declarations` (docs/domain.md §3)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from madoguchi.edge.claim import UNKNOWN_INSURER, UNKNOWN_NUMBER, UNKNOWN_SYMBOL
from madoguchi.edge.verdict import Method, Outcome, Source
from madoguchi.tui import messages
from madoguchi.tui.screens.declaration import WITHOUT_CARD_JA, DeclarationScreen
from textual.widgets import Static

from tests.ui.conftest import SIZE, answer_consent, choose, declare, plain, settle

pytestmark = pytest.mark.asyncio
MONTH = "2026-11"  # tests.conftest.NOW in JST


def madoguchi(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MADOGUCHI_CONFIG": os.devnull}
    return subprocess.run([sys.executable, "-m", "madoguchi", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def exported(data_dir: Path) -> list[dict]:
    done = madoguchi(data_dir, "declarations", "export", "--month", MONTH, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["declarations"]


async def test_without_card_or_certificate_the_patient_pays_in_full_and_no_declaration_is_made(
        desk, collected, tmp_path):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await pilot.press("f5")
        assert isinstance(desk.screen, DeclarationScreen)
        await choose(pilot, desk, "card", 2)
        assert str(desk.screen.query_one("#card-message", Static).content) == WITHOUT_CARD_JA
        assert "10割" in str(desk.screen.query_one("#provisional-copay", Static).content)
        await pilot.press("f10")
        await settle(pilot, desk)
        (ready,) = collected.of(messages.VerdictReady)
        verdict = ready.result.verdict
        assert ready.request.method == Method.SELF_PAY and verdict.reason == "self_pay"
        assert verdict.copay_percent == 100 and not verdict.provisional_copay
        assert ready.result.outbox_id is None  # nothing to re-check, nothing to claim
        details = plain(desk.screen.query_one("#verdict-details Static"))
        assert "10割" in details and "療養費" in details and "申立書" not in details
        assert [e.method for e in desk.service.today_log()] == ["self_pay"]
    assert exported(tmp_path / "data") == []


async def test_a_card_holders_failed_check_gets_the_declaration_with_the_card_recorded(desk, collected, tmp_path):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        desk.demo.cards.insert("lost")
        await settle(pilot, desk)
        await pilot.press(*"1234")
        await answer_consent(pilot, desk, "1", "2")
        failed = collected.of(messages.VerdictReady)[0].result.verdict
        assert failed.outcome == Outcome.NG
        steps = "\n".join(failed.next_steps_ja)
        assert "マイナポータル" in steps and "カードと一緒に" in steps and "申立書" in steps and "10割" not in steps
        await pilot.press("enter", "f5")  # the card is still in the reader: presented
        assert desk.screen.query_one("#card").value == "yes"
        await declare(pilot, desk, card=None)
        await pilot.press("f10")
        await settle(pilot, desk)
        ready = collected.of(messages.VerdictReady)[1]
        assert ready.result.verdict.source == Source.DECLARATION and ready.request.card_presented
        assert "提示あり" in plain(desk.screen.query_one("#verdict-details Static"))
        # the record of the card check holds the patient's answers; the 申立's, that the card was shown
        details = [json.loads(row[0]) for row in desk.service.conn.execute("SELECT detail FROM audit ORDER BY id")]
        assert details[0]["consent"] == {"limit": "1", "medical": "0"} and details[1]["card_presented"]
    (row,) = exported(tmp_path / "data")
    assert row["card_presented"] is True
    assert (row["card_name"], row["card_birth_date"], row["card_sex"], row["card_address"]) == (
        "mihon", "1980-01-01", 1, "tokyo shinjuku 1-1")
    assert (row["name_kana"], row["state"], row["claim_basis"]) == ("ミホン タロウ", "open", "unknown")


async def test_a_months_export_with_a_resolved_and_an_unresolved_declaration(desk, collected, tmp_path):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await pilot.press("f5", "f8", "f10")  # the demo's sample: a person the hub's roster knows
        await settle(pilot, desk)
        await pilot.press("enter", "f5")
        await declare(pilot, desk)  # someone the roster does not know
        await pilot.press("f10")
        await settle(pilot, desk)
        desk.service.reconcile()
        sample = desk.demo.world.samples["elderly_70_74"]
    data = tmp_path / "data"
    resolved, unknown = exported(data)
    assert (resolved["state"], resolved["claim_basis"], resolved["resolved_by"]) == (
        "resolved_new", "new_numbers", "recheck")
    assert (resolved["insurer_number"], resolved["symbol"], resolved["number"], resolved["branch"]) == (
        sample["insurer_number"], sample["symbol"], sample["number"], sample["branch"])
    assert resolved["remarks_ja"] == ""
    assert (unknown["state"], unknown["claim_basis"]) == ("open", "unknown")
    assert (unknown["insurer_number"], unknown["symbol"], unknown["number"], unknown["branch"]) == (
        UNKNOWN_INSURER, UNKNOWN_SYMBOL, UNKNOWN_NUMBER, "") == ("77777777", "77777777", "77777777", "")
    # staff decide it is claimed unknown: 7-filled numbers, the 申立書's address and contact in 摘要
    assert madoguchi(data, "declarations", "unresolved", str(unknown["id"])).returncode == 0
    done = madoguchi(data, "declarations", "export", "--month", MONTH)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["state"] for r in rows] == ["resolved_new", "unresolved"]
    assert rows[1]["insurer_number"] == "77777777" and "住所：" in rows[1]["remarks_ja"]
    assert "連絡先：" in rows[1]["remarks_ja"]
    # the patient later reports the old numbers: the facility claims the 旧資格
    old = madoguchi(data, "declarations", "resolve", str(unknown["id"]), "--insurer", sample["insurer_number"],
                    "--symbol", sample["symbol"], "--number", sample["number"], "--old", "--json")
    assert old.returncode == 0 and json.loads(old.stdout)["changed"]
    assert exported(data)[1]["claim_basis"] == "old_numbers"
    # the claim paid: kept, but no longer changed
    assert madoguchi(data, "declarations", "paid", str(resolved["id"])).returncode == 0
    again = madoguchi(data, "declarations", "paid", str(resolved["id"]))
    assert again.returncode == 1 and "no unpaid declaration" in again.stderr
    assert madoguchi(data, "declarations", "unresolved", str(resolved["id"])).returncode == 1
    assert exported(data)[0]["claim_paid_at"]
    bad = madoguchi(data, "declarations", "export", "--month", "2026-13")
    assert bad.returncode == 2 and "--month" in bad.stderr
    assert madoguchi(data, "declarations", "resolve", "1", "--insurer", "06139991", "--number", "1").returncode == 2
