"""The scanners: USB-COM serial (raw bytes), keyboard-wedge burst detection, configuration.

USB-COM (serial) mode is the recommended set-up: Shift_JIS and UTF-8 payloads arrive as raw
bytes. Configure the scanner to join split (structured-append) symbols itself and to add no
suffix: a frame ends when the line stays silent for `frame_gap_ms` (a JAHIS payload holds CR LF,
so a CR cannot end a frame). Keyboard-wedge mode cannot carry kanji and depends on the keyboard
layout: `WedgeDetector` only tells a scan (a fast burst ending in Enter) from human typing.

A missing or unplugged scanner is a status (`ScannerStatus`), never an exception.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from madoguchi.edge.config import ConfigError
from madoguchi.edge.qr.codes import DEFAULT_PATIENT_CARD_PATTERN, DEFAULT_PORTAL_HOSTS, CodeSettings
from madoguchi.edge.qr.split import DEFAULT_TIMEOUT_SECONDS

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024  # far above 16 full QR symbols (about 47 KB)


@dataclass(frozen=True)
class ScannerSettings:
    """The `[scanner]` section of the configuration (see edge/config.py)."""

    serial_port: str = ""  # e.g. /dev/serial/by-id/usb-...; empty: no serial scanner
    baudrate: int = 9600
    frame_gap_ms: int = 100
    camera_device: str = ""  # e.g. /dev/video0; empty: no camera
    split_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    codes: CodeSettings = CodeSettings()

    @classmethod
    def from_config(cls, raw: dict) -> ScannerSettings:
        section = raw.get("scanner", {})
        try:
            settings = cls(
                serial_port=str(section.get("serial_port", "")),
                baudrate=int(section.get("baudrate", 9600)),
                frame_gap_ms=int(section.get("frame_gap_ms", 100)),
                camera_device=str(section.get("camera_device", "")),
                split_timeout_seconds=float(section.get("split_timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
                codes=CodeSettings(
                    patient_card_pattern=str(section.get("patient_card_pattern", DEFAULT_PATIENT_CARD_PATTERN)),
                    portal_hosts=tuple(str(h).lower() for h in section.get("portal_hosts", DEFAULT_PORTAL_HOSTS)),
                ),
            )
            re.compile(settings.codes.patient_card_pattern)
        except (TypeError, ValueError, re.error) as exc:
            raise ConfigError(f"bad [scanner] value: {exc}") from None
        if settings.baudrate <= 0 or settings.frame_gap_ms <= 0 or settings.split_timeout_seconds <= 0:
            raise ConfigError("[scanner] baudrate, frame_gap_ms and split_timeout_seconds must be positive")
        return settings


class ScannerState(str, Enum):
    NOT_CONFIGURED = "not_configured"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # missing or unplugged: retried


@dataclass(frozen=True)
class ScannerStatus:
    device: str
    state: ScannerState
    message_ja: str

    @property
    def ready(self) -> bool:
        return self.state == ScannerState.CONNECTED


class SerialScanner:
    """Reads frames from a USB-COM scanner in a background thread.

    `on_payload(bytes)` gets each frame (called from the reader thread: post it to the UI, do
    not block); `on_status(ScannerStatus)` gets every change of state. The port is reopened
    every `retry_seconds` while it is missing.
    """

    def __init__(self, port: str, on_payload: Callable[[bytes], None],
                 on_status: Callable[[ScannerStatus], None] = lambda status: None,
                 baudrate: int = 9600, frame_gap: float = 0.1, retry_seconds: float = 2.0) -> None:
        self.port = port
        self.on_payload = on_payload
        self.on_status = on_status
        self.baudrate = baudrate
        self.frame_gap = frame_gap
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._announced = False
        self.status = (ScannerStatus(port, ScannerState.DISCONNECTED, "スキャナ：未接続") if port else
                       ScannerStatus(port, ScannerState.NOT_CONFIGURED, "スキャナ：設定なし"))

    @classmethod
    def from_settings(cls, settings: ScannerSettings, on_payload: Callable[[bytes], None],
                      on_status: Callable[[ScannerStatus], None] = lambda status: None) -> SerialScanner:
        return cls(settings.serial_port, on_payload, on_status, settings.baudrate, settings.frame_gap_ms / 1000)

    def start(self) -> None:
        """Start reading (nothing to do when no port is configured)."""
        if not self.port:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="serial-scanner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _set_status(self, state: ScannerState, message_ja: str) -> None:
        if state == self.status.state and self._announced:
            return
        self._announced = True
        self.status = ScannerStatus(self.port, state, message_ja)
        log.info("serial scanner %s: %s", self.port, state.value)
        try:
            self.on_status(self.status)
        except Exception as exc:
            log.error("scanner status callback failed: %s", type(exc).__name__)

    def _run(self) -> None:
        import serial

        while not self._stop.is_set():
            try:
                port = serial.Serial(self.port, self.baudrate, timeout=self.frame_gap)
            except (serial.SerialException, OSError, ValueError):
                self._set_status(ScannerState.DISCONNECTED,
                                 f"スキャナが見つかりません（{Path(self.port).name}）。USBケーブルを確認してください")
                self._stop.wait(self.retry_seconds)
                continue
            self._set_status(ScannerState.CONNECTED, "スキャナ：接続中")
            try:
                self._read_frames(port)
            except (serial.SerialException, OSError):
                self._set_status(ScannerState.DISCONNECTED, "スキャナが外れました。USBケーブルを確認してください")
            finally:
                port.close()

    def _read_frames(self, port) -> None:
        frame = bytearray()
        while not self._stop.is_set():
            chunk = port.read(port.in_waiting or 1)  # returns b"" after `frame_gap` of silence
            if chunk:
                frame += chunk
                if len(frame) <= MAX_FRAME_BYTES:
                    continue
                log.warning("serial scanner frame over %d bytes dropped", MAX_FRAME_BYTES)
            elif frame and len(frame) <= MAX_FRAME_BYTES:
                self._deliver(bytes(frame))
            _wipe(frame)

    def _deliver(self, payload: bytes) -> None:
        try:
            self.on_payload(payload)
        except Exception as exc:  # the reader thread must survive a bad consumer
            log.error("scanner payload callback failed: %s", type(exc).__name__)


def _wipe(buffer: bytearray) -> None:
    """Overwrite then empty a buffer that held scanned bytes (a My Number must not linger)."""
    buffer[:] = bytes(len(buffer))
    buffer.clear()


def device_status(device: str, label_ja: str) -> ScannerStatus:
    """Status of a configured device path without opening it (for the status bar)."""
    if not device:
        return ScannerStatus(device, ScannerState.NOT_CONFIGURED, f"{label_ja}：設定なし")
    if not Path(device).exists():
        return ScannerStatus(device, ScannerState.DISCONNECTED, f"{label_ja}が見つかりません（{device}）")
    return ScannerStatus(device, ScannerState.CONNECTED, f"{label_ja}：接続中")


# ---- keyboard wedge ---------------------------------------------------------------

ENTER = "\r"
WEDGE_MIN_CHARS = 6
WEDGE_MAX_AVERAGE_GAP = 0.020
WEDGE_MAX_GAP = 0.080


@dataclass(frozen=True)
class WedgeEvent:
    """`scan`: text a scanner typed (lines joined with CR LF, without the final Enter);
    `typed`: characters a person typed, to hand back to the focused input as they were."""

    kind: str  # "scan" or "typed"
    text: str

    def __repr__(self) -> str:
        return f"WedgeEvent({self.kind}, <{len(self.text)} chars>)"


class WedgeDetector:
    """Tells a keyboard-wedge scan from human typing.

    A scan: at least 6 characters, an average gap of at most 20 ms, no gap over 80 ms, then
    Enter. A scan of a multi-line code (JAHIS) types Enter between lines: the burst continues
    when the next character follows within 80 ms. Feed every key as `feed(char, timestamp)`
    (Enter as "\\r" or "\\n"); call `poll(now)` from a timer (e.g. every 50 ms) to end a burst.
    Timestamps are monotonic seconds.
    """

    def __init__(self) -> None:
        self._chars: list[str] = []
        self._times: list[float] = []

    def feed(self, char: str, at: float) -> list[WedgeEvent]:
        events = self.poll(at)
        self._chars.append(ENTER if char in ("\r", "\n") else char)
        self._times.append(at)
        return events

    def poll(self, now: float) -> list[WedgeEvent]:
        """Resolve the pending characters once nothing has followed for more than 80 ms."""
        if not self._chars or now - self._times[-1] <= WEDGE_MAX_GAP:
            return []
        chars, times = self._chars, self._times
        self._chars, self._times = [], []
        if self._is_scan(chars, times):
            text = "".join(chars[:-1]).replace(ENTER, "\r\n")
            return [WedgeEvent("scan", text)]
        return [WedgeEvent("typed", "".join(chars).replace(ENTER, "\n"))]

    @staticmethod
    def _is_scan(chars: list[str], times: list[float]) -> bool:
        if chars[-1] != ENTER or sum(c != ENTER for c in chars) < WEDGE_MIN_CHARS:
            return False
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        return max(gaps) <= WEDGE_MAX_GAP and sum(gaps) / len(gaps) <= WEDGE_MAX_AVERAGE_GAP

