"""The blocking work of the desk (database, online source, reconciliation), without any UI.

Screens call these methods from Textual thread workers, never from the UI thread. One SQLite
connection is shared and every use of it is serialised by a lock, so workers of different
groups may run at the same time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timezone

from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.desk import CheckResult, run_check
from madoguchi.edge.reconcile import Followup
from madoguchi.edge.verdict import CheckRequest, OnlineAnswer, OnlineSource, OnlineUnavailable


@dataclass(frozen=True)
class DeskStatus:
    """What the status bar shows."""

    online: bool
    data_age_seconds: int | None  # None: nothing synced yet
    data_stale: bool  # older than the policy allows
    sync_rejected: bool  # the last sync was refused (bad signature, rollback...)
    reader: str  # "connected" / "absent" / "error"
    checks_today: int
    followups_open: int


@dataclass(frozen=True)
class LogEntry:
    """One check of today's audit log, as the log screen shows it."""

    audit_id: int
    at: datetime  # local time
    method: str
    verdict: str
    source: str
    name: str
    name_kana: str


class DeskService:
    def __init__(self, conn: sqlite3.Connection, policy: Policy, online: OnlineSource | None = None,
                 clock: Callable[[], datetime] = store.utcnow,
                 reconciler: Callable[[sqlite3.Connection], int] | None = None) -> None:
        self.conn = conn
        self._reconciler = reconciler
        self.policy = policy
        self.clock = clock
        self._online = online
        self._lock = threading.Lock()
        self._online_failed = False  # the last online question went unanswered
        self.reader_state = "absent"

    @property
    def online_configured(self) -> bool:
        return self._online is not None

    def _ask_online(self, request: CheckRequest, budget: float) -> OnlineAnswer:
        assert self._online is not None
        try:
            answer = self._online(request, budget)
        except OnlineUnavailable:
            self._online_failed = True
            raise
        self._online_failed = False
        return answer

    def check(self, request: CheckRequest) -> CheckResult:
        """Decide and record one check (the online source within the policy's budget)."""
        online = self._ask_online if self._online is not None else None
        with self._lock:
            return run_check(self.conn, request, self.policy, online, clock=self.clock)

    def card_link(self, certificate_der: bytes) -> str | None:
        """The card's link, or None before the first sync (the link key arrives with the cache)."""
        with self._lock:
            try:
                return store.card_link_for(self.conn, certificate_der)
            except store.StoreMissing:
                return None

    def status(self, online_hint: bool | None = None) -> DeskStatus:
        """The status bar's figures; `online_hint` overrides the last online outcome (demo)."""
        now = self.clock()
        with self._lock:
            sync = store.get_sync_state(self.conn)
            attempt = store.get_sync_attempt(self.conn)
            checks = store.count_checks_since(self.conn, self._start_of_today(now))
            followups = store.count_open_followups(self.conn)
        age = int((now - sync.generated_at).total_seconds()) if sync else None
        online = self._online is not None and not self._online_failed
        if online_hint is not None:
            online = online_hint
        return DeskStatus(
            online=online, data_age_seconds=age,
            data_stale=age is None or age > self.policy.cache_max_age.total_seconds(),
            sync_rejected=bool(attempt and attempt.rejected),
            reader=self.reader_state, checks_today=checks, followups_open=followups,
        )

    def _start_of_today(self, now: datetime) -> datetime:
        today = now.astimezone(self.policy.timezone).date()
        return datetime.combine(today, time(0), self.policy.timezone).astimezone(timezone.utc)

    def today_log(self, query: str = "") -> list[LogEntry]:
        """Today's checks, newest first; `query` is a time ("9:05", "14") or a name in kana/kanji."""
        now = self.clock()
        with self._lock:
            rows = store.checks_since(self.conn, self._start_of_today(now))
        entries = []
        for row in rows:
            name, kana = row.name, row.name_kana
            if not name and row.request:
                declared = json.loads(row.request).get("inputs", {}).get("declaration") or {}
                name, kana = declared.get("name", ""), declared.get("name_kana", "")
            local = datetime.fromisoformat(row.at).astimezone(self.policy.timezone)
            entries.append(LogEntry(row.audit_id, local, row.method, row.verdict, row.source, name or "", kana or ""))
        return [e for e in entries if matches(e, query)]

    def followups(self) -> list[Followup]:
        with self._lock:
            return store.list_followups(self.conn)

    def mark_handled(self, followup_id: int) -> bool:
        with self._lock:
            return store.mark_handled(self.conn, followup_id, self.clock())

    def reconcile(self) -> int:
        """Have the offline decisions re-checked now, through `reconciler` (the demo's: a desk in
        production has the sync daemon upload its outbox); the number of new 要対応 items."""
        if self._reconciler is None:
            return 0
        with self._lock:
            return self._reconciler(self.conn)


def fold_kana(text: str) -> str:
    """For search: width-normalised, hiragana as katakana, no spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in text)
    return "".join(text.split())


def matches(entry: LogEntry, query: str) -> bool:
    query = fold_kana(query)
    if not query:
        return True
    if query.replace(":", "").isdigit():
        hour, _, minute = query.partition(":")
        if minute:
            return entry.at.strftime("%H:%M").startswith(f"{int(hour):02d}:{minute}")
        return entry.at.hour == int(hour)
    return query in fold_kana(entry.name_kana) or query in fold_kana(entry.name)

