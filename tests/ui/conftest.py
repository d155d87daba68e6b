"""Fixtures for the desk's Pilot tests: a demo world on a fixed clock, messages collected."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from madoguchi.sim.desk import demo_app
from madoguchi.tui.app import DeskApp
from rich.console import Console

from tests.conftest import NOW

SIZE = (100, 30)


def fixed_clock():
    return NOW


@pytest.fixture
def desk(tmp_path: Path) -> DeskApp:
    """The demo desk on a fresh synthetic world (1000 people, seed 1) at a fixed moment."""
    return demo_app(tmp_path / "data", clock=fixed_clock)


class Collected(list):
    def of(self, kind: type) -> list:
        return [m for m in self if isinstance(m, kind)]


@pytest.fixture
def collected() -> Collected:
    return Collected()


async def settle(pilot, app: DeskApp) -> None:
    """Let workers finish and the messages they posted be handled."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def plain(widget, width: int = 100) -> str:
    """The text a Static shows (its content may be a Rich table)."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def staff_notes(app: DeskApp) -> str:
    """What the desk told staff: in notifications, and on the PIN screen in its own box (the
    rest of that screen's text is the patient's)."""
    notes = [n.message for n in app._notifications if n.title == "職員の方へ"]
    if app.screen.has_class("-staff"):
        notes += [str(box.content) for box in app.screen.query("#pin-staff")]
    return "\n".join(notes)


async def wait_until(pilot, condition, what: str, timeout: float = 30.0) -> None:
    """Wait for `condition()` while the app runs: for things a timer or a thread brings, with a
    deadline far beyond any machine's speed (nothing is asserted about how fast)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"not within {timeout} s: {what}"
        await pilot.pause(0.05)


async def choose(pilot, app, select_id: str, downs: int) -> None:
    """Pick the option `downs` below the current one of a Select, from the keyboard."""
    app.screen.query_one(f"#{select_id}").focus()
    await pilot.press("enter", *["down"] * downs, "enter")
    await pilot.pause()


async def declare(pilot, app, name: str = "mihon", kana: str = "mihon tarou", birth: str = "19800101",
                  card: bool | None = True, form: bool = True) -> None:
    """On the 申立 screen: the card presented (or not; None: already chosen), the declaration
    (unless `form` is false: already typed), and the card's printed fields as staff type them
    off the card."""
    if card is not None:
        await choose(pilot, app, "card", 1 if card else 2)
    if form:
        app.screen.query_one("#name").focus()
        await pilot.press(*name, "tab", *kana, "tab", *birth)
    if card is not False:
        app.screen.query_one("#card_name").focus()
        await pilot.press(*name, "tab", *birth)
        await choose(pilot, app, "card_sex", 1)
        app.screen.query_one("#card_address").focus()
        await pilot.press(*"tokyo shinjuku 1-1")


async def answer_consent(pilot, app, *keys: str) -> None:
    """The patient answers the consent questions (1 yes, 2 no; or staff's F8 / F11)."""
    from madoguchi.tui.screens.consent import ConsentScreen

    await settle(pilot, app)
    assert isinstance(app.screen, ConsentScreen), app.screen
    await pilot.press(*keys)
    await settle(pilot, app)
