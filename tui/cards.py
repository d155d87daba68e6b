"""Where the desk's card comes from: the PC/SC reader of the appliance, or the demo's in-process
reader holding a virtual card. Both give a transport to the inserted card and insert/remove
events (called from the monitor's thread)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from madoguchi.edge.card import CardSession, TrustAnchors
from madoguchi.edge.card.transport import PcscMonitor, PcscReaders, Transport

Callback = Callable[[str], None]


@dataclass
class CardPort:
    open_transport: Callable[[], Transport]
    start_monitor: Callable[[Callback, Callback], Any]  # returns an object with stop()
    anchors: Callable[[], TrustAnchors]

    def session(self) -> CardSession:
        """A session with the inserted card; blocks (call from a worker)."""
        return CardSession(self.open_transport(), self.anchors())


def pcsc_port(anchors: TrustAnchors, reader_name: str | None = None) -> CardPort:
    """The appliance's reader through pcscd; raises ReaderUnavailable (a CardError) without pcscd."""
    readers = PcscReaders(reader_name)

    def start_monitor(on_insert: Callback, on_remove: Callback) -> PcscMonitor:
        return PcscMonitor(on_insert, on_remove, reader_name).start()

    return CardPort(readers.open, start_monitor, lambda: anchors)
