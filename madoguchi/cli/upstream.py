"""`madoguchi upstream ...`: the national-system simulator and the terminal's file interface.

  upstream simulate  serve the SIMULATOR over HTTP on 127.0.0.1 (demos, tests, training)
  upstream check     one check by numbers through a 資格確認端末's folders (installation test)
  upstream pushes    collect the card reader's pushed results from the terminal's face folder
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import cast

from madoguchi.cli.base import (
    EXIT_BAD_INPUT,
    EXIT_ENVIRONMENT,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    Subcommands,
    command,
    group,
    to_json,
)
from madoguchi.edge.numbers import (
    InputError,
    normalize_branch,
    normalize_symbol,
    parse_birth_date,
    parse_insurer_number,
)
from madoguchi.sync.hub.upstream.base import NumbersQuery, UpstreamError, answer_to_json
from madoguchi.sync.hub.upstream.terminal import FileTerminal


def register(sub: Subcommands) -> None:
    commands = group(sub, "upstream", "upstream adapters: national-system simulator, terminal file interface")
    p = command(commands, "simulate", cmd_simulate, "serve the national-system SIMULATOR over HTTP (not a real system)",
                description="Answers from a synthetic population (madoguchi population --out FILE) "
                "with registration lag, losses, 複数該当, 不開示, outages and slow answers on demand "
                "(POST /v1/control). For demos, tests and training only. With --json, the address is "
                "announced as one JSON line.")
    p.add_argument("--population", type=Path, required=True, help="JSON-lines file from `madoguchi population --out`")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8790, help="port (default 8790; 0 picks a free one)")
    p.add_argument("--card-links", type=Path, help="JSON object {card_link: patient_id} for the virtual cards")
    p.add_argument("--latency", type=float, default=0.05, help="seconds every answer takes (default 0.05)")

    for name, func, help_text in (
            ("check", cmd_check, "check one person by numbers through the terminal's folders (always JSON; "
             "exit 1 if the terminal does not answer)"),
            ("pushes", cmd_pushes, "collect the card reader's results pushed to the terminal's face folder "
             "(always JSON)")):
        p = command(commands, name, func, help_text)
        p.add_argument("--share", type=Path, required=True, help="the terminal's shared folder (holding req/res/face)")
        p.add_argument("--quarantine", type=Path, required=True, help="local folder for unreadable files")
        p.add_argument("--institution", default="0000000000", help="医療機関コード (10 digits)")
        p.add_argument("--encoding", choices=["shift_jis", "utf-8"], default="shift_jis")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (default 10)")
        if name == "check":
            p.add_argument("--insurer", required=True, help="保険者番号 (8 digits, or 6 for 国保)")
            p.add_argument("--symbol", default="", help="記号")
            p.add_argument("--number", required=True, help="番号")
            p.add_argument("--branch", default="", help="枝番")
            p.add_argument("--birth", required=True, help="生年月日")


def cmd_simulate(args: argparse.Namespace) -> int:
    # the simulated world, imported by this command only (start-up cost of `upstream check`)
    from madoguchi.sim.national import NationalSystem
    from madoguchi.sim.simserver import SimulatorServer
    from madoguchi.sim.simulator import SimulatedUpstream

    try:
        with open(args.population, encoding="utf-8") as lines:
            records = [json.loads(line) for line in lines if line.strip()]
        card_links = json.loads(args.card_links.read_text(encoding="utf-8")) if args.card_links else {}
    except OSError as exc:  # a file named on the command line: bad input
        raise CommandError(EXIT_BAD_INPUT, f"cannot read {exc.filename}: {exc.strerror}") from None
    except ValueError as exc:
        raise CommandError(EXIT_BAD_INPUT, f"not JSON: {exc}") from None
    try:
        national = NationalSystem(records, clock=lambda: datetime.now(timezone.utc))
    except (KeyError, TypeError, ValueError) as exc:
        raise CommandError(EXIT_BAD_INPUT, f"{args.population} is not a population file: {exc!r}") from None
    national.latency = args.latency
    try:
        server = SimulatorServer((args.host, args.port), SimulatedUpstream(national, card_links))
    except OSError as exc:
        raise CommandError(EXIT_ENVIRONMENT, f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    host, port = cast(tuple[str, int], server.server_address[:2])
    if args.json:
        print(json.dumps({"simulator": f"http://{host}:{port}/", "records": len(records)}), flush=True)
    else:
        print(f"SIMULATOR of the national system (synthetic data, not a real check) on http://{host}:{port}/ "
              f"with {len(records)} records", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.serve_in_thread()
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
    return EXIT_OK


def _terminal(args: argparse.Namespace) -> FileTerminal:
    for folder in ("req", "res", "face"):
        if not (args.share / folder).is_dir():
            raise CommandError(EXIT_ENVIRONMENT, f"{args.share / folder} is not a folder")
    return FileTerminal(args.share, args.quarantine, args.institution, encoding=args.encoding)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        query = NumbersQuery(parse_insurer_number(args.insurer).digits, normalize_symbol(args.symbol),
                             normalize_symbol(args.number), parse_birth_date(args.birth),
                             normalize_branch(args.branch))
    except InputError as exc:
        raise CommandError(EXIT_BAD_INPUT, str(exc)) from None
    try:
        answer = _terminal(args).check(query, args.timeout)
    except UpstreamError as exc:  # the check failed: the terminal did not answer, or answered an error
        print(f"madoguchi upstream check: {exc}", file=sys.stderr)
        if args.json:
            print(to_json({"error": str(exc), "exit_code": EXIT_FAILED}))
        return EXIT_FAILED
    print(to_json(answer_to_json(answer)))
    return EXIT_OK


def cmd_pushes(args: argparse.Namespace) -> int:
    answers = _terminal(args).pushes(args.timeout)
    print(to_json([answer_to_json(a) for a in answers]))
    return EXIT_OK
