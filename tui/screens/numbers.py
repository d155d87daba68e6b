"""番号入力: a check by the numbers printed on a document, validated as they are typed."""

from __future__ import annotations

from datetime import date

from madoguchi.edge.funds import (
    MAX_FUNDS,
    PAYER_DIGITS,
    RECIPIENT_DIGITS,
    PublicFund,
    fund_name_ja,
    number_problem,
    parse_fund,
)
from madoguchi.edge.model import DOCUMENT_RULES, DocumentKind
from madoguchi.edge.numbers import (
    MAX_LENGTH,
    InputError,
    date_ja,
    normalize_branch,
    normalize_symbol,
    parse_birth_date,
    parse_insurer_number,
)
from madoguchi.edge.verdict import CheckRequest, Method
from madoguchi.tui.screens.base import DeskScreen
from madoguchi.tui.widgets.field import DeskInput, Field, japanese_message
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Checkbox, Input, Label, Select, Static

DOCUMENTS = (DocumentKind.ELIGIBILITY_CERTIFICATE, DocumentKind.NOTICE, DocumentKind.PORTAL,
             DocumentKind.LEGACY_CARD, DocumentKind.MEDICAL_TICKET)
FIELDS = ("insurer", "symbol", "number", "branch", "birth", "valid_until")
FUND_ROWS = tuple(f"fund{i}" for i in range(1, MAX_FUNDS + 1))


def insurer_feedback(text: str) -> tuple[str, bool]:
    """(message, ok) for the 保険者番号 typed so far: the check digit is verified as soon as
    the length is complete."""
    digits = normalize_symbol(text)
    if not digits:
        return "", False
    if not digits.isdigit():
        return "数字だけを入力してください", False
    if len(digits) < 6:
        return f"入力中（8桁、国保は6桁）: {len(digits)}桁", False
    if len(digits) == 7:
        return "入力中（8桁、国保は6桁）: 7桁", False
    try:
        number = parse_insurer_number(digits)
    except InputError as exc:
        return japanese_message(exc, "保険者番号が正しくありません"), False
    return f"OK {number.kind}", True


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


def birth_feedback(text: str, today: date) -> tuple[str, bool]:
    if not text.strip():
        return "", False
    try:
        value = parse_birth_date(text, today)
    except InputError as exc:
        return japanese_message(exc, "生年月日が正しくありません（例 19750102、S50.1.2、3500102）"), False
    return date_ja(value), True


class NumbersScreen(DeskScreen):
    BINDINGS = [
        Binding("escape", "back", "戻る", id="desk.back", show=False),
        Binding("f10", "submit", "確認", id="desk.numbers.submit"),
    ]

    def __init__(self, document: DocumentKind = DocumentKind.ELIGIBILITY_CERTIFICATE) -> None:
        super().__init__()
        self.document = document

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Static("番号入力：書類に書かれた番号を入力し、Enter か F10 で確認します", classes="form-title")
            yield Field("保険者番号", "insurer", max_length=MAX_LENGTH["insurer_number"], placeholder="8桁（国保6桁）")
            yield Field("記号", "symbol", max_length=MAX_LENGTH["symbol"])
            yield Field("番号", "number", max_length=MAX_LENGTH["number"])
            yield Field("枝番", "branch", max_length=MAX_LENGTH["branch"], placeholder="2桁")
            yield Field("生年月日", "birth", max_length=MAX_LENGTH["birth_date"], placeholder="19750102 / S50.1.2")
            yield Field("有効期限", "valid_until", max_length=MAX_LENGTH["birth_date"], placeholder="印字があれば")
            for index, row in enumerate(FUND_ROWS, 1):
                # 公費: 受給者証 or 医療券; the next row appears once this one is filled.
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
            with Horizontal(classes="field"):
                yield Label("書類", classes="field-label")
                yield Select([(DOCUMENT_RULES[k].label_ja, k) for k in DOCUMENTS], id="document",
                             value=self.document, allow_blank=False, compact=True)
            with Horizontal(classes="field", id="row-card-presented"):
                yield Label("", classes="field-label")
                yield Checkbox("マイナンバーカードも提示された", id="card-presented", compact=True)
                yield Label("", id="card-presented-message", classes="field-message", markup=False)

    def on_mount(self) -> None:
        self.query_one("#insurer", Input).focus()
        self.tell_card("")

    def _today(self) -> date:
        service = self.app.service
        return service.clock().astimezone(service.policy.timezone).date()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("fund"):
            self.tell_fund(event.input.id.partition("-")[0])
            return
        row = self.query_one(f"#row-{event.input.id}", Field)
        if event.input.id == "insurer":
            row.tell(*insurer_feedback(event.value))
        elif event.input.id == "birth":
            row.tell(*birth_feedback(event.value, self._today()))
        else:
            row.tell("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_submit()

    def needs_card(self) -> bool:
        """お知らせ / マイナポータル count only with the My Number Card presented as well."""
        return DOCUMENT_RULES[self.query_one("#document", Select).value].requires_card

    def on_select_changed(self, event: Select.Changed) -> None:
        self.tell_card("")

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.tell_card("")

    def tell_card(self, error_ja: str) -> None:
        label = self.query_one("#card-presented-message", Label)
        presented = self.query_one("#card-presented", Checkbox).value
        if error_ja:
            label.update(error_ja)
        elif self.needs_card() and not presented:
            label.update("カードの提示が必要な書類です")
        else:
            label.update("")
        label.set_class(bool(error_ja), "-error")

    def values(self) -> dict[str, str]:
        return {f: self.query_one(f"#{f}", Input).value for f in FIELDS}

    def fund_values(self, row: str) -> tuple[str, str, str]:
        return tuple(self.query_one(f"#{row}-{part}", Input).value for part in ("payer", "recipient", "cap"))  # type: ignore[return-value]

    def tell_fund(self, row: str, error_ja: str = "") -> None:
        message, ok = (error_ja, False) if error_ja else fund_feedback(*self.fund_values(row))
        label = self.query_one(f"#{row}-message", Label)
        label.update(message)
        label.set_class(bool(message) and not ok, "-error")
        label.set_class(ok, "-ok")
        index = FUND_ROWS.index(row)
        if index + 1 < len(FUND_ROWS) and normalize_symbol(self.fund_values(row)[0]):
            self.query_one(f"#row-{FUND_ROWS[index + 1]}").display = True

    def funds(self, errors: dict[str, str]) -> tuple[PublicFund, ...]:
        """The 公費 rows filled in; a bad one goes into `errors` under its row."""
        funds = []
        for row in FUND_ROWS:
            payer, recipient, cap = self.fund_values(row)
            if not (payer.strip() or recipient.strip() or cap.strip()):
                continue
            try:
                funds.append(parse_fund(payer, recipient, cap))
            except InputError as exc:
                errors[row] = japanese_message(exc, "公費の入力が正しくありません")
        return tuple(funds)

    def build_request(self) -> tuple[CheckRequest | None, dict[str, str]]:
        """The request, or the errors by field."""
        v = self.values()
        errors: dict[str, str] = {}
        funds = self.funds(errors)
        document = self.query_one("#document", Select).value
        welfare = next((f for f in funds if f.is_welfare), None)
        if not (v["insurer"].strip() or v["number"].strip()) and (welfare or document == DocumentKind.MEDICAL_TICKET):
            return self.ticket_request(v, funds, welfare, errors)
        insurer = None
        try:
            insurer = parse_insurer_number(v["insurer"])
        except InputError as exc:
            errors["insurer"] = japanese_message(exc, "保険者番号が正しくありません")
        symbol = normalize_symbol(v["symbol"])
        if not symbol and not (insurer and insurer.is_kouki):
            errors["symbol"] = "記号を入力してください（後期高齢者は不要）"
        number = normalize_symbol(v["number"])
        if not number:
            errors["number"] = "番号を入力してください"
        branch = ""
        try:
            branch = normalize_branch(v["branch"])
        except InputError as exc:
            errors["branch"] = japanese_message(exc, "枝番は2桁の数字です")
        today = self._today()
        birth = None
        try:
            birth = parse_birth_date(v["birth"], today)
        except InputError as exc:
            errors["birth"] = japanese_message(exc, "生年月日が正しくありません")
        valid_until = None
        if v["valid_until"].strip():
            try:
                valid_until = parse_birth_date(v["valid_until"], date.max)
            except InputError as exc:
                errors["valid_until"] = japanese_message(exc, "有効期限が正しくありません")
        if errors or insurer is None or birth is None:
            return None, errors
        return CheckRequest(
            Method.NUMBERS, document, insurer_number=insurer.digits, symbol=symbol, number=number,
            branch=branch, birth_date=birth, printed_valid_until=valid_until,
            card_presented=self.query_one("#card-presented", Checkbox).value, public_funds=funds,
        ), errors

    def ticket_request(self, v: dict[str, str], funds: tuple[PublicFund, ...], welfare: PublicFund | None,
                       errors: dict[str, str]) -> tuple[CheckRequest | None, dict[str, str]]:
        """医療券 (医療扶助): no insurance numbers; its 公費負担者番号 and 受給者番号 find the patient."""
        if welfare is None or not welfare.recipient_number:
            errors.setdefault("fund1", "医療券の公費負担者番号（12で始まる8桁）と受給者番号を入力してください")
        birth = valid_until = None
        try:
            birth = parse_birth_date(v["birth"], self._today())
        except InputError as exc:
            errors["birth"] = japanese_message(exc, "生年月日が正しくありません")
        if v["valid_until"].strip():
            try:
                valid_until = parse_birth_date(v["valid_until"], date.max)
            except InputError as exc:
                errors["valid_until"] = japanese_message(exc, "有効期限が正しくありません")
        if errors or welfare is None or birth is None:
            return None, errors
        return CheckRequest(Method.NUMBERS, DocumentKind.MEDICAL_TICKET, insurer_number=welfare.payer_number,
                            number=welfare.recipient_number, birth_date=birth, printed_valid_until=valid_until,
                            public_funds=funds), errors

    def action_submit(self) -> None:
        request, errors = self.build_request()
        for name in FIELDS:
            if name in errors:
                self.query_one(f"#row-{name}", Field).tell(errors[name])
        for row in FUND_ROWS:
            if row in errors:
                self.tell_fund(row, errors[row])
        if request is None:
            first = next((f for f in FIELDS if f in errors), None)
            self.query_one(f"#{first}" if first else f"#{next(r for r in FUND_ROWS if r in errors)}-payer",
                           Input).focus()
            return
        if self.needs_card() and not request.card_presented:
            self.tell_card("カードを確認してチェックしてください（なければ申立 F5）")
            self.query_one("#card-presented", Checkbox).focus()
            return
        self.app.start_check(request)
