"""The patient-facing PIN screen, and 目視確認 (staff compare the card photo; no PIN).

The PIN is typed by the patient on the numeric pad, shown masked, sent once to the card and
then forgotten: never kept on the screen object after the attempt, never logged (the worker
has a fixed description, so its arguments never reach Textual's logs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from madoguchi.edge.card import CardError, CardLocked, CardSession, CardTimeout, HolderProof, WrongPin, request_for
from madoguchi.edge.card.jpki import WrongPinFormat
from madoguchi.tui import messages, patient
from madoguchi.tui.screens.base import WAIT_SHOWN_AFTER, DeskScreen
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Digits, LoadingIndicator, Static
from textual.worker import get_current_worker

if TYPE_CHECKING:
    from madoguchi.tui.cards import CardPort

PIN_LENGTH = 4
FALLBACK_JA = ("目視確認（F4）か、マイナポータル画面・お知らせをカードと一緒に（F3）。"
               "どちらもなければ取消（Esc）のあと申立（F5）で受け付けてください")
NO_DATA_JA = ("手元のデータがまだありません（同期待ち）。カードでは確認できないため、"
              "書類（F3）か、取消（Esc）のあと申立（F5）で受け付けてください")
NO_DATA = "NoData"  # CardProblem kind: the card was read, but nothing to check it against yet
STAFF_TITLE = "職員の方へ"


def masked(count: int) -> str:
    return "　".join(["＊"] * count + ["＿"] * (PIN_LENGTH - count))


def big_masked(count: int) -> str:
    """The PIN as large-text mode shows it (Digits glyphs): x typed, - still to type."""
    return " ".join(["x"] * count + ["-"] * (PIN_LENGTH - count))


class PinScreen(DeskScreen):
    """What the patient reads is in `language` (＋ on the numeric pad changes it; every card
    starts in Japanese); what staff must do comes in Japanese, with the F-keys of the footer,
    in its own box below the patient's text (職員の方へ): never mixed into it, and never over it
    as a notification would be on 80x24 (the prompt's box is lower while it shows)."""

    PATIENT_FACING = True
    BINDINGS = [
        Binding("escape", "cancel", "取消", id="desk.pin.cancel"),
        Binding("backspace", "erase", "1文字消す", id="desk.pin.erase"),
        Binding("plus", "language", "言語", id="desk.pin.language", show=False),
        Binding("minus", "larger", "文字を大きく", id="desk.pin.larger", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._digits: list[str] = []
        self.tries_left: int | None = None
        self.locked = False
        self.language = "ja"
        self._message: tuple[tuple[str, ...], dict, bool] = ((), {}, False)  # (text keys, values, error)
        self.busy = True  # reading the card: keys wait
        self.session: CardSession | None = None

    def on_unmount(self) -> None:
        if self.session is not None:
            self.app.run_worker(self.session.close, thread=True, group="card-close", exit_on_error=False,
                                description="close card session")

    def compose_body(self) -> ComposeResult:
        with Vertical(id="pin"):
            yield Static(id="pin-prompt", markup=False)
            yield Static(masked(0), id="pin-dots")
            yield Digits(big_masked(0), id="pin-big")
            yield Static(id="pin-tries", markup=False)
            yield Static("", id="pin-message", markup=False)
            yield LoadingIndicator(id="pin-spinner")
            yield Static(id="pin-choices")
            yield Static(id="pin-staff")

    def on_mount(self) -> None:
        self.show()
        self.read_tries()
        self._watchdog = self.set_timer(self.app.card_timeout, self._timed_out)

    # ---- what the patient reads --------------------------------------------------

    def show(self) -> None:
        """Every patient-facing text, in the patient's language."""
        say = lambda key, **values: patient.text(self.language, key, **values)  # noqa: E731
        self.query_one("#pin-prompt", Static).update(say("locked_prompt" if self.locked else "prompt"))
        tries = self.query_one("#pin-tries", Static)
        if self.locked:
            tries.update(say("locked"))
        elif self.tries_left is None:
            tries.update(say("reading"))
        else:
            tries.update(say("tries", n=self.tries_left))
        tries.set_class(self.locked or (self.tries_left is not None and self.tries_left <= 1), "-error")
        self.query_one("#pin-dots").set_class(self.locked, "-hidden")  # nothing to type on a locked card
        keys, values, error = self._message
        label = self.query_one("#pin-message", Static)
        label.update("\n".join(say(key, **values) for key in keys))
        label.set_class(error, "-error")
        choices = Text("＋ ")
        for code in patient.LANGUAGES:
            choices.append(f" {patient.LANGUAGE_NAMES[code]} ", style="reverse bold" if code == self.language else "")
        choices.append(f"　－ {say('larger')}")
        self.query_one("#pin-choices", Static).update(choices)

    def _tell(self, *keys: str, error: bool = False, **values: object) -> None:
        self._message = (keys, values, error)
        self.show()

    def _tell_staff(self, message_ja: str) -> None:
        self.query_one("#pin-staff", Static).update(Text.assemble((f"{STAFF_TITLE}　", "bold"), message_ja))
        self.add_class("-staff")

    def action_language(self) -> None:
        self.language = patient.next_language(self.language)
        self.show()

    def action_larger(self) -> None:
        self.toggle_class("-large")

    def _show_digits(self) -> None:
        self.query_one("#pin-dots", Static).update(masked(len(self._digits)))
        self.query_one("#pin-big", Digits).update(big_masked(len(self._digits)))

    # ---- the card ------------------------------------------------------------------

    def _busy(self, busy: bool) -> None:
        """Keys wait while busy; the spinner shows from the start for reading the card, after
        WAIT_SHOWN_AFTER for the PIN (`_show_checking`)."""
        self.busy = busy
        if busy:
            self._watchdog = self.set_timer(self.app.card_timeout, self._timed_out)
        else:
            self._watchdog.stop()
            self.query_one("#pin-spinner").display = False

    def _show_checking(self) -> None:
        if self.busy:
            self.query_one("#pin-spinner").display = True
            self._tell("checking")

    def _timed_out(self) -> None:
        """The card or reader hangs: stop waiting for it and offer the fallback."""
        self.workers.cancel_group(self, "card")
        self._busy(False)
        self._clear_digits()
        self._tell("no_answer", error=True)
        self._tell_staff(f"カードが応答しません。カードを置き直すか、{FALLBACK_JA}")

    def on_card_holder_proven(self, message: messages.CardHolderProven) -> None:
        """The card is done with: the patient answers the consent questions, then the check runs
        (its own timeout, on the result screen)."""
        from madoguchi.tui.screens.consent import ConsentScreen

        self._busy(False)
        self.tries_left = 0  # the PIN was used: no new attempt on this screen
        self.app.show(ConsentScreen(message.request, self.language, self.has_class("-large")))

    @work(thread=True, exclusive=True, exit_on_error=False, group="card", description="read PIN tries")
    def read_tries(self) -> None:
        try:
            port = self.app.card_port
            assert port is not None  # this screen is shown for a card in the port's reader
            self.session = port.session()
            tries = self.session.pin_tries_left()
        except CardError as exc:
            if not get_current_worker().is_cancelled:
                self.post_message(messages.CardProblem(type(exc).__name__, exc.message_ja))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(messages.CardTriesRead(tries))

    def on_card_tries_read(self, message: messages.CardTriesRead) -> None:
        self._busy(False)
        self.show_tries(message.tries_left)
        if message.tries_left <= 1:
            self._clear_digits()  # typed ahead, before the warning was on the screen: never sent
        self._submit_if_complete()

    def show_tries(self, tries_left: int, wrong: bool = False) -> None:
        self.tries_left = tries_left
        if tries_left == 0:
            self._lock()
        elif tries_left == 1:
            self._tell(*(("wrong",) if wrong else ()), "last_try", error=True, n=tries_left)
            self._tell_staff(f"暗証番号の残りが1回です。{FALLBACK_JA}")
        else:
            self._tell(*(("wrong",) if wrong else ()), error=wrong, n=tries_left)

    def _lock(self) -> None:
        self.tries_left = 0
        self.locked = True
        self._tell("locked_message", error=True)
        self._tell_staff(f"暗証番号がロックされています（解除は市区町村窓口）。{FALLBACK_JA}")

    def _typing(self) -> bool:
        """Digits are taken while the PIN can be typed, and already while the card is being read:
        the patient types as soon as the card is down, and a digit dropped then is a PIN typed
        wrong (bench/tui_latency.py lost the first one). They are sent once the tries are known."""
        return (self.busy and self.tries_left is None) or (not self.busy and bool(self.tries_left))

    def on_key(self, event: events.Key) -> None:
        if not self._typing():
            return
        if event.character and event.character.isascii() and event.character.isdigit():
            event.stop()
            if len(self._digits) < PIN_LENGTH:
                self._digits.append(event.character)
                self._show_digits()
            self._submit_if_complete()

    def _submit_if_complete(self) -> None:
        if len(self._digits) == PIN_LENGTH and not self.busy and self.tries_left and not self.locked:
            pin, self._digits = "".join(self._digits), []
            self._busy(True)
            self.prove(pin)
            self.set_timer(WAIT_SHOWN_AFTER, self._show_checking)

    def _clear_digits(self) -> None:
        self._digits = []
        self._show_digits()

    def action_erase(self) -> None:
        if self._digits and self._typing():
            self._digits.pop()
            self._show_digits()

    def action_cancel(self) -> None:
        self._digits = []
        self.workers.cancel_group(self, "card")
        self.app.go_idle()

    # Not exclusive: a PIN typed ahead is sent from the handler of the tries read, before that
    # worker has quite ended, and an exclusive start would cancel it. `busy` keeps it to one.
    @work(thread=True, exit_on_error=False, group="card", description="prove card holder")
    def prove(self, pin: str) -> None:
        try:
            assert self.session is not None  # opened by read_tries: the tries are known
            proof = self.session.prove_holder(pin)
        except CardError as exc:
            if not get_current_worker().is_cancelled:
                self.post_message(messages.CardProblem(type(exc).__name__, exc.message_ja,
                                                       getattr(exc, "tries_left", None)))
            return
        finally:
            del pin
        link = self.app.service.card_link(proof.certificate_der)
        if link is None:
            if not get_current_worker().is_cancelled:
                self.post_message(messages.CardProblem(NO_DATA, NO_DATA_JA))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(messages.CardHolderProven(request_for(proof, link)))

    def show_failure(self, message_ja: str) -> None:
        self._busy(False)
        self._tell("ask_staff", error=True)
        self._tell_staff(f"{message_ja}\n{FALLBACK_JA}")

    def on_card_problem(self, message: messages.CardProblem) -> None:
        self._busy(False)
        self._clear_digits()
        if message.kind == WrongPin.__name__ and message.tries_left is not None:
            self.show_tries(message.tries_left, wrong=True)
            return
        if message.kind == CardLocked.__name__:
            self._lock()
            return
        if message.kind == WrongPinFormat.__name__:
            self._tell("pin_format", error=True)
            return
        if message.kind == NO_DATA:
            self.tries_left = 0  # nothing more to type
            self._tell("ask_staff", error=True)
            self._tell_staff(message.message_ja)
            return
        self._tell("no_answer" if message.kind == CardTimeout.__name__ else "card_error", error=True)
        self._tell_staff(f"{message.message_ja}\n{FALLBACK_JA}")


class VisualCheckScreen(DeskScreen):
    """目視確認: the card's certificate is read without the PIN; staff confirm the photo."""

    BINDINGS = [
        Binding("escape", "back", "戻る", id="desk.back", show=False),
        Binding("f10", "confirm", "写真と本人が一致", id="desk.visual.confirm"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.proof: HolderProof | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="visual"):
            yield Static("目視確認：カードの顔写真と、目の前の患者さんを見比べてください", classes="form-title")
            yield Static("カードを読み取っています", id="visual-message", markup=False)
            yield LoadingIndicator(id="visual-spinner")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            return self.proof is not None
        return True

    def on_mount(self) -> None:
        port = self.app.card_port
        if port is None:
            self._show("カードリーダーがありません。書類（F3）か番号入力（F2）で受け付けてください", error=True)
            return
        self._watchdog = self.set_timer(self.app.card_timeout, self._timed_out)
        self.read(port)

    def _show(self, message: str, error: bool = False) -> None:
        self.query_one("#visual-spinner").display = False
        label = self.query_one("#visual-message", Static)
        label.update(message)
        label.set_class(error, "-error")

    def _timed_out(self) -> None:
        self.workers.cancel_group(self, "card")
        self._show("カードが応答しません。書類（F3）か番号入力（F2）で受け付けてください", error=True)

    @work(thread=True, exclusive=True, exit_on_error=False, group="card", description="read for visual check")
    def read(self, port: CardPort) -> None:
        try:
            proof = port.session().read_for_visual_check()
        except CardError as exc:
            if not get_current_worker().is_cancelled:
                self.post_message(messages.CardProblem(type(exc).__name__, exc.message_ja))
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._read_done, proof)

    def _read_done(self, proof: HolderProof) -> None:
        self._watchdog.stop()
        self.proof = proof
        self._show("写真と本人が一致したら F10 を押してください（目視確認として記録されます）")
        self.refresh_bindings()

    def on_card_problem(self, message: messages.CardProblem) -> None:
        self._watchdog.stop()
        self.proof = None
        self.refresh_bindings()
        if message.kind == NO_DATA:
            self._show(message.message_ja, error=True)
            return
        self._show(f"{message.message_ja}\n書類（F3）か番号入力（F2）で受け付けてください", error=True)

    def action_confirm(self) -> None:
        if self.proof is not None:
            self.confirm(self.proof)

    @work(thread=True, exclusive=True, exit_on_error=False, group="card", description="visual check")
    def confirm(self, proof: HolderProof) -> None:
        link = self.app.service.card_link(proof.certificate_der)
        if link is None:
            self.post_message(messages.CardProblem(NO_DATA, NO_DATA_JA))
            return
        self.post_message(messages.CardHolderProven(request_for(proof, link)))

    def on_card_holder_proven(self, message: messages.CardHolderProven) -> None:
        """Staff confirmed the photo: the patient answers the consent questions, then the check."""
        from madoguchi.tui.screens.consent import ConsentScreen

        self.app.show(ConsentScreen(message.request))
