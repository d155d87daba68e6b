"""Desk latency: the last PIN digit pressed -> the verdict painted, with the demo's virtual card.

The raw baseline, measured in the same run on the same card and database: the card path alone
(open the session, prove the holder with the PIN, card link, decide and record the check),
called directly without the UI. The desk's overhead is the difference of the medians.
Goal: <= 100 ms beyond the card path. Headless (Textual's test driver): "painted" is the verdict
band mounted and laid out on the screen (the next frame draws it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from textual import events

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from madoguchi.edge.card import request_for  # noqa: E402
from madoguchi.sim.demo import DEMO_PIN  # noqa: E402
from madoguchi.sim.desk import demo_app  # noqa: E402
from madoguchi.tui.screens.pin import PinScreen  # noqa: E402


def card_path(app) -> float:
    started = time.perf_counter()
    session = app.card_port.session()
    session.pin_tries_left()
    proof = session.prove_holder(DEMO_PIN)
    app.service.check(request_for(proof, app.service.card_link(proof.certificate_der)))
    session.close()
    return time.perf_counter() - started


async def desk_path(app, runs: int) -> list[float]:
    samples = []
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(runs):
            app.demo.cards.insert("valid")
            while not (isinstance(app.screen, PinScreen) and app.screen.tries_left is not None):
                await asyncio.sleep(0.001)
            await pilot.press(*DEMO_PIN[:-1])
            started = time.perf_counter()
            app.post_message(events.Key(DEMO_PIN[-1], DEMO_PIN[-1]))  # pilot.press would wait for idle
            while not (app.screen.query("#verdict-band") and app.screen.query_one("#verdict-band").region):
                await asyncio.sleep(0.001)
            samples.append(time.perf_counter() - started)
            await pilot.pause()
            await pilot.press("enter")
            await app.workers.wait_for_complete()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = demo_app(Path(tmp) / "data")
        app.demo.cards.insert("valid")  # make the keys and the card link once
        raw = [card_path(app) for _ in range(args.runs)]
        desk = asyncio.run(desk_path(app, args.runs))
    raw_ms, desk_ms = statistics.median(raw) * 1000, statistics.median(desk) * 1000
    print(f"card path alone (raw)        median {raw_ms:6.1f} ms  max {max(raw) * 1000:6.1f} ms  ({args.runs} runs)")
    print(f"last PIN digit -> verdict    median {desk_ms:6.1f} ms  max {max(desk) * 1000:6.1f} ms")
    print(f"desk overhead beyond the card path: {desk_ms - raw_ms:+.1f} ms ({desk_ms / raw_ms:.2f}x raw); "
          f"goal <= 100 ms: {'met' if desk_ms - raw_ms <= 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
