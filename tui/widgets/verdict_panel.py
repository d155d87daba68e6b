"""The big verdict panel: 確認OK / 資格なし／無効 / 要確認, the record, warnings, next steps."""

from __future__ import annotations

from madoguchi.edge.model import DOCUMENT_RULES
from madoguchi.edge.numbers import date_ja
from madoguchi.edge.verdict import UNREPRESENTABLE_MARKS, CheckRequest, Method, Outcome, Source, Verdict, age_ja
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

OUTCOME_JA = {Outcome.OK: "確認OK", Outcome.NG: "資格なし／無効", Outcome.CONFIRM: "要確認"}
# A shape beside the colour and the word: the band reads the same without colour.
OUTCOME_MARK = {Outcome.OK: "〇", Outcome.NG: "✕", Outcome.CONFIRM: "？"}
METHOD_JA = {Method.CARD: "マイナ保険証・暗証番号", Method.VISUAL: "マイナ保険証・目視確認（顔写真）",
             Method.NUMBERS: "番号入力", Method.QR: "QRコード", Method.PATIENT_ID: "診察券", Method.DECLARATION: "申立",
             Method.SELF_PAY: "書類なし（10割）"}


def band_ja(verdict: Verdict, request: CheckRequest | None = None) -> str:
    """The band: shape, word, and for a card how the holder was confirmed (目視 is not a PIN)."""
    text = f"{OUTCOME_MARK[verdict.outcome]}  {OUTCOME_JA[verdict.outcome]}"
    if request is not None and request.method == Method.VISUAL:
        text += "　目視確認"
    return text


def method_ja(request: CheckRequest) -> str:
    if request.method in (Method.NUMBERS, Method.QR):
        rule = DOCUMENT_RULES.get(request.document)
        return f"{METHOD_JA[request.method]}（{rule.label_ja}）" if rule else METHOD_JA[request.method]
    return METHOD_JA[request.method]


def source_ja(verdict: Verdict) -> str:
    if verdict.source == Source.ONLINE:
        return "オンライン確認"
    if verdict.source == Source.CACHE:
        # The age of this patient's record (when the national system last confirmed it), not
        # the age of the last sync that the status bar shows.
        age = (f"この方の資格は{age_ja(verdict.age_seconds)}の確認" if verdict.age_seconds is not None
               else "手元の情報")
        return f"オフライン：{age}"
    if verdict.source == Source.DECLARATION:
        return "申立（未確認）"
    return "確認できず"


def details(verdict: Verdict, request: CheckRequest | None = None) -> Table:
    """The record's fields, one per row, as the receptionist reads them; long values wrap in
    their own column."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(ratio=1, overflow="fold")

    def line(label: str, value: str | Text, style: str = "") -> None:
        table.add_row(label, value if isinstance(value, Text) else Text(value, style=style))

    record = verdict.record
    if request is not None:
        line("確認方法", method_ja(request))
    if record:
        name = Text(record.name)
        if record.name_kana:
            name.append(f"（{record.name_kana}）")
        if any(mark in record.name or mark in record.name_other for mark in UNREPRESENTABLE_MARKS):
            name.append("  ")
            name.append("券面・書類で氏名を確認", style="bold black on yellow")
        line("氏名", name)
        line("生年月日", date_ja(record.birth_date))
        if record.is_welfare:
            line("医療扶助", f"公費負担者番号 {record.insurer_number}・受給者番号 {record.number}")
            line("福祉事務所", record.welfare_office or record.insurer_name or "-")
        else:
            line("保険者", f"{record.insurer_name}（{record.insurer_number}）")
            line("記号・番号・枝番", f"{record.symbol or '-'}・{record.number}・{record.branch or '-'}　"
                              f"{record.personal_family_ja}")
    elif request is not None and request.declaration is not None:
        declared = request.declaration
        line("氏名（申立）", f"{declared.name}（{declared.name_kana}）")
        line("生年月日", date_ja(declared.birth_date))
        if declared.card_name:
            card_birth = date_ja(declared.card_birth_date) if declared.card_birth_date else "-"
            line("カード", f"提示あり　券面：{declared.card_name}、{card_birth}")
    if verdict.copay_percent is not None:
        line("負担割合", f"{verdict.copay_percent // 10}割" + ("（仮）" if verdict.provisional_copay else "")
             + ("（保険）" if verdict.charge else ""))
    for fund in verdict.funds:
        line("公費", fund.ja(), style="" if fund.usable else "bold yellow")
    if verdict.charge:
        line("窓口負担", verdict.charge.ja, style="bold" if verdict.charge.known else "bold yellow")
    if record and record.limit_class:
        line("限度額区分", f"{record.limit_class_ja}（{record.limit_class}）")
    if record and record.specific_diseases:
        line("特定疾病", "、".join(record.specific_diseases))
    line("情報", source_ja(verdict))
    for warning in verdict.warnings:
        line("注意", warning.ja, style="bold yellow")
    if verdict.outcome != Outcome.OK:
        for step in verdict.next_steps_ja:
            line("次に", step)
    return table


class VerdictPanel(Vertical):
    def __init__(self, verdict: Verdict, request: CheckRequest | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.verdict = verdict
        self.request = request

    def compose(self) -> ComposeResult:
        outcome = self.verdict.outcome
        yield Static(band_ja(self.verdict, self.request), id="verdict-band", classes=f"-{outcome.value}")
        yield Static(Text(self.verdict.headline_ja), id="verdict-headline")
        with VerticalScroll(id="verdict-details"):
            yield Static(details(self.verdict, self.request))
