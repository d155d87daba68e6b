"""A form row: label, one-line input, and the field's message (error in red, OK in green)."""

from __future__ import annotations

from madoguchi.edge.numbers import InputError
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label


def japanese_message(error: InputError, fallback_ja: str) -> str:
    """The Japanese part of an edge InputError ("english (日本語)"), else `fallback_ja`."""
    text = str(error)
    start = text.rfind("(")
    if start >= 0 and text.endswith(")") and not text[start + 1:-1].isascii():
        return text[start + 1:-1]
    return fallback_ja


class DeskInput(Input):
    """An input that keeps every key typed: 全角空白 (U+3000, which `str.isprintable` calls not
    printable), and keys that arrived in the same burst as a Tab (a wedge scanner, a fast
    typist): Textual queues them here before its Tab binding moves the focus, so the Tab moves
    it at once and those keys go on to the field that has it now."""

    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if focused is not None and focused is not self:
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("tab", "shift+tab"):
            event.stop()
            event.prevent_default()
            self.screen.focus_next() if event.key == "tab" else self.screen.focus_previous()
            return
        if event.character == "\u3000":
            event.stop()
            event.prevent_default()
            self.insert_text_at_cursor(event.character)
            return
        await super()._on_key(event)


class Field(Horizontal):
    def __init__(self, label_ja: str, field_id: str, *, max_length: int = 0, password: bool = False,
                 placeholder: str = "") -> None:
        super().__init__(classes="field", id=f"row-{field_id}")
        self.label_ja = label_ja
        self.field_id = field_id
        self.max_length = max_length
        self.password = password
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        yield Label(self.label_ja, classes="field-label")
        yield DeskInput(id=self.field_id, max_length=self.max_length, password=self.password,
                    placeholder=self.placeholder, compact=True, select_on_focus=False)
        yield Label("", id=f"{self.field_id}-message", classes="field-message", markup=False)

    def tell(self, message_ja: str, ok: bool = False) -> None:
        label = self.query_one(f"#{self.field_id}-message", Label)
        label.update(message_ja)
        label.set_class(bool(message_ja) and not ok, "-error")
        label.set_class(ok, "-ok")
