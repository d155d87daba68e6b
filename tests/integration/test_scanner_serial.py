"""A USB-COM scanner simulated with a pseudo-terminal: Shift_JIS frames through the real pyserial
path, a missing port and an unplugged scanner as statuses."""

from __future__ import annotations

import os
import queue
import time
from datetime import date

import pytest
from madoguchi.edge.qr import ScanKind, ScannerSettings, ScannerState, SerialScanner, classify
from madoguchi.edge.qr.jahis import build_jahis
from madoguchi.sim.documents import SAMPLE_PERSON, prescription_from_person

FRAME_GAP = 0.05
JAHIS = build_jahis(prescription_from_person({**SAMPLE_PERSON, "name": "髙橋　葵"}), 10, eof=True)


class Pty:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def pty():
    device = Pty()
    yield device
    device.close()


@pytest.fixture
def scanner_on(pty):
    payloads: queue.Queue = queue.Queue()
    statuses: queue.Queue = queue.Queue()
    scanner = SerialScanner(pty.path, payloads.put, statuses.put, frame_gap=FRAME_GAP, retry_seconds=0.1)
    scanner.start()
    assert statuses.get(timeout=5).state == ScannerState.CONNECTED
    yield pty, scanner, payloads, statuses
    scanner.stop()


def send(pty: Pty, data: bytes, chunk: int = 7, pause: float = 0.002) -> None:
    """Write like a scanner on a slow line: small chunks, gaps well under the frame gap."""
    for i in range(0, len(data), chunk):
        os.write(pty.master, data[i:i + chunk])
        time.sleep(pause)


def test_a_shift_jis_jahis_frame_arrives_intact(scanner_on):
    pty, _, payloads, _ = scanner_on
    send(pty, JAHIS)
    payload = payloads.get(timeout=5)
    assert payload == JAHIS
    result = classify(payload, today=date(2026, 11, 16))
    assert result.kind == ScanKind.PRESCRIPTION and result.prescription.name == "髙橋　葵"


def test_frames_are_separated_by_silence(scanner_on):
    pty, _, payloads, _ = scanner_on
    send(pty, b"00012345")
    time.sleep(FRAME_GAP * 4)
    send(pty, "01130012,1234567,89,00,19800401,1".encode("utf-8"))
    assert payloads.get(timeout=5) == b"00012345"
    assert payloads.get(timeout=5).startswith(b"01130012,")
    assert payloads.empty()


def test_an_unplugged_scanner_is_a_status(scanner_on):
    pty, scanner, _, statuses = scanner_on
    pty.close()  # the device goes away
    status = statuses.get(timeout=5)
    assert status.state == ScannerState.DISCONNECTED and "スキャナ" in status.message_ja
    assert scanner.status.state == ScannerState.DISCONNECTED


def test_a_missing_port_is_a_status_and_is_retried(tmp_path):
    statuses: queue.Queue = queue.Queue()
    settings = ScannerSettings(serial_port=str(tmp_path / "ttyACM9"), frame_gap_ms=50)
    scanner = SerialScanner.from_settings(settings, lambda payload: None, statuses.put)
    scanner.retry_seconds = 0.05
    scanner.start()
    try:
        status = statuses.get(timeout=5)
        assert status.state == ScannerState.DISCONNECTED and "見つかりません" in status.message_ja
        time.sleep(0.2)
        assert statuses.empty()  # retried quietly: one status per change
    finally:
        scanner.stop()


def test_a_failing_consumer_does_not_stop_the_reader(scanner_on):
    pty, scanner, payloads, _ = scanner_on
    calls = []

    def flaky(payload: bytes) -> None:
        calls.append(payload)
        if len(calls) == 1:
            raise RuntimeError("consumer bug")
        payloads.put(payload)

    scanner.on_payload = flaky
    send(pty, b"00000001")
    time.sleep(FRAME_GAP * 4)
    send(pty, b"00000002")
    assert payloads.get(timeout=5) == b"00000002"
