"""The consent questions, after the PIN (or 目視), on the patient's side of the desk: the ones
the official reader asks (docs/domain.md section 10), as large yes/no choices on the numeric pad.
A check by a document's numbers (番号入力) asks them too, after F10: there the facility itself
obtains the consent of the patient in front of the desk; Esc goes back to the typed numbers.

1 is yes, 2 is no. The check never waits long for them: after `CONSENT_TIMEOUT` seconds the
questions not answered count as not given (0), staff may go on at once with F8 (同意なし, 0 for
what is left) or, in an emergency, F11 (同意取得困難, 3 for every question). The answers go into
the check's request: the terminal's LimitApplicationCertificateRelatedConsFlg and the audit.
The check runs from here (one screen less between the last answer and the verdict), with the
check's own timeout.
"""

from __future__ import annotations

from dataclasses import replace

from madoguchi.edge.verdict import (
    CONSENT_DIFFICULT,
    CONSENT_GIVEN,
    CONSENT_NOT_GIVEN,
    CheckRequest,
    Consent,
    Method,
)
from madoguchi.tui import messages, patient
from madoguchi.tui.screens.base import WAIT_SHOWN_AFTER, DeskScreen
from madoguchi.tui.screens.pin import FALLBACK_JA as CARD_FALLBACK_JA
from madoguchi.tui.screens.result import FALLBACK_JA as NUMBERS_FALLBACK_JA
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import LoadingIndicator, Static
from textual.worker import get_current_worker

CONSENT_TIMEOUT = 30.0  # seconds for both questions: a desk never stalls on them
QUESTIONS = ("consent_limit", "consent_medical")
STAFF_TITLE = "職員の方へ"


class ConsentScreen(DeskScreen):
    PATIENT_FACING = True
    BINDINGS = [
        Binding("escape", "cancel", "取消", id="desk.consent.cancel"),
        Binding("f8", "skip", "同意なしで進む", id="desk.consent.skip"),
        Binding("f11", "emergency", "緊急（同意取得困難）", id="desk.consent.emergency"),
        Binding("plus", "language", "言語", id="desk.consent.language", show=False),
        Binding("minus", "larger", "文字を大きく", id="desk.consent.larger", show=False),
    ]

    def __init__(self, request: CheckRequest, language: str = "ja", large: bool = False) -> None:
        super().__init__()
        self.request = request
        self.language = language
        self.answers: list[str] = []
        self.answered = False
        self._checking: Timer | None = None
        self.set_class(large, "-large")

    def compose_body(self) -> ComposeResult:
        with Vertical(id="consent"):
            yield Static(id="consent-step", markup=False)
            yield Static(id="consent-question", markup=False)
            yield Static(id="consent-keys", markup=False)
            yield LoadingIndicator(id="consent-spinner")

    def on_mount(self) -> None:
        self.query_one("#consent-spinner").display = False
        self.show()
        self._timer = self.set_timer(CONSENT_TIMEOUT, self._timed_out)

    def show(self) -> None:
        n = len(self.answers)
        self.query_one("#consent-step", Static).update(patient.text(self.language, "consent_step", n=n + 1))
        self.query_one("#consent-question", Static).update(patient.text(self.language, QUESTIONS[n]))
        self.query_one("#consent-keys", Static).update(patient.text(self.language, "consent_keys"))

    def on_key(self, event: events.Key) -> None:
        if event.character in ("1", "2") and not self.answered:
            event.stop()
            self.answers.append(CONSENT_GIVEN if event.character == "1" else CONSENT_NOT_GIVEN)
            if len(self.answers) == len(QUESTIONS):
                self._done()
            else:
                self.show()

    def action_language(self) -> None:
        if not self.answered:
            self.language = patient.next_language(self.language)
            self.show()

    def action_larger(self) -> None:
        self.toggle_class("-large")

    def _timed_out(self) -> None:
        self.app.notify("同意の回答がないため「同意なし」として確認します", title=STAFF_TITLE, severity="warning")
        self.action_skip()

    def action_skip(self) -> None:
        """Staff go on: what the patient did not answer is not given."""
        self._done(CONSENT_NOT_GIVEN)

    def action_emergency(self) -> None:
        """An emergency: the patient cannot be asked (同意取得困難) for any question."""
        if not self.answered:
            self.answers = []
            self._done(CONSENT_DIFFICULT)

    def action_cancel(self) -> None:
        self._timer.stop()
        self.workers.cancel_group(self, "check")
        if self.request.method == Method.NUMBERS:
            self.app.pop_screen()  # back to the form, the typed numbers kept
        else:
            self.app.go_idle()

    def _done(self, rest: str = CONSENT_NOT_GIVEN) -> None:
        if self.answered:
            return
        self.answered = True
        self._timer.stop()
        answers = (self.answers + [rest] * len(QUESTIONS))[:len(QUESTIONS)]
        self._timer = self.set_timer(self.app.check_timeout(), self._check_timed_out)
        self.check(replace(self.request, consent=Consent(limit=answers[0], medical=answers[1])))
        self._checking = self.set_timer(WAIT_SHOWN_AFTER, self._show_checking)

    def _show_checking(self) -> None:
        self.query_one("#consent-step", Static).update("")
        self.query_one("#consent-question", Static).update(patient.text(self.language, "checking"))
        self.query_one("#consent-keys").display = False
        self.query_one("#consent-spinner").display = True

    @work(thread=True, exclusive=True, exit_on_error=False, group="check", description="check")
    def check(self, request: CheckRequest) -> None:
        result = self.app.service.check(request)
        if not get_current_worker().is_cancelled:
            self.app.post_message(messages.VerdictReady(request, result))

    def _check_timed_out(self) -> None:
        self.workers.cancel_group(self, "check")
        self.show_failure("確認の応答がありません")

    def show_failure(self, message_ja: str) -> None:
        """The check failed or hangs (the app's one error handler calls this too)."""
        self._timer.stop()
        if self._checking is not None:
            self._checking.stop()
        self.query_one("#consent-step", Static).update("")
        self.query_one("#consent-keys").display = False
        self.query_one("#consent-spinner").display = False
        self.query_one("#consent-question", Static).update(patient.text(self.language, "ask_staff"))
        fallback_ja = NUMBERS_FALLBACK_JA if self.request.method == Method.NUMBERS else CARD_FALLBACK_JA
        self.app.notify(f"{message_ja}\n{fallback_ja}", title=STAFF_TITLE, severity="warning", timeout=15)
