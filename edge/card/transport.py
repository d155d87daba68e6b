"""Transports: PC/SC through pcscd (pyscard) and an in-process reader for the virtual card.

Both share `Transport.transmit`: the JPKI allowlist (`jpki.guard`) first, then the exchange in
the transport's worker thread under a deadline (a card that never answers blocks SCardTransmit
for ever). `Transport.call` runs a whole sequence of commands in the worker, each transmit
still under its own deadline, with one thread handoff instead of one per APDU.
A transport that timed out is dead: open a new one once the card is back.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from madoguchi.edge.card import jpki
from madoguchi.edge.card.errors import CardError, CardRemoved, CardTimeout, ReaderUnavailable

log = logging.getLogger(__name__)

TRANSMIT_TIMEOUT = 5.0  # seconds; a real card signs in well under one second
Callback = Callable[[str], None]  # called with the reader's name
T = TypeVar("T")


class _Worker:
    """One daemon thread running a transport's exchanges, so a caller can stop waiting."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.stuck = False
        self.exchange_started: float | None = None  # when the exchange under way began
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, box, done = job
            try:
                box["result"] = fn()
            except BaseException as exc:  # handed to the caller
                box["error"] = exc
            done.set()

    def exchange(self, fn: Callable[[], T], timeout: float) -> T:
        """One exchange with the card: timed by `run`'s caller, which gives up after `timeout`."""
        if threading.current_thread() is not self._thread:
            return self.run(lambda: self.exchange(fn, timeout), timeout)
        if self.stuck:  # the caller gave up: send nothing more
            raise CardTimeout("the caller stopped waiting for this card")
        self.exchange_started = time.monotonic()
        try:
            return fn()
        finally:
            self.exchange_started = None

    def run(self, fn: Callable[[], T], timeout: float) -> T:
        """Run `fn` in the worker; CardTimeout once an exchange has taken longer than `timeout`."""
        if self.stuck:
            raise CardTimeout("an earlier command never finished: wait for the card to be placed again")
        if threading.current_thread() is self._thread:
            return fn()
        box: dict = {}
        done = threading.Event()
        self._jobs.put((fn, box, done))
        while not done.wait(self._time_left(timeout)):
            started = self.exchange_started
            if started is not None and time.monotonic() - started >= timeout:
                self.stuck = True
                raise CardTimeout(f"the card did not answer within {timeout:.1f} s")
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _time_left(self, timeout: float) -> float:
        started = self.exchange_started
        return timeout if started is None else max(0.0, started + timeout - time.monotonic())

    def stop(self) -> None:
        self._jobs.put(None)


class Transport:
    """One connection to one inserted card."""

    def __init__(self, reader_name: str, timeout: float = TRANSMIT_TIMEOUT) -> None:
        self.reader_name = reader_name
        self.timeout = timeout
        self._worker = _Worker(f"card:{reader_name}")

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one APDU; (response data, status word). Raises CardRemoved, CardTimeout, CardError."""
        jpki.guard(apdu)
        response = self._worker.exchange(lambda: self._exchange(apdu), self.timeout)
        if len(response) < 2:
            raise CardRemoved("the card returned no valid response")
        return response[:-2], int.from_bytes(response[-2:], "big")

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` (a sequence of transmits) in the worker thread."""
        return self._worker.run(lambda: fn(*args), self.timeout)

    def _exchange(self, apdu: bytes) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        self._worker.stop()


# ---- PC/SC (pcscd) ------------------------------------------------------------

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"


def _scard():
    try:
        from smartcard import scard
    except ImportError:
        raise ReaderUnavailable("pyscard is not installed (extra `reader`)") from None
    return scard


def _removed_codes(scard) -> set[int]:
    return {scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_RESET_CARD,
            scard.SCARD_E_NOT_TRANSACTED, scard.SCARD_F_COMM_ERROR, scard.SCARD_W_UNPOWERED_CARD,
            scard.SCARD_W_UNRESPONSIVE_CARD}


def _reader_gone_codes(scard) -> set[int]:
    return {scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_NO_SERVICE,
            scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_NO_READERS_AVAILABLE}


def _check(scard, hresult: int, what: str) -> None:
    if hresult == scard.SCARD_S_SUCCESS:
        return
    message = f"{what}: {scard.SCardGetErrorMessage(hresult)} ({hresult & 0xFFFFFFFF:#010x})"
    if hresult in _removed_codes(scard):
        raise CardRemoved(message)
    if hresult in _reader_gone_codes(scard):
        raise ReaderUnavailable(message)
    raise CardError(message)


def _pick_reader(readers: list[str], name: str | None) -> list[str]:
    """The readers matching `name` (exact, else by prefix); every reader when no name is given."""
    if not name:
        return sorted(readers)
    exact = [r for r in readers if r == name]
    return exact or sorted(r for r in readers if r.startswith(name))


class PcscTransport(Transport):
    def __init__(self, scard, context: int, reader_name: str, timeout: float) -> None:
        super().__init__(reader_name, timeout)
        self._scard = scard

        def connect() -> tuple[int, int]:  # powers the card up: a mute card would block here too
            hresult, card, protocol = scard.SCardConnect(
                context, reader_name, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
            _check(scard, hresult, f"connect to {reader_name}")
            return card, protocol

        try:
            self._card, self._protocol = self._worker.exchange(connect, timeout)
        except CardError:
            self._worker.stop()
            raise

    def _exchange(self, apdu: bytes) -> bytes:
        hresult, response = self._scard.SCardTransmit(self._card, self._protocol, list(apdu))
        _check(self._scard, hresult, "transmit")
        return bytes(response)

    def close(self) -> None:
        # Resetting on the way out drops any PIN state another program could use.
        if not self._worker.stuck:
            try:
                self._worker.exchange(lambda: self._scard.SCardDisconnect(self._card, self._scard.SCARD_RESET_CARD),
                                      self.timeout)
            except CardError:
                pass
        super().close()


class PcscReaders:
    """The PC/SC readers (through pcscd), optionally narrowed to one by name."""

    def __init__(self, reader_name: str | None = None, timeout: float = TRANSMIT_TIMEOUT) -> None:
        self.scard = _scard()
        self.reader_name = reader_name
        self.timeout = timeout
        hresult, self.context = self.scard.SCardEstablishContext(self.scard.SCARD_SCOPE_USER)
        _check(self.scard, hresult, "connect to pcscd")

    def readers(self) -> list[str]:
        hresult, readers = self.scard.SCardListReaders(self.context, [])
        if hresult == self.scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        _check(self.scard, hresult, "list readers")
        return _pick_reader(list(readers), self.reader_name)

    def with_card(self) -> list[str]:
        """The matching readers that hold a card now."""
        readers = self.readers()
        if not readers:
            return []
        hresult, states = self.scard.SCardGetStatusChange(
            self.context, 0, [(r, self.scard.SCARD_STATE_UNAWARE) for r in readers])
        _check(self.scard, hresult, "reader status")
        return [r for r, event, _atr in states if event & self.scard.SCARD_STATE_PRESENT]

    def open(self, reader: str | None = None) -> PcscTransport:
        """Connect to the card in `reader`, else in the first matching reader holding one."""
        if reader is None:
            if not self.readers():
                raise ReaderUnavailable(f"no PC/SC reader{f' named {self.reader_name!r}' if self.reader_name else ''}")
            present = self.with_card()
            if not present:
                raise CardRemoved("no card in the reader")
            reader = present[0]
        return PcscTransport(self.scard, self.context, reader, self.timeout)

    def close(self) -> None:
        self.scard.SCardReleaseContext(self.context)


class PcscMonitor:
    """Calls on_insert / on_remove (reader name) from its own thread as cards come and go."""

    POLL_MS = 500

    def __init__(self, on_insert: Callback, on_remove: Callback, reader_name: str | None = None) -> None:
        self.scard = _scard()
        self.on_insert, self.on_remove, self.reader_name = on_insert, on_remove, reader_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        hresult, self.context = self.scard.SCardEstablishContext(self.scard.SCARD_SCOPE_USER)
        _check(self.scard, hresult, "connect to pcscd")

    def start(self) -> PcscMonitor:
        self._thread = threading.Thread(target=self._loop, name="card-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.scard.SCardCancel(self.context)
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self.scard.SCardReleaseContext(self.context)

    def _reconnect(self) -> None:
        """pcscd went away (restarted): the old context is dead, make a new one once it is back."""
        self.scard.SCardReleaseContext(self.context)
        hresult, context = self.scard.SCardEstablishContext(self.scard.SCARD_SCOPE_USER)
        if hresult == self.scard.SCARD_S_SUCCESS:
            self.context = context

    def _loop(self) -> None:
        scard = self.scard
        present: dict[str, bool] = {}
        known: dict[str, int] = {}
        while not self._stop.is_set():
            hresult, readers = scard.SCardListReaders(self.context, [])
            if hresult in (scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_INVALID_HANDLE):
                self._reconnect()
            readers = _pick_reader(list(readers), self.reader_name) if hresult == scard.SCARD_S_SUCCESS else []
            for gone in set(present) - set(readers):
                if present.pop(gone):
                    self._call(self.on_remove, gone)
                known.pop(gone, None)
            states = [(r, known.get(r, scard.SCARD_STATE_UNAWARE)) for r in readers]
            states.append((PNP_NOTIFICATION, scard.SCARD_STATE_UNAWARE))
            hresult, changed = scard.SCardGetStatusChange(self.context, self.POLL_MS, states)
            if hresult == scard.SCARD_E_CANCELLED or self._stop.is_set():
                return
            if hresult != scard.SCARD_S_SUCCESS:
                if hresult != scard.SCARD_E_TIMEOUT:
                    self._stop.wait(self.POLL_MS / 1000)
                continue
            for reader, event, _atr in changed:
                if reader == PNP_NOTIFICATION:
                    continue
                known[reader] = event & ~scard.SCARD_STATE_CHANGED
                now = bool(event & scard.SCARD_STATE_PRESENT) and not event & scard.SCARD_STATE_MUTE
                if now != present.get(reader, False):
                    present[reader] = now
                    self._call(self.on_insert if now else self.on_remove, reader)

    @staticmethod
    def _call(callback: Callback, reader: str) -> None:
        try:
            callback(reader)
        except Exception:
            log.exception("card event handler failed")


# ---- in process (the virtual card without pcscd) ------------------------------------

class CardLike(Protocol):
    atr: bytes

    def process(self, apdu: bytes) -> bytes: ...
    def reset(self) -> None: ...


class CardPulled(Exception):
    """Raised by an in-process card to leave the reader in the middle of a command."""


class InProcessReader:
    """A reader in this process: insert() and remove() a card object; events go to monitors."""

    def __init__(self, name: str = "In-process reader 00") -> None:
        self.name = name
        self.card: CardLike | None = None
        self.insertions = 0  # tells one insertion of a card from the next
        self._monitors: list[InProcessMonitor] = []
        self._lock = threading.Lock()

    def insert(self, card: CardLike) -> None:
        with self._lock:
            card.reset()
            self.card = card
            self.insertions += 1
        for m in list(self._monitors):
            m.notify(True, self.name)

    def remove(self, insertion: int | None = None) -> None:
        """Take the card out (only if it is still `insertion`, when given)."""
        with self._lock:
            if insertion is not None and insertion != self.insertions:
                return
            had, self.card = self.card, None
        if had is not None:
            for m in list(self._monitors):
                m.notify(False, self.name)

    def open(self, timeout: float = TRANSMIT_TIMEOUT) -> InProcessTransport:
        if self.card is None:
            raise CardRemoved("no card in the reader")
        return InProcessTransport(self, self.card, timeout)

    def monitor(self, on_insert: Callback, on_remove: Callback) -> InProcessMonitor:
        return InProcessMonitor(self, on_insert, on_remove)


class InProcessTransport(Transport):
    def __init__(self, reader: InProcessReader, card: CardLike, timeout: float) -> None:
        self._reader, self._card, self._insertion = reader, card, reader.insertions
        super().__init__(reader.name, timeout)

    def _exchange(self, apdu: bytes) -> bytes:
        if self._reader.card is None or self._reader.insertions != self._insertion:
            raise CardRemoved("the card was removed")
        try:
            return self._card.process(apdu)
        except CardPulled:
            self._reader.remove(self._insertion)
            raise CardRemoved("the card was removed during a command") from None


class InProcessMonitor:
    def __init__(self, reader: InProcessReader, on_insert: Callback, on_remove: Callback) -> None:
        self.reader, self.on_insert, self.on_remove = reader, on_insert, on_remove

    def start(self) -> InProcessMonitor:
        self.reader._monitors.append(self)
        if self.reader.card is not None:
            self.notify(True, self.reader.name)
        return self

    def stop(self) -> None:
        if self in self.reader._monitors:
            self.reader._monitors.remove(self)

    def notify(self, inserted: bool, name: str) -> None:
        PcscMonitor._call(self.on_insert if inserted else self.on_remove, name)
