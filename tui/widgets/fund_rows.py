"""公費1〜4: a 受給者証's (or 医療券's) 公費負担者番号, 受給者番号 and monthly cap per row, each
number's check digit verified as it is typed; the next row appears once one is filled."""

from __future__ import annotations

from madoguchi.edge.funds import (
    MAX_FUNDS,
    PAYER_DIGITS,
    RECIPIENT_DIGITS,
    PublicFund,
    fund_name_ja,
    number_problem,
    parse_fund,
)
from madoguchi.edge.numbers import InputError, normalize_symbol
from madoguchi.tui.widgets.field import DeskInput, japanese_message
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label

ROWS = tuple(f"fund{i}" for i in range(1, MAX_FUNDS + 1))


def fund_feedback(payer: str, recipient: str, cap: str) -> tuple[str, bool]:
    """(message, ok) for one 公費 row as typed so far: each number's check digit is verified as
    soon as it is complete, and a wrong one is named."""
    payer_digits, recipient_digits = normalize_symbol(payer), normalize_symbol(recipient)
    if not (payer_digits or recipient_digits or cap.strip()):
        return "", False
    for digits, length, label in ((payer_digits, PAYER_DIGITS, "負担者番号"),
                                  (recipient_digits, RECIPIENT_DIGITS, "受給者番号")):
        if digits and (len(digits) >= length or not digits.isdigit()):
            problem = number_problem(digits, length)
            if problem:
                return japanese_message(InputError(problem), f"{label}が正しくありません"), False
        elif digits:
            return f"入力中（{label}{length}桁）: {len(digits)}桁", False
    if len(payer_digits) != PAYER_DIGITS:
        return "公費負担者番号（8桁）を入力してください", False
    try:
        fund = parse_fund(payer, recipient, cap)
    except InputError as exc:
        return japanese_message(exc, "公費の入力が正しくありません"), False
    return f"OK {fund_name_ja(fund.houbetsu)}", True


class FundRows(Vertical):
    def compose(self) -> ComposeResult:
        for index, row in enumerate(ROWS, 1):
            with Horizontal(classes="field fund-row", id=f"row-{row}") as fund_row:
                fund_row.display = index == 1
                yield Label(f"公費{index}", classes="field-label")
                yield DeskInput(id=f"{row}-payer", max_length=PAYER_DIGITS + 2, placeholder="負担者番号8桁",
                                compact=True, select_on_focus=False)
                yield DeskInput(id=f"{row}-recipient", max_length=RECIPIENT_DIGITS + 2, placeholder="受給者番号7桁",
                                compact=True, select_on_focus=False)
                yield DeskInput(id=f"{row}-cap", max_length=9, placeholder="月上限(円)", compact=True,
                                select_on_focus=False)
                yield Label("", id=f"{row}-message", classes="field-message", markup=False)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.tell((event.input.id or "").partition("-")[0])

    def values(self, row: str) -> tuple[str, str, str]:
        payer, recipient, cap = (self.query_one(f"#{row}-{part}", Input).value for part in ("payer", "recipient", "cap"))
        return payer, recipient, cap

    def tell(self, row: str, error_ja: str = "") -> None:
        message, ok = (error_ja, False) if error_ja else fund_feedback(*self.values(row))
        label = self.query_one(f"#{row}-message", Label)
        label.update(message)
        label.set_class(bool(message) and not ok, "-error")
        label.set_class(ok, "-ok")
        index = ROWS.index(row)
        if index + 1 < len(ROWS) and normalize_symbol(self.values(row)[0]):
            self.query_one(f"#row-{ROWS[index + 1]}").display = True

    def funds(self, errors: dict[str, str]) -> tuple[PublicFund, ...]:
        """The rows filled in; a bad one goes into `errors` under its row."""
        funds = []
        for row in ROWS:
            payer, recipient, cap = self.values(row)
            if not (payer.strip() or recipient.strip() or cap.strip()):
                continue
            try:
                funds.append(parse_fund(payer, recipient, cap))
            except InputError as exc:
                errors[row] = japanese_message(exc, "公費の入力が正しくありません")
        return tuple(funds)

    def show_errors(self, errors: dict[str, str]) -> str | None:
        """Each row's error shown; the id of the first bad row's first input, if any."""
        for row in ROWS:
            if row in errors:
                self.tell(row, errors[row])
        return next((f"{row}-payer" for row in ROWS if row in errors), None)
