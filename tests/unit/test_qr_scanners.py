"""Keyboard-wedge burst detection and scanner configuration."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from madoguchi.edge.config import ConfigError
from madoguchi.edge.qr import (
    ScanKind,
    ScannerSettings,
    ScannerState,
    ScanSource,
    SerialScanner,
    WedgeDetector,
    classify,
    device_status,
)


def type_keys(detector: WedgeDetector, keys: str, start: float, gaps) -> tuple[list, float]:
    events, t = [], start
    for i, key in enumerate(keys):
        if i:
            t += gaps(i)
        events += detector.feed(key, t)
    return events, t


def finish(detector: WedgeDetector, t: float) -> list:
    return detector.poll(t + 0.2)


def test_a_fast_burst_ending_in_enter_is_a_scan():
    d = WedgeDetector()
    events, t = type_keys(d, "00012345\r", 10.0, lambda i: 0.008)
    assert events == []
    (event,) = finish(d, t)
    assert (event.kind, event.text) == ("scan", "00012345")
    assert classify(event.text, ScanSource.WEDGE).patient_id == "00012345"


def test_human_typing_is_handed_back_as_typed():
    d = WedgeDetector()
    events, t = type_keys(d, "12345678\r", 0.0, lambda i: 0.15)
    events += finish(d, t)
    assert all(e.kind == "typed" for e in events)
    assert "".join(e.text for e in events) == "12345678\n"


@pytest.mark.parametrize("keys, gaps, expected", [
    ("12345\r", lambda i: 0.005, "typed"),  # fewer than 6 characters
    ("1234567890\r", lambda i: 0.025, "typed"),  # average gap over 20 ms
    ("1234567890\r", lambda i: 0.079 if i == 5 else 0.005, "scan"),  # one slow gap under 80 ms is fine
    ("1234567890", lambda i: 0.005, "typed"),  # no Enter
])
def test_burst_rules(keys, gaps, expected):
    d = WedgeDetector()
    events, t = type_keys(d, keys, 0.0, gaps)
    events += finish(d, t)
    assert [e.kind for e in events] == [expected]


def test_a_gap_over_80_ms_splits_the_burst():
    d = WedgeDetector()
    events, t = type_keys(d, "1234567890\r", 0.0, lambda i: 0.09 if i == 5 else 0.005)
    events += finish(d, t)
    assert [e.kind for e in events] == ["typed", "typed"]


def test_a_multi_line_jahis_scan_stays_one_scan():
    code = "JAHIS10\r22,01130012\r23,1234567,89,1,00\r13,19800401\r"
    d = WedgeDetector()
    events, t = type_keys(d, code, 0.0, lambda i: 0.004)
    (event,) = events + finish(d, t)
    assert event.kind == "scan" and event.text == "JAHIS10\r\n22,01130012\r\n23,1234567,89,1,00\r\n13,19800401"
    result = classify(event.text, ScanSource.WEDGE)
    assert result.kind == ScanKind.PRESCRIPTION and "文字化け" in result.message_ja


def test_typing_then_a_scan():
    d = WedgeDetector()
    events, t = type_keys(d, "ab", 0.0, lambda i: 0.2)
    more, t = type_keys(d, "00012345\r", t + 0.3, lambda i: 0.006)
    events += more + finish(d, t)
    assert [(e.kind, e.text) for e in events] == [("typed", "a"), ("typed", "b"), ("scan", "00012345")]


def test_event_repr_hides_the_text():
    d = WedgeDetector()
    _, t = type_keys(d, "983205673214\r", 0.0, lambda i: 0.005)
    (event,) = finish(d, t)
    assert "983205673214" not in repr(event)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("0123456789aZ\r\n"), st.floats(0, 0.3)), max_size=60))
def test_fuzz_no_key_is_lost(keys):
    d, t, events = WedgeDetector(), 0.0, []
    for key, gap in keys:
        t += gap
        events += d.feed(key, t)
    events += d.poll(t + 1.0)
    typed = "".join(k for k, _ in keys).replace("\r", "\n")
    rebuilt = "".join(e.text + "\n" if e.kind == "scan" else e.text for e in events)
    assert rebuilt.replace("\r\n", "\n") == typed


def test_settings_from_config():
    s = ScannerSettings.from_config({"scanner": {"serial_port": "/dev/ttyACM0", "baudrate": 115200,
                                                 "patient_card_pattern": "P([0-9]+)", "portal_hosts": ["A.jp"]}})
    assert (s.serial_port, s.baudrate, s.codes.patient_card_pattern, s.codes.portal_hosts) == (
        "/dev/ttyACM0", 115200, "P([0-9]+)", ("a.jp",))
    assert ScannerSettings.from_config({}) == ScannerSettings()


@pytest.mark.parametrize("section", [{"baudrate": "fast"}, {"frame_gap_ms": 0}, {"patient_card_pattern": "("}])
def test_bad_scanner_settings_are_a_config_error(section):
    with pytest.raises(ConfigError, match="scanner"):
        ScannerSettings.from_config({"scanner": section})


def test_device_status_is_a_status_not_an_error(tmp_path):
    assert device_status("", "カメラ").state == ScannerState.NOT_CONFIGURED
    missing = device_status(str(tmp_path / "video9"), "カメラ")
    assert missing.state == ScannerState.DISCONNECTED and "見つかりません" in missing.message_ja
    (tmp_path / "video0").touch()
    assert device_status(str(tmp_path / "video0"), "カメラ").ready


def test_an_unconfigured_serial_scanner_only_reports_its_status():
    scanner = SerialScanner.from_settings(ScannerSettings(), lambda payload: None)
    scanner.start()
    assert scanner.status.state == ScannerState.NOT_CONFIGURED and scanner._thread is None
    scanner.stop()
