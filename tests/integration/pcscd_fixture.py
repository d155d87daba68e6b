"""The real PC/SC stack for tests: pcscd in the foreground (started and stopped here, by pid) with
vsmartcard-vpcd's reader, and virtual My Number Cards plugged into it.

pcscd's /run/pcscd and vpcd's port are global: one test run per machine. Never `-a` here: it
logs APDUs, PINs included. Without pcscd/vpcd (or root) the tests skip locally but fail in CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from madoguchi.edge.card.transport import PcscReaders
from madoguchi.sim import vcard as virtual
from madoguchi.sim.vpcd import VpcdCard

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
RUN_DIR = Path("/run/pcscd")
PID_FILE = RUN_DIR / "pcscd.pid"
SOCKET = RUN_DIR / "pcscd.comm"
VPCD_PORTS = (35963, 35964)
READER = "Virtual PCD 00 00"
SECOND_READER = "Virtual PCD 00 01"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the PC/SC test stack is missing in CI: {reason} (run scripts/bootstrap test as root)")
    pytest.skip(reason)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _clean_stale_files() -> None:
    if PID_FILE.exists():
        try:
            pid = int(PID_FILE.read_text().strip() or 0)
        except ValueError:
            pid = 0
        if pid and _alive(pid):
            pytest.fail(f"another pcscd (pid {pid}) is running: stop it before the card tests")
        PID_FILE.unlink(missing_ok=True)
    SOCKET.unlink(missing_ok=True)


def _wait_for_free_ports(timeout: float = 10.0) -> None:
    """A pcscd still shutting down keeps vpcd's ports: the new pcscd would start without its readers."""
    deadline = time.monotonic() + timeout
    for port in VPCD_PORTS:
        while True:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as vpcd binds
                try:
                    probe.bind(("", port))
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"port {port} stays busy: is another vpcd user running?")
            time.sleep(0.5)


class Pcscd:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        _clean_stale_files()
        _wait_for_free_ports()
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(["pcscd", "-f"], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"pcscd exited ({self.process.returncode}): {self.log_path.read_text(errors='replace')}")
            if SOCKET.exists():
                try:
                    readers = PcscReaders()
                    try:
                        if READER in readers.readers():
                            return
                    finally:
                        readers.close()
                except Exception:
                    pass
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"pcscd did not offer {READER!r} within 15 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory) -> Iterator[Pcscd]:
    """pcscd -f with the vpcd reader, for the whole session."""
    if not shutil.which("pcscd"):
        _unavailable("pcscd is not installed")
    if not VPCD_DRIVER.exists():
        _unavailable("vsmartcard-vpcd is not installed")
    if os.geteuid() != 0:
        _unavailable("pcscd must be started as root")
    try:
        import smartcard  # noqa: F401
    except ImportError:
        _unavailable("pyscard is not installed (extra `reader`)")
    daemon = Pcscd(tmp_path_factory.mktemp("pcscd") / "pcscd.log")
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def card_ca() -> virtual.TestCA:
    return virtual.make_test_ca()


def reader_state(reader: str) -> tuple[bool, int]:
    """(a card is present, pcscd's event counter for the reader)."""
    readers = PcscReaders(reader)
    try:
        scard = readers.scard
        hresult, states = scard.SCardGetStatusChange(readers.context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        event = states[0][1]
        return bool(event & scard.SCARD_STATE_PRESENT), event >> 16
    finally:
        readers.close()


def wait_for_card(present: bool, reader: str = READER, after: int = -1, timeout: float = 5.0) -> int:
    """Wait until pcscd reports the card present (or removed) with an event counter above `after`:
    right after a removal mid-command the reader already looks empty before pcscd has polled it,
    and a card plugged in before that poll would go unnoticed."""
    deadline = time.monotonic() + timeout
    while True:
        now, count = reader_state(reader)
        if now == present and count > after:
            return count
        if time.monotonic() > deadline:
            raise AssertionError(f"the card was not {'inserted' if present else 'removed'} within {timeout} s")
        time.sleep(0.02)


def reader_for(port: int) -> str:
    return READER if port == VPCD_PORTS[0] else SECOND_READER


class InsertedCards:
    """Virtual cards plugged into vpcd's readers; every one is pulled out at the end of the test."""

    def __init__(self) -> None:
        self.plugged: list[VpcdCard] = []
        self.seen: dict[str, tuple[bool, int]] = {}  # reader → (card present, pcscd's event count) last seen

    def _wait(self, reader: str, present: bool) -> None:
        last = self.seen.get(reader, (not present, -1))[1]
        self.seen[reader] = (present, wait_for_card(present, reader, last))

    def insert(self, card: virtual.VirtualJpkiCard, port: int = VPCD_PORTS[0], wait: bool = True) -> VpcdCard:
        reader = reader_for(port)
        if self.seen.get(reader, (False, -1))[0]:
            self._wait(reader, False)  # the last card (perhaps gone mid-command) must be seen gone first
        plug = VpcdCard(card, port=port).insert()
        self.plugged.append(plug)
        if wait:
            self._wait(reader, True)
        return plug

    def remove(self, plug: VpcdCard, wait: bool = True) -> None:
        plug.card.release()  # a card hanging in a command leaves at once
        plug.remove()
        if wait:
            self._wait(reader_for(plug.port), False)

    def remove_all(self) -> None:
        for plug in self.plugged:
            plug.card.release()
            plug.remove()
        for reader, (present, _) in list(self.seen.items()):
            if present:
                self._wait(reader, False)


@pytest.fixture
def inserted(pcscd) -> Iterator[InsertedCards]:
    cards = InsertedCards()
    yield cards
    cards.remove_all()
