"""番号入力: a check by the numbers printed on a document, validated as they are typed."""

from __future__ import annotations

from datetime import date

from madoguchi.edge.funds import (
    PublicFund,
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
from madoguchi.edge.verdict import CheckRequest, Method, by_medical_ticket
from madoguchi.tui.screens.base import DeskScreen
from madoguchi.tui.screens.consent import ConsentScreen
from madoguchi.tui.widgets.field import Field, japanese_message
from madoguchi.tui.widgets.fund_rows import FundRows
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Checkbox, Input, Label, Select, Static

DOCUMENTS = (DocumentKind.ELIGIBILITY_CERTIFICATE, DocumentKind.NOTICE, DocumentKind.PORTAL,
             DocumentKind.LEGACY_CARD, DocumentKind.MEDICAL_TICKET)
FIELDS = ("insurer", "symbol", "number", "branch", "birth", "valid_until")


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
            yield FundRows(id="funds")  # 公費: 受給者証 or 医療券
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
        return DOCUMENT_RULES[self.chosen_document()].requires_card

    def chosen_document(self) -> DocumentKind:
        return DocumentKind(self.query_one("#document", Select).value)  # the Select has no blank

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

    def build_request(self) -> tuple[CheckRequest | None, dict[str, str]]:
        """The request, or the errors by field."""
        v = self.values()
        errors: dict[str, str] = {}
        funds = self.query_one(FundRows).funds(errors)
        document = self.chosen_document()
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
        birth, valid_until = self.dates(v, errors)
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
        birth, valid_until = self.dates(v, errors)
        if errors or welfare is None or birth is None:
            return None, errors
        return by_medical_ticket(welfare, birth, funds, printed_valid_until=valid_until), errors

    def dates(self, v: dict[str, str], errors: dict[str, str]) -> tuple[date | None, date | None]:
        """The birth date and the printed 有効期限 (optional), each error by its field."""
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
        return birth, valid_until

    def action_submit(self) -> None:
        request, errors = self.build_request()
        for name in FIELDS:
            if name in errors:
                self.query_one(f"#row-{name}", Field).tell(errors[name])
        bad_fund = self.query_one(FundRows).show_errors(errors)
        if request is None:
            first = next((f for f in FIELDS if f in errors), None) or bad_fund
            self.query_one(f"#{first}", Input).focus()
            return
        if self.needs_card() and not request.card_presented:
            self.tell_card("カードを確認してチェックしてください（なければ申立 F5）")
            self.query_one("#card-presented", Checkbox).focus()
            return
        self.app.push_screen(ConsentScreen(request))  # the patient is at the desk: they answer
