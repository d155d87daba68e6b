"""The device's side of reconciliation: upload the outbox, record what the hub answers.

Entries go up in order, a batch at a time. Each `reconciled` answer is recorded with
`store.settle` (the entry marked reconciled and its followup, if any, in one
transaction); `pending` entries stay in the outbox for the next run; an entry the hub cannot
read becomes a followup asking staff to check it by hand, so nothing is dropped silently.
The hub keeps its answers, so an upload repeated after a crash records nothing twice.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from madoguchi.edge import store
from madoguchi.edge.verdict import OnlineUnavailable
from madoguchi.sync.protocol import STOP_REASONS

log = logging.getLogger(__name__)

BATCH = 100
UNREADABLE = ("unreadable", "この受付はハブで自動的に再確認できませんでした",
              "資格を手作業で確認してください（オンライン資格確認または保険者へ照会）")

PostJson = Callable[[str, dict, float], dict]


@dataclass(frozen=True)
class UploadOutcome:
    reconciled: int = 0
    followups: int = 0
    pending: int = 0
    error: str = ""  # why the upload stopped early (hub unreachable, bad answer)


def upload_outbox(conn: sqlite3.Connection, post_json: PostJson, timeout: float = 10.0,
                  clock: Callable[[], datetime] = store.utcnow) -> UploadOutcome:
    """Upload every unreconciled outbox entry once; never raises for a network problem."""
    reconciled = followups = pending = 0
    after = 0
    while True:
        rows = store.unreconciled(conn, after, BATCH)
        if not rows:
            return UploadOutcome(reconciled, followups, pending)
        after = rows[-1].id
        entries: list[dict[str, Any]] = [{"entry_id": r.id, "checked_at": r.created_at, "payload": r.request, "verdict": r.verdict,
                    "copay_percent": r.copay_percent} for r in rows]
        try:
            results = post_json("/v1/outbox", {"entries": entries}, timeout)["results"]
            answered = {r["entry_id"]: r for r in results}
        except OnlineUnavailable as exc:
            return UploadOutcome(reconciled, followups, pending, f"hub unreachable: {exc}")
        except (KeyError, TypeError) as exc:
            return UploadOutcome(reconciled, followups, pending, f"unreadable answer from the hub: {exc!r}")
        now = clock()
        for entry in entries:
            result = answered.get(entry["entry_id"], {"status": "pending"})
            if result.get("status") == "reconciled":
                found = result.get("followup")
                contradiction = (found["kind"], found["message_ja"], found["correction_ja"]) if found else None
                detail = {"validity": result.get("validity"), "numbers": result.get("numbers")}
                if store.settle(conn, entry["entry_id"], contradiction, detail, now):
                    followups += 1
                reconciled += 1
            elif result.get("status") == "invalid":
                log.warning("outbox entry %d: the hub could not read it: %s", entry["entry_id"], result.get("reason"))
                store.settle(conn, entry["entry_id"], UNREADABLE, {"reason": result.get("reason")}, now)
                followups += 1
                reconciled += 1
            else:
                pending += 1
        store.mark_uploaded(conn, [e["entry_id"] for e in entries], now)
        if stop := next((r["reason"] for r in results if r.get("reason") in STOP_REASONS), None):
            return UploadOutcome(reconciled, followups, pending, stop)
