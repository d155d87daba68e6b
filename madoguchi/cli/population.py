"""`madoguchi population`: the synthetic population, into the cache (as a sync would) or a file."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

from madoguchi.cli.base import EXIT_BAD_INPUT, EXIT_OK, CommandError, Subcommands, command, data_config, emit
from madoguchi.edge import store
from madoguchi.edge.config import JST
from madoguchi.edge.numbers import InputError, parse_birth_date
from madoguchi.sim import population


def register(sub: Subcommands) -> None:
    p = command(sub, "population", cmd_population, "generate the synthetic population",
                description="Write a synthetic population into the data directory's cache (as a sync "
                "would), or with --out into a JSON-lines file for the simulator and the hub.")
    p.add_argument("--patients", type=int, default=1000, help="number of people (default 1000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--today", help="the day the population is generated for (default: today, JST)")
    p.add_argument("--out", type=Path, help="write every record (with person_id and registered_on) to this file")
    p.add_argument("--sample", metavar="KIND", help="only print the check options of one sample person "
                   "(valid, lost, ...): the people move with the date, their options stay usable")


def progress(items: Iterable, total: int, label: str) -> Iterator:
    """Yield items, drawing a progress bar on stderr when it is a terminal."""
    if not sys.stderr.isatty() or total < 10000:
        yield from items
        return
    step = max(total // 100, 1)
    started = time.monotonic()
    for i, item in enumerate(items, 1):
        if i % step == 0:
            filled = min(30 * i // total, 30)
            rate = i / max(time.monotonic() - started, 1e-6)
            sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {i:,} ({rate:,.0f}/s)")
            sys.stderr.flush()
        yield item
    sys.stderr.write("\n")


def cmd_population(args: argparse.Namespace) -> int:
    if args.patients < 1:
        raise CommandError(EXIT_BAD_INPUT, "--patients must be at least 1")
    try:
        today = parse_birth_date(args.today, today=date.max) if args.today else None
    except InputError as exc:
        raise CommandError(EXIT_BAD_INPUT, f"--today: {exc}") from None
    now = population.default_now(today) if today else datetime.now(JST)
    today = today or now.date()
    if args.sample:
        try:
            options = population.check_options(population.samples(args.patients, args.seed, today, now), args.sample)
        except InputError as exc:
            raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
        emit(args, {"sample": args.sample, "check_options": options}, options)
        return EXIT_OK
    records = progress(population.generate(args.patients, args.seed, today, now), int(args.patients * 1.04), "population")
    summary: dict
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as out:
                count = 0
                for rec in records:
                    out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
                    count += 1
        except OSError as exc:
            raise CommandError(EXIT_BAD_INPUT, f"--out {args.out}: {exc.strerror}") from None
        summary = {"out": str(args.out), "records": count}
    else:
        config = data_config(args)
        conn = store.open_database(store.secure_dir(config.data_dir), create=True)
        count = population.load_population(conn, records, today, now)
        summary = {"data_dir": str(config.data_dir), "records_in_cache": count}
    summary["samples"] = population.samples(args.patients, args.seed, today, now)
    lines = [", ".join(f"{k}: {v}" for k, v in summary.items() if k != "samples"),
             "sample people (try: madoguchi check --insurer ... --symbol ... --number ... --birth ...):"]
    for kind, rec in summary["samples"].items():
        if rec["insurer_number"].startswith("12"):  # 医療扶助: the 医療券's numbers
            lines.append(f"  {kind:18} {rec['name']}  {population.check_options(summary['samples'], kind)}")
            continue
        branch = rec["branch"] or "''"
        lines.append(f"  {kind:18} {rec['name']}  --insurer {rec['insurer_number']} --symbol '{rec['symbol']}' "
                     f"--number {rec['number']} --branch {branch} --birth {rec['birth_date']}")
    emit(args, summary, "\n".join(lines))
    return EXIT_OK
