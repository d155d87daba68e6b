"""書類・スキャン: a scanned code shown for confirmation before the check.

The My Number (card-back QR) is refused on screen; nothing of it is kept. 資格情報のお知らせ /
マイナポータル codes carry no data: the desk asks for the printed numbers and for the card.
"""

from __future__ import annotations

from madoguchi.edge.model import DocumentKind
from madoguchi.edge.numbers import InputError, date_ja
from madoguchi.edge.qr.codes import ScanKind, ScanResult, ScanSource, check_request, classify
from madoguchi.tui.screens.base import DeskScreen
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

HELP_JA = (
    ("院外処方箋のQR（JAHIS）", "内容を確認し、F10 で資格を確認"),
    ("診察券・受付票のバーコード", "F10 で資格を確認"),
    ("お知らせ・マイナポータルのQR", "印字・表示の番号を入力（カードと一緒に）"),
    ("マイナンバーカード裏面のQR", "読み取りません（何も記録しません）"),
)


def scan_help() -> Table:
    """What the scanner reads and what follows, until the first scan."""
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(ratio=1, overflow="fold")
    table.add_row(Text("読み取れるもの", style="bold"), "")
    for code, then in HELP_JA:
        table.add_row(f"  {code}", then)
    table.add_row("", "")
    table.add_row(Text("読めないとき", style="bold"), "番号入力 F2、書類がなければ申立 F5")
    return table


KIND_JA = {
    ScanKind.PRESCRIPTION: "院外処方箋", ScanKind.E_PRESCRIPTION_COPY: "電子処方箋（控え）",
    ScanKind.PORTAL_LINK: "お知らせ・マイナポータル", ScanKind.PATIENT_CARD: "診察券",
    ScanKind.CHECK_SLIP: "受付票", ScanKind.MY_NUMBER: "マイナンバー", ScanKind.UNRECOGNISED: "不明なコード",
}


def scan_details(result: ScanResult) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(ratio=1, overflow="fold")

    def line(label: str, value: str, style: str = "") -> None:
        table.add_row(label, Text(value, style=style))

    data = result.prescription
    if data is not None:
        if data.name:
            line("氏名", data.name + (f"（{data.name_kana}）" if data.name_kana else ""))
        if data.name_needs_visual_check:
            line("", "券面・書類で氏名を確認", style="bold black on yellow")
        if data.birth_date:
            line("生年月日", date_ja(data.birth_date))
        line("保険者番号", data.insurer_number + ("" if data.insurer_number_valid else "（検証番号が合いません）"))
        line("記号・番号・枝番", f"{data.symbol or '-'}・{data.number or '-'}・{data.branch or '-'}")
    if result.patient_id:
        line("患者番号", result.patient_id)
    for warning in result.warnings:
        line("注意", warning, style="bold yellow")
    return table


class ScanScreen(DeskScreen):
    ACCEPTS_SCANS = True
    BINDINGS = [
        Binding("escape", "back", "戻る", id="desk.back", show=False),
        Binding("f10", "confirm", "次へ", id="desk.scan.confirm"),
    ]

    def __init__(self, payload: bytes | None = None, source: ScanSource = ScanSource.SERIAL) -> None:
        super().__init__()
        self.result: ScanResult | None = None
        self._first = (payload, source) if payload is not None else None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="scan"):
            yield Static("書類・QR：スキャナーで読み取ってください。番号の入力は F2 です", classes="form-title")
            yield Static("", id="scan-kind")
            yield Static("", id="scan-message", markup=False)
            yield Static("", id="scan-details")
            yield Static(scan_help(), id="scan-help")

    def on_mount(self) -> None:
        if self._first is not None:
            self.show_scan(*self._first)
            self._first = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            return self.result is not None and (self.result.has_numbers or bool(self.result.patient_id)
                                                or self.result.kind == ScanKind.PORTAL_LINK)
        return True

    def show_scan(self, payload: bytes, source: ScanSource) -> None:
        service = self.app.service
        today = service.clock().astimezone(service.policy.timezone).date()
        # A keyboard wedge typed characters: classify them as text, not as Shift_JIS bytes.
        code = payload.decode("utf-8", errors="replace") if source == ScanSource.WEDGE else payload
        result = classify(code, source, self.app.scan_codes, today)
        del payload, code  # a refused code is not kept anywhere
        self.result = None if result.refused else result
        self.query_one("#scan-help").display = False
        kind = self.query_one("#scan-kind", Static)
        kind.update(f"読み取り不可：{KIND_JA[result.kind]}" if result.refused else KIND_JA[result.kind])
        kind.set_class(result.refused, "-refused")
        message = result.message_ja
        if result.kind == ScanKind.PORTAL_LINK:
            message += "\nカードと一緒に提示された場合のみ使えます。F10 で印字の番号を入力します"
        elif self.result is not None and (self.result.has_numbers or self.result.patient_id):
            message += "\n内容を確認して F10 で資格を確認します"
        self.query_one("#scan-message", Static).update(message)
        self.query_one("#scan-details", Static).update(scan_details(result) if not result.refused else "")
        self.refresh_bindings()

    def action_confirm(self) -> None:
        if self.result is None:
            return
        if self.result.kind == ScanKind.PORTAL_LINK:  # no numbers in the code: type the printed ones
            from madoguchi.tui.screens.numbers import NumbersScreen

            self.app.show(NumbersScreen(DocumentKind.NOTICE))
            return
        try:
            request = check_request(self.result)
        except InputError as exc:
            self.query_one("#scan-message", Static).update(str(exc))
            return
        self.app.start_check(request)
