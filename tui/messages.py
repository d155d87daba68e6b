"""Messages the desk's workers post back to the UI (one place, as Harlequin keeps them)."""

from __future__ import annotations

from dataclasses import dataclass

from madoguchi.edge.desk import CheckResult
from madoguchi.edge.qr.codes import ScanSource
from madoguchi.edge.reconcile import Followup
from madoguchi.edge.verdict import CheckRequest
from madoguchi.tui.service import DeskStatus, LogEntry
from textual.message import Message


@dataclass
class StatusUpdated(Message):
    """Fresh figures for the status bar (frequent: coalesces in the queue)."""

    status: DeskStatus

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatusUpdated)


@dataclass
class CheckRequested(Message):
    """A screen has everything for a check: run it."""

    request: CheckRequest


@dataclass
class VerdictReady(Message):
    request: CheckRequest
    result: CheckResult


@dataclass
class CheckFailed(Message):
    """The check could not be made (database error...): say so, lose nothing."""

    message_ja: str


@dataclass
class CardInserted(Message):
    label: str  # for the log and the demo; never the My Number


class CardRemoved(Message):
    pass


@dataclass
class CardTriesRead(Message):
    tries_left: int


@dataclass
class CardHolderProven(Message):
    """The PIN was right: what remains is the consent questions, then the check."""

    request: CheckRequest


@dataclass
class CardProblem(Message):
    """A card error in Japanese for the screen; `kind` is the error's class name."""

    kind: str
    message_ja: str
    tries_left: int | None = None


@dataclass
class ScanReceived(Message):
    """Raw bytes from a scanner (keyboard-wedge burst or serial); never logged."""

    payload: bytes
    source: ScanSource = ScanSource.SERIAL

    def __repr__(self) -> str:
        return f"ScanReceived(<{len(self.payload)} bytes>, {self.source.value})"


@dataclass
class FollowupsLoaded(Message):
    followups: list[Followup]


@dataclass
class LogLoaded(Message):
    query: str
    entries: list[LogEntry]


@dataclass
class NetworkChanged(Message):
    online: bool
