"""`madoguchi doctor`: is this appliance healthy, and if not, what to do (one line, ja + en);
the checks are in madoguchi/ops/doctor.py. `madoguchi support`: watch the kiosk's screen
read-only over SSH."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from madoguchi.cli.base import (
    EXIT_ENVIRONMENT,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    Subcommands,
    command,
    data_config,
    emit,
    refuse_json,
)
from madoguchi.ops.doctor import Status, run_checks

KIOSK_TMUX_SOCKET = Path("/run/madoguchi-kiosk/tmux.sock")  # madoguchi-kiosk@.service
MARK = {Status.OK: "ok  ", Status.WARN: "WARN", Status.FAIL: "FAIL"}


def register(sub: Subcommands) -> None:
    command(sub, "doctor", cmd_doctor, "check this appliance: reader, scanner, hub, signed metadata, cache, clock, "
            "disk, services (exit 1 if anything fails)")
    p = command(sub, "support", cmd_support, "watch the kiosk's screen read-only (remote support over SSH; "
                "interactive: no --json)")
    p.add_argument("--socket", type=Path, default=KIOSK_TMUX_SOCKET, help=f"the kiosk's tmux socket ({KIOSK_TMUX_SOCKET})")


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks(data_config(args))
    counts = {s.value: sum(c.status is s for c in checks) for s in Status}
    lines = []
    for c in checks:
        lines.append(f"{MARK[c.status]}  {c.name:28} {c.detail}")
        if c.status is not Status.OK:
            lines.append(f"      修正: {c.fix_ja}\n      fix:  {c.fix_en}")
    lines.append(f"{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail")
    emit(args, {"checks": [c.as_dict() for c in checks], "summary": counts}, "\n".join(lines))
    return EXIT_FAILED if counts["fail"] else EXIT_OK


def cmd_support(args: argparse.Namespace) -> int:
    """Attach to the kiosk's tmux session read-only: keys typed here never reach the desk."""
    refuse_json(args)
    if not args.socket.exists():
        raise CommandError(EXIT_ENVIRONMENT, f"the kiosk is not running here (no {args.socket})")
    tmux = shutil.which("tmux")
    if tmux is None:
        raise CommandError(EXIT_ENVIRONMENT, "tmux is not installed")
    os.execv(tmux, [tmux, "-S", str(args.socket), "attach-session", "-t", "ui", "-f", "read-only,ignore-size"])
