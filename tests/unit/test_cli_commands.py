"""Every command of `madoguchi`, found by walking its parser (a new command is covered without
being named here): help, --json, exit codes with one meaning, global options anywhere."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from importlib.metadata import version

import pytest

from madoguchi.cli import build_parser
from madoguchi.cli.base import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_OK


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaves(sub, (*path, name))
            return
    yield path


LEAVES = list(leaves(build_parser()))

# what each command does in a fresh, empty data directory with no argument but --json: a
# command missing here is still held to the rule (0-3, JSON on stdout)
IN_AN_EMPTY_DIR = {
    ("check",): EXIT_BAD_INPUT, ("funds", "show"): EXIT_OK, ("funds", "check"): EXIT_BAD_INPUT,
    ("vcard",): EXIT_BAD_INPUT, ("cache", "stats"): EXIT_ENVIRONMENT,
    ("audit", "verify"): EXIT_ENVIRONMENT, ("reconcile", "list"): EXIT_ENVIRONMENT,
    ("reconcile", "done"): EXIT_BAD_INPUT, ("population",): EXIT_OK, ("qr", "sample"): EXIT_BAD_INPUT,
    ("hub", "import"): EXIT_BAD_INPUT, ("hub", "insurers"): EXIT_BAD_INPUT, ("hub", "publish"): EXIT_BAD_INPUT,
    ("hub", "revoke"): EXIT_BAD_INPUT,
    ("hub", "timestamp"): EXIT_ENVIRONMENT, ("hub", "rotate-root"): EXIT_BAD_INPUT, ("hub", "serve"): EXIT_OK,
    ("hub", "precheck"): EXIT_ENVIRONMENT, ("hub", "enroll-token"): EXIT_BAD_INPUT,
    ("hub", "devices"): EXIT_BAD_INPUT, ("hub", "revoke-device"): EXIT_BAD_INPUT,
    ("hub", "status"): EXIT_ENVIRONMENT, ("sync", "init"): EXIT_BAD_INPUT, ("sync", "enroll"): EXIT_BAD_INPUT,
    ("sync", "once"): EXIT_ENVIRONMENT, ("sync", "upload"): EXIT_ENVIRONMENT, ("sync", "daemon"): EXIT_ENVIRONMENT,
    ("sync", "status"): EXIT_OK, ("upstream", "simulate"): EXIT_BAD_INPUT, ("upstream", "check"): EXIT_BAD_INPUT,
    ("upstream", "pushes"): EXIT_BAD_INPUT, ("doctor",): EXIT_FAILED, ("support",): EXIT_BAD_INPUT,
    ("demo",): EXIT_BAD_INPUT, ("tui",): EXIT_BAD_INPUT,
}
# commands that serve until stopped: started on a free port, their first line read, then SIGTERM
SERVES = {("hub", "serve"): ["--port", "0", "--no-api"]}


def env() -> dict[str, str]:
    environment = {**os.environ, "MADOGUCHI_CONFIG": os.devnull, "PYTHONUNBUFFERED": "1"}
    environment.pop("MADOGUCHI_DATA_DIR", None)
    return environment


def madoguchi(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "madoguchi", *args], capture_output=True, text=True, env=env(),
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_the_walk_finds_every_command():
    assert len(LEAVES) == len(set(LEAVES)) >= 32
    assert {("check",), ("hub", "serve"), ("sync", "once"), ("upstream", "pushes"), ("tui",)} <= set(LEAVES)


@pytest.mark.parametrize("leaf", LEAVES, ids=" ".join)
def test_every_command_has_help_that_offers_the_global_options(leaf, capsys):
    from madoguchi.cli import main

    with pytest.raises(SystemExit) as done:
        main([*leaf, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: madoguchi {' '.join(leaf)}")
    for option in ("--json", "--data-dir", "--verbose"):
        assert option in out


@pytest.mark.parametrize("leaf", LEAVES, ids=" ".join)
def test_every_command_in_an_empty_data_dir_gives_a_documented_code_and_json(leaf, tmp_path):
    args = ["--data-dir", str(tmp_path / "data"), *leaf, "--json"]
    if leaf in SERVES:
        process = subprocess.Popen([sys.executable, "-m", "madoguchi", *args, *SERVES[leaf]], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=env())
        try:
            announced = json.loads(process.stdout.readline())
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
        assert announced and code == IN_AN_EMPTY_DIR[leaf]
        return
    result = madoguchi(*args)
    assert result.returncode in (0, 1, 2, 3), result
    assert result.returncode == IN_AN_EMPTY_DIR.get(leaf, result.returncode), result
    data = json.loads(result.stdout)
    if result.returncode in (EXIT_BAD_INPUT, EXIT_ENVIRONMENT):
        assert data["exit_code"] == result.returncode and data["error"]
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_global_options_before_or_after_the_command(tmp_path):
    data = str(tmp_path)
    assert madoguchi("population", "--patients", "30", "--data-dir", data, "-v").returncode == 0
    outputs = [madoguchi(*args) for args in (
        ["--data-dir", data, "--json", "cache", "stats"],
        ["cache", "stats", "--data-dir", data, "--json"],
        ["cache", "--json", "stats", "--data-dir", data],
        ["--data-dir", str(tmp_path / "elsewhere"), "cache", "stats", "--json", "--data-dir", data],
    )]
    assert {o.returncode for o in outputs} == {0}
    stats = [{k: json.loads(o.stdout)[k] for k in ("data_dir", "records", "generated_at")} for o in outputs]
    assert all(s == stats[0] for s in stats) and stats[0]["data_dir"] == data and stats[0]["records"] >= 30
    text = madoguchi("cache", "stats", "--data-dir", data)
    assert text.returncode == 0 and text.stdout.startswith("data_dir")


def test_version():
    result = madoguchi("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"madoguchi {version('madoguchi')}"


@pytest.mark.parametrize("args, reason", [
    (["bogus"], "invalid choice"),
    (["cache", "stats", "--bogus"], "unrecognized arguments"),
    (["check", "--patient-id", "1", "--card-link", "ab"], "exactly one"),
    (["check", "--insurer", "01130013", "--symbol", "1", "--number", "2", "--birth", "1980-01-01"], "check digit"),
    (["population", "--patients", "0"], "--patients"),
    (["qr", "sample", "jahis", "--split", "17"], "--split"),
    (["reconcile", "done", "seven"], "invalid int"),
    (["hub", "enroll-token", "--facility", "clinic-a", "--ttl", "1w"], "--ttl"),
    (["hub", "import", "missing.jsonl", "--facility", "clinic-a"], "cannot read"),
    (["hub", "publish", "--facility", "bad name"], "facility name"),
    (["sync", "daemon", "--interval", "0"], "--interval"),
    (["upstream", "check", "--share", ".", "--quarantine", "q", "--insurer", "06139991", "--number", "1",
      "--birth", "1980-01-01"], "check digit"),
    (["upstream", "simulate", "--population", "missing.jsonl"], "cannot read"),
])
def test_bad_input_exits_2_with_one_line_naming_the_problem(args, reason, tmp_path):
    for json_flag in ([], ["--json"]):
        result = madoguchi("--data-dir", str(tmp_path), *args, *json_flag)
        assert result.returncode == EXIT_BAD_INPUT, result
        assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        if json_flag:
            assert json.loads(result.stdout) == {"error": result.stderr.strip().split(": ", 1)[1],
                                                 "exit_code": EXIT_BAD_INPUT}
        else:
            assert result.stdout == ""


@pytest.mark.parametrize("args, reason", [
    (["cache", "stats"], "no database"),
    (["audit", "verify"], "no database"),
    (["reconcile", "list"], "no database"),
    (["check", "--patient-id", "1"], "no database"),
    (["hub", "status"], "no facility on this hub"),
    (["hub", "publish", "--facility", "clinic-a"], "no facility on this hub"),
    (["hub", "revoke-device", "dev-1"], "no facility on this hub"),
    (["sync", "once"], "sync enroll"),
    (["sync", "upload"], "not enrolled"),
    (["upstream", "pushes", "--share", "nowhere", "--quarantine", "q"], "is not a folder"),
])
def test_a_missing_environment_exits_3(args, reason, tmp_path):
    result = madoguchi("--data-dir", str(tmp_path), *args, "--json")
    assert result.returncode == EXIT_ENVIRONMENT, result
    assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert json.loads(result.stdout)["exit_code"] == EXIT_ENVIRONMENT


def test_interactive_commands_refuse_json_first_and_say_what_is_missing(tmp_path):
    support = ["--data-dir", str(tmp_path), "support", "--socket", str(tmp_path / "no.sock")]
    assert madoguchi(*support, "--json").returncode == EXIT_BAD_INPUT
    missing = madoguchi(*support)
    assert missing.returncode == EXIT_ENVIRONMENT and "kiosk is not running" in missing.stderr
    assert missing.stdout == ""


def test_hub_errors_by_cause(tmp_path):
    """An empty hub lacks something (3); a facility it does not have, while it has others, is a typo (2)."""
    hub = ["--data-dir", str(tmp_path / "hubdata"), "hub"]
    assert madoguchi(*hub, "devices", "--facility", "clinic-a").returncode == EXIT_ENVIRONMENT
    population = tmp_path / "pop.jsonl"
    assert madoguchi("population", "--patients", "20", "--out", str(population)).returncode == 0
    imported = madoguchi(*hub, "import", str(population), "--facility", "clinic-a", "--json")
    assert imported.returncode == 0 and json.loads(imported.stdout)["data_version"] == 1
    typo = madoguchi(*hub, "publish", "--facility", "clinic-b")
    assert typo.returncode == EXIT_BAD_INPUT and "clinic-a" in typo.stderr
    assert "clinic-b" not in os.listdir(tmp_path / "hubdata" / "hub" / "facilities")
    for args, key in ((["publish"], "data_version"), (["rotate-root"], "root_version"), (["devices"], None),
                      (["revoke", "--card-link", "AB", "--reason", "lost"], "revoked"), (["enroll-token"], "token")):
        done = madoguchi(*hub, *args, "--facility", "clinic-a", "--json")
        assert done.returncode == 0, done.stderr
        assert key is None or key in json.loads(done.stdout)
    unknown = madoguchi(*hub, "revoke-device", "dev-none", "--json")
    assert unknown.returncode == EXIT_BAD_INPUT and "no device" in json.loads(unknown.stdout)["error"]
    assert json.loads(madoguchi(*hub, "timestamp", "--json").stdout) == {"re_signed": ["clinic-a"]}


def test_reconcile_done_without_such_an_open_item_exits_1(tmp_path):
    assert madoguchi("--data-dir", str(tmp_path), "population", "--patients", "20").returncode == 0
    done = madoguchi("--data-dir", str(tmp_path), "reconcile", "done", "7", "--json")
    assert done.returncode == EXIT_FAILED and json.loads(done.stdout) == {"id": 7, "handled": False}
    assert "no open followup 7" in done.stderr
