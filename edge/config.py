"""Configuration: where data lives and the policy values of the verdict.

Read from a TOML file: `$MADOGUCHI_CONFIG`, else `/etc/madoguchi/config.toml` if it exists.
Every value has a documented default, so the demo and the tests need no file::

    data_dir = "/var/lib/madoguchi"     # else $MADOGUCHI_DATA_DIR, else ~/.local/share/madoguchi

    [policy]
    cache_max_age_hours = 72    # cached data older than this is never `ok`, only `confirm`
    online_budget_seconds = 1.5 # how long the desk waits for the hub before using the cache

    (公費 rules: the embedded defaults and <data_dir>/fund_rules.csv, edge.funds; `madoguchi funds show`)

    [scanner]                   # read by edge.qr.ScannerSettings.from_config; every key optional
    serial_port = ""            # USB-COM scanner, e.g. "/dev/serial/by-id/usb-..."; "" = none
    baudrate = 9600
    frame_gap_ms = 100          # silence that ends one scan on the serial line
    camera_device = ""          # e.g. "/dev/video0"; "" = none
    split_timeout_seconds = 20  # an incomplete split (structured-append) code is dropped after this
    patient_card_pattern = "[0-9]{8}"  # the facility's 診察券 barcode (regex; group 1 = the id if any)
    portal_hosts = ["myna.go.jp", "digital.go.jp"]  # QR links shown as notice / portal links
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta, timezone, tzinfo
from pathlib import Path

from madoguchi.edge.funds import FUND_RULES_FILE, FundRules, load_fund_rules

log = logging.getLogger(__name__)

JST = timezone(timedelta(hours=9), "JST")  # Japan has no daylight saving time
SYSTEM_CONFIG = Path("/etc/madoguchi/config.toml")


class ConfigError(ValueError):
    """The configuration file is unreadable or holds a bad value."""


@dataclass(frozen=True)
class Policy:
    """Values the verdict depends on.

    cache_max_age: 72 h by default, so that Friday night's batch pre-check still gives
    `ok` on Monday morning; a job change takes days to reach the national system anyway.
    online_budget_seconds: 1.5 s; the desk answers from the cache after that.
    """

    cache_max_age: timedelta = timedelta(hours=72)
    online_budget_seconds: float = 1.5
    online_max_age: timedelta = timedelta(minutes=10)  # an older upstream answer is not "online"
    timezone: tzinfo = JST
    fund_rules: FundRules = field(default_factory=FundRules)  # 公費: defaults + the facility's fund_rules.csv


@dataclass(frozen=True)
class Config:
    data_dir: Path
    policy: Policy = field(default_factory=Policy)
    source: Path | None = None  # the file read, if any
    raw: dict = field(default_factory=dict)  # the whole file, for sections other modules own


def config_path() -> Path | None:
    if env := os.environ.get("MADOGUCHI_CONFIG"):
        return Path(env)
    return SYSTEM_CONFIG if SYSTEM_CONFIG.exists() else None


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "madoguchi"


def load_config(data_dir: Path | str | None = None) -> Config:
    """Load the configuration; `data_dir` (from --data-dir) wins over everything."""
    path = config_path()
    raw: dict = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read configuration {path}: {exc}") from None
    chosen = data_dir or os.environ.get("MADOGUCHI_DATA_DIR") or raw.get("data_dir") or default_data_dir()
    section = raw.get("policy", {})
    data = Path(chosen).expanduser()
    try:
        policy = Policy(
            cache_max_age=timedelta(hours=float(section.get("cache_max_age_hours", 72))),
            online_budget_seconds=float(section.get("online_budget_seconds", 1.5)),
            fund_rules=load_fund_rules(data / FUND_RULES_FILE),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad [policy] value in {path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {data / FUND_RULES_FILE}: {exc}") from None
    for problem in policy.fund_rules.problems:  # the row is left out: its funds show as 未設定
        log.error("%s: %s (row ignored)", data / FUND_RULES_FILE, problem)
    if policy.online_budget_seconds <= 0 or policy.cache_max_age <= timedelta(0):
        raise ConfigError(f"[policy] values in {path} must be positive")
    return Config(data, policy, path, raw)
