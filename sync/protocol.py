"""What the device and the hub agree on, and nothing else: target names in the TUF repository,
the enrollment token's format, and the outbox upload's answers. Both sides import this module;
neither imports the other (the bundle format is `madoguchi.sync.bundle`)."""

from __future__ import annotations

FULL_TARGET = "full.bundle"

# Why an uploaded outbox entry stays pending. The first two end the device's upload run (it tries
# again on its next run); the third is per entry (a 申立 whose patient is not known yet).
UNREACHABLE = "upstream unreachable"
BUSY = "the hub's time for this upload is spent"
STOP_REASONS = (UNREACHABLE, BUSY)
NOT_KNOWN_YET = "not known yet"
MAX_UPLOAD_ENTRIES = 500  # per upload


def delta_target(from_version: int, to_version: int) -> str:
    return f"delta-{from_version}-{to_version}.bundle"


def is_facility_name(name: str) -> bool:
    """ASCII letters, digits, '-' and '_': a facility name is a path component on the hub."""
    return bool(name) and name.isascii() and all(c.isalnum() or c in "-_" for c in name)


def parse_token(token: str) -> tuple[str, str, str]:
    """(facility, secret, CA hash) of an enrollment token `FACILITY.SECRET.CAHASH`; ValueError
    when it is not one. The CA hash is the SHA-256 of the hub CA certificate (PEM), in hex."""
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts) or len(parts[2]) != 64:
        raise ValueError("not an enrollment token (expected FACILITY.SECRET.CAHASH)")
    if not is_facility_name(parts[0]):
        raise ValueError("not an enrollment token (bad facility name)")
    if not set(parts[2].lower()) <= set("0123456789abcdef"):
        raise ValueError("not an enrollment token (the CA hash is not hexadecimal)")
    return parts[0], parts[1], parts[2].lower()
