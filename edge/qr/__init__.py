"""Scan fallback: the codes a patient carries, and the scanners that read them (docs/domain.md §7).

For the desk UI: `classify(payload, source) -> ScanResult` (kind, parsed fields, warnings,
a Japanese message), `check_request(result)` for a scan that identifies a patient,
`SplitJoiner` for split symbols, `WedgeDetector` for keyboard-mode scanners fed
(char, timestamp), `SerialScanner` for USB-COM scanners, and `ScannerSettings.from_config`.
"""

from madoguchi.edge.qr.codes import CodeSettings, ScanKind, ScanResult, ScanSource, check_request, classify
from madoguchi.edge.qr.jahis import JahisError, PrescriptionData, ScanError, parse_jahis
from madoguchi.edge.qr.scanners import (
    ScannerSettings,
    ScannerState,
    ScannerStatus,
    SerialScanner,
    WedgeDetector,
    WedgeEvent,
    device_status,
)
from madoguchi.edge.qr.split import SplitError, SplitJoiner, SymbolPart

__all__ = [
    "CodeSettings", "JahisError", "PrescriptionData", "ScanError", "ScanKind", "ScanResult", "ScanSource",
    "ScannerSettings", "ScannerState", "ScannerStatus", "SerialScanner", "SplitError", "SplitJoiner",
    "SymbolPart", "WedgeDetector", "WedgeEvent", "check_request", "classify", "device_status", "parse_jahis",
]
