"""Entry points for `madoguchi demo` and `madoguchi tui` (madoguchi/cli.py calls these)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from edge import store
from edge.config import Config
from tui.app import DeskApp
from tui.service import DeskService

log = logging.getLogger(__name__)


def log_to_file(path: Path) -> None:
    """Textual draws on the terminal: while it runs, logs go to a file instead of stderr."""
    root = logging.getLogger()
    level = root.level
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)


def run_demo_desk(patients: int = 1000, seed: int = 1) -> int:
    from tui.demo import demo_app

    with tempfile.TemporaryDirectory(prefix="madoguchi-demo-") as tmp:
        log_to_file(Path(tmp) / "desk.log")
        demo_app(Path(tmp) / "data", patients=patients, seed=seed).run()
    return 0


def desk_settings(config: Config) -> dict:
    """The [desk] section: staff_pin (maintenance exit), keymap (binding id = key)."""
    section = config.raw.get("desk", {})
    return {"staff_pin": str(section.get("staff_pin", "")), "keymap": dict(section.get("keymap", {}))}


def run_desk(config: Config) -> int:
    """The production desk on the configured data directory (raises store.StoreMissing, ConfigError).

    The card reader comes through pcscd ([card] reader names one; without pcscd or pyscard the
    status bar says エラー and the desk works with documents); a USB-COM scanner is read when
    [scanner] serial_port is set.
    """
    from edge.card import CardError, load_trust_anchors, trust_anchor_dirs
    from edge.qr.scanners import ScannerSettings, SerialScanner
    from tui import messages
    from tui.cards import pcsc_port

    conn = store.open_database(config.data_dir)
    log_to_file(config.data_dir / "desk.log")
    settings = desk_settings(config)
    scanner_settings = ScannerSettings.from_config(config.raw)
    service = DeskService(conn, config.policy)
    try:
        port = pcsc_port(load_trust_anchors(*trust_anchor_dirs(config)), config.raw.get("card", {}).get("reader"))
    except CardError as exc:
        log.warning("no card reader: %s", exc)
        port = None
    app = DeskApp(service, staff_pin=settings["staff_pin"], keymap=settings["keymap"],
                  scan_codes=scanner_settings.codes, card_port=port)
    if port is None:
        service.reader_state = "error"
    scanner = None
    if scanner_settings.serial_port:
        scanner = SerialScanner.from_settings(scanner_settings, lambda payload: app.post_message(
            messages.ScanReceived(payload)))
        scanner.start()
    try:
        app.run()
    finally:
        if scanner is not None:
            scanner.stop()
    return 0
