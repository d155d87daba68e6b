"""The README's first examples, run as written from the README's own text in a fresh data
directory: they must find people on any day (the synthetic population moves with the date)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"


def command_examples() -> list[str]:
    """The lines of the sh block under "## The command", comments dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The command", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)[1]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_command_examples_work_today(tmp_path):
    examples = command_examples()
    assert examples[0].startswith("madoguchi population") and any("check" in e for e in examples)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "MADOGUCHI_DATA_DIR": str(tmp_path / "data"),
           "MADOGUCHI_CONFIG": os.devnull}
    for example in examples:
        result = subprocess.run(["sh", "-c", example], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, f"{example}\n{result.stderr}"
        if example.startswith("madoguchi check") and "--json" in example:
            answer = json.loads(result.stdout)
            assert answer["record"] is not None and answer["verdict"] == "ok", example
        elif example.startswith("madoguchi check"):
            assert "氏名" in result.stdout, f"{example}: nobody found\n{result.stdout}"


def document_rows() -> dict[str, str]:
    """The rows of the README's document table, by the `--document` value each names."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("### Documents", 1)[1].split("\n## ", 1)[0]
    return {value: line for line in table.splitlines() if line.startswith("|")
            for value in re.findall(r"\(`([a-z_]+)`\)", line.split("|")[1])}


def test_the_document_table_states_each_rule_with_its_date():
    from datetime import date

    from madoguchi.edge.model import DOCUMENT_RULES

    rows = document_rows()
    assert set(rows) == {kind.value for kind in DOCUMENT_RULES}
    for kind, rule in DOCUMENT_RULES.items():
        row = rows[kind.value]
        dates = [value for value in vars(rule).values() if isinstance(value, date)]
        assert all(day.isoformat() in row for day in dates), (kind, dates)
        assert ("有効期限" in row) == rule.honours_printed_validity, kind
        assert ("together with the card" in row) == rule.requires_card, kind
        assert rule.is_document or "not documents" in row or "nothing to check" in row, kind
        assert row.rstrip(" |").rsplit("|", 1)[1].strip() not in ("", "—"), f"{kind}: no date or source"
