"""`madoguchi funds`: the table of 公費 rules the desk charges by (embedded defaults and the
facility's `fund_rules.csv` in the data directory), and a check of a facility file."""

from __future__ import annotations

import argparse
from pathlib import Path

from madoguchi.cli.base import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    Subcommands,
    command,
    data_config,
    emit,
    group,
)
from madoguchi.edge.funds import COLUMNS, FUND_RULES_FILE, FundRule, fund_name_ja, parse_fund_rules


def register(sub: Subcommands) -> None:
    funds = group(sub, "funds", "public funds (公費): the rules the desk charges by")
    command(funds, "show", cmd_funds_show, "the effective table of fund rules (defaults + the facility's file)",
            description=f"The rules by 法別 (optionally 都道府県 / 実施機関): the embedded national defaults, "
            f"replaced row by row by <data-dir>/{FUND_RULES_FILE}. Exit 1 if that file has bad rows "
            "(they are left out: their funds show as 負担ルール未設定).")
    p = command(funds, "check", cmd_funds_check, "check a facility's fund rules file before installing it",
                description=f"Check a UTF-8 CSV file with the header {','.join(COLUMNS)}. Exit 0 good, "
                "1 bad rows (each named with its line), 2 the file cannot be read.")
    p.add_argument("file", type=Path, help=f"the file to check (installed as <data-dir>/{FUND_RULES_FILE})")


def _row(rule: FundRule) -> str:
    where = "/".join(part for part in (rule.prefecture, rule.institution) if part) or "全国"
    name = rule.name or fund_name_ja(rule.houbetsu)
    return f"  {rule.houbetsu}  {where:10} {rule.describe_ja():24} {name}  [{rule.source}]"


def cmd_funds_show(args: argparse.Namespace) -> int:
    rules = data_config(args).policy.fund_rules
    file = rules.path or data_config(args).data_dir / FUND_RULES_FILE
    lines = [f"fund rules: defaults + {file}" + ("" if rules.path else " (absent)"),
             *(_row(rules.rules[key]) for key in sorted(rules.rules)),
             "  other 法別: 負担ルール未設定 (the desk shows the fund as unknown and the charge as 要確認: never guessed)"]
    lines += [f"problem: {problem} (row left out)" for problem in rules.problems]
    emit(args, rules.to_json(), "\n".join(lines))
    return EXIT_FAILED if rules.problems else EXIT_OK


def cmd_funds_check(args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise CommandError(EXIT_BAD_INPUT, f"cannot read {args.file}: {exc.strerror or exc}") from None
    rules, problems = parse_fund_rules(data)
    result = {"file": str(args.file), "rules": [rule.to_json() for rule in rules], "problems": problems}
    lines = [f"{args.file}: {len(rules)} rule(s), {len(problems)} problem(s)", *(_row(rule) for rule in rules),
             *(f"problem: {problem}" for problem in problems)]
    emit(args, result, "\n".join(lines))
    return EXIT_FAILED if problems else EXIT_OK
