"""The entry point of `madoguchi tui` (the demo desk is madoguchi.sim.desk.run_demo_desk)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from madoguchi.edge import store
from madoguchi.edge.config import Config
from madoguchi.edge.verdict import OnlineSource
from madoguchi.tui.app import DeskApp
from madoguchi.tui.service import DeskService

log = logging.getLogger(__name__)

# (data directory, open store) -> the online source, or None when the device is not enrolled
LiveSourceFactory = Callable[[Path, sqlite3.Connection], OnlineSource | None]


def log_to_file(path: Path) -> None:
    """Textual draws on the terminal: while it runs, logs go to a file instead of stderr."""
    root = logging.getLogger()
    level = root.level
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))  # the desk's own lines (checks, card, network) are INFO


def exit_status(app: DeskApp) -> int:
    """The process's exit status once `app.run()` has returned: Textual returns from `run()`
    after an unhandled exception too (return code 1), and a crashed desk must exit non-zero so
    that systemd logs it and restarts it."""
    if app.return_code is None:  # run() ended without exit(): not a normal end either
        log.error("the desk stopped without exiting")
        return 1
    if app.return_code != 0:
        log.error("the desk crashed (exit status %d)", app.return_code, exc_info=app._exception)
    return app.return_code


def desk_settings(config: Config) -> dict:
    """The [desk] section: staff_pin (maintenance exit), keymap (binding id = key)."""
    section = config.raw.get("desk", {})
    return {"staff_pin": str(section.get("staff_pin", "")), "keymap": dict(section.get("keymap", {}))}


def open_or_create(data_dir: Path) -> sqlite3.Connection:
    """The store, created empty on a fresh install (before the first sync): the desk starts and
    says there is no data rather than failing. A database that exists but cannot be opened
    (store.StoreLocked: encrypted, no or a wrong key) is still an error."""
    try:
        return store.open_database(data_dir)
    except store.StoreLocked:
        raise
    except store.StoreMissing:
        log.warning("no database in %s yet: starting on an empty one until the first sync", data_dir)
        return store.open_database(store.secure_dir(data_dir), create=True)


def run_desk(config: Config, live_source: LiveSourceFactory | None = None) -> int:
    """The production desk on the configured data directory (raises store.StoreLocked, ConfigError).

    The card reader comes through pcscd ([card] reader names one; without pcscd or pyscard the
    status bar says エラー and the desk works with documents); a USB-COM scanner is read when
    [scanner] serial_port is set. `live_source(data_dir, conn)` gives the online source when the
    device is enrolled with a hub (None: every verdict comes from the cache).
    """
    from madoguchi.edge.card import CardError, load_trust_anchors, trust_anchor_dirs
    from madoguchi.edge.qr.scanners import ScannerSettings, SerialScanner
    from madoguchi.tui import messages
    from madoguchi.tui.cards import pcsc_port

    conn = open_or_create(config.data_dir)
    log_to_file(config.data_dir / "desk.log")
    settings = desk_settings(config)
    scanner_settings = ScannerSettings.from_config(config.raw)
    online = live_source(config.data_dir, conn) if live_source else None
    service = DeskService(conn, config.policy, online)
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
        def scanned(payload: bytes) -> None:  # from the scanner's thread
            app.post_message(messages.ScanReceived(payload))

        scanner = SerialScanner.from_settings(scanner_settings, scanned)
        scanner.start()
    try:
        app.run()
    finally:
        if scanner is not None:
            scanner.stop()
    return exit_status(app)
