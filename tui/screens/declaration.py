"""申立: the 被保険者資格申立書, for a patient who presented the マイナンバーカード when the card
check failed or could not run; the copay is provisional. Staff type the card's printed (券面)
name, birth date, sex and address off the card. A patient without the card (and without a valid
資格確認書) is not a 申立 case: the same screen records the 10割 path (docs/domain.md section 3)."""

from __future__ import annotations

from datetime import date

from madoguchi.edge.model import DocumentKind, IncomeClass, age_band_ja, copay_by_age
from madoguchi.edge.numbers import MAX_LENGTH, InputError, parse_birth_date, to_fullwidth_kana
from madoguchi.edge.verdict import CheckRequest, Declaration, Method
from madoguchi.tui.kana import romaji_to_katakana
from madoguchi.tui.screens.base import DeskScreen
from madoguchi.tui.widgets.field import Field, japanese_message
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Select, Static

FIELDS = ("name", "kana", "birth", "address", "insurer", "workplace", "phone", "card_name", "card_birth",
          "card_address")
CARD_CHOICES = [("選んでください", ""), ("あり：カードを提示（申立）", "yes"),
                ("なし：カードも有効な資格確認書もない（10割）", "no")]
SEX_CHOICES = [("選んでください", 0), ("男", 1), ("女", 2)]
WITHOUT_CARD_JA = ("カードがない方は申立の対象外です。有効な資格確認書もなければ10割負担です（F10で記録）。"
                   "領収書を保管し、保険者に療養費を請求できることをお伝えください")
INCOME_CHOICES = [("不明（一般として計算）", ""), ("一般・低所得", IncomeClass.GENERAL.value),
                  ("一定以上（75歳以上）", IncomeClass.CERTAIN.value), ("現役並み", IncomeClass.ACTIVE.value)]


KANA_ERROR_JA = "フリガナはカナかローマ字だけで入力してください（例 satou hanako）"


def kana_of(text: str) -> str:
    """フリガナ as typed: romaji becomes katakana, half-width kana full-width."""
    return to_fullwidth_kana(romaji_to_katakana(text.strip()))


def is_kana(text: str) -> bool:
    """Only katakana (with ー and ・) and spaces: what a フリガナ may hold."""
    return all("ァ" <= c <= "ヺ" or c in "ー・ 　" for c in text)


class DeclarationScreen(DeskScreen):
    BINDINGS = [
        Binding("escape", "back", "戻る", id="desk.back", show=False),
        Binding("f10", "submit", "保存", id="desk.declaration.submit"),
        Binding("f8", "sample", "見本", id="desk.declaration.sample"),
    ]

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Static("被保険者資格申立書（F10 で保存）：漢字は入力できません。氏名・フリガナはローマ字で"
                         "（フリガナはカナに変わります）", classes="form-title")
            with Horizontal(classes="field"):
                yield Label("カード提示", classes="field-label")
                yield Select(CARD_CHOICES, id="card", value="", allow_blank=False, compact=True)
            yield Static("", id="card-message", classes="field-message")
            yield Field("氏名", "name", max_length=MAX_LENGTH["name"], placeholder="ローマ字可 Sato Hanako")
            yield Field("フリガナ", "kana", max_length=MAX_LENGTH["name_kana"], placeholder="ローマ字可 satou hanako")
            yield Field("生年月日", "birth", max_length=MAX_LENGTH["birth_date"], placeholder="19750102 / S50.1.2")
            yield Field("住所", "address", max_length=MAX_LENGTH["address"])
            yield Field("保険者", "insurer", max_length=MAX_LENGTH["insurer"], placeholder="わかれば")
            yield Field("勤務先", "workplace", max_length=MAX_LENGTH["workplace"], placeholder="わかれば")
            yield Field("電話", "phone", max_length=MAX_LENGTH["phone"])
            with Horizontal(classes="field"):
                yield Label("所得区分", classes="field-label")
                yield Select(INCOME_CHOICES, id="income", value="", allow_blank=False, compact=True)
            yield Static("カードの券面（職員が券面を見て入力。ICチップは読みません）", classes="form-title")
            yield Field("券面氏名", "card_name", max_length=MAX_LENGTH["name"], placeholder="ローマ字可")
            yield Field("券面生年月日", "card_birth", max_length=MAX_LENGTH["birth_date"], placeholder="19750102")
            with Horizontal(classes="field"):
                yield Label("券面性別", classes="field-label")
                yield Select(SEX_CHOICES, id="card_sex", value=0, allow_blank=False, compact=True)
            yield Static("", id="card_sex-message", classes="field-message")
            yield Field("券面住所", "card_address", max_length=MAX_LENGTH["address"])
            yield Static("", id="provisional-copay")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sample":
            return self.app.demo is not None
        return True

    def on_mount(self) -> None:
        if self.app.card_in_reader:  # F5 after a failed card check: the card is still in the reader
            self.query_one("#card", Select).value = "yes"
        self.query_one("#name", Input).focus()

    def _today(self) -> date:
        service = self.app.service
        return service.clock().astimezone(service.policy.timezone).date()

    def on_input_changed(self, event: Input.Changed) -> None:
        row = self.query_one(f"#row-{event.input.id}", Field)
        if event.input.id == "kana":
            kana = kana_of(event.value)
            if not is_kana(kana):
                row.tell(KANA_ERROR_JA)
            else:
                row.tell(kana if kana != event.value.strip() else "", ok=True)
        else:  # a message said this field was missing or wrong: it is being corrected
            row.tell("")
        self.show_copay()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "card":
            self.query_one("#card-message", Static).update(WITHOUT_CARD_JA if event.value == "no" else "")
        elif event.select.id == "card_sex":
            self.query_one("#card_sex-message", Static).update("")
        self.show_copay()

    def show_copay(self) -> None:
        label = self.query_one("#provisional-copay", Static)
        if self.query_one("#card", Select).value == "no":
            label.update("負担割合：10割（申立の対象外）")
            return
        today = self._today()
        try:
            birth = parse_birth_date(self.query_one("#birth", Input).value, today)
        except InputError:
            label.update("仮の負担割合：生年月日を入力すると表示します")
            return
        copay = copay_by_age(birth, today, self.income())
        label.update(f"仮の負担割合：{copay // 10}割（{age_band_ja(birth, today)}）")

    def income(self) -> IncomeClass | None:
        value = self.query_one("#income", Select).value
        return IncomeClass(value) if value else None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_submit()

    def action_sample(self) -> None:
        demo = self.app.demo
        if demo is None:  # F8 is offered only in the demo (check_action)
            return
        for name, value in demo.sample_declaration().items():
            if name == "card":
                self.query_one("#card", Select).value = value
            elif name == "card_sex":
                self.query_one("#card_sex", Select).value = int(value)
            else:
                self.query_one(f"#{name}", Input).value = value

    def action_submit(self) -> None:
        card = self.query_one("#card", Select)
        if card.value == "no":
            self.app.start_check(CheckRequest(Method.SELF_PAY, DocumentKind.NONE))
            return
        values = {f: self.query_one(f"#{f}", Input).value.strip() for f in FIELDS}
        today = self._today()
        errors: dict[str, str] = {}
        if not values["name"]:
            errors["name"] = "氏名を入力してください"
        kana = kana_of(values["kana"])
        if not kana:
            errors["kana"] = "フリガナを入力してください"
        elif not is_kana(kana):
            errors["kana"] = KANA_ERROR_JA
        birth, card_birth = (self._birth(values, name, errors, today) for name in ("birth", "card_birth"))
        if not values["card_name"]:
            errors["card_name"] = "券面の氏名を入力してください"
        if not values["card_address"]:
            errors["card_address"] = "券面の住所を入力してください"
        for name in FIELDS:
            if name in errors:
                self.query_one(f"#row-{name}", Field).tell(errors[name])
        sex: Select[int] = self.query_one("#card_sex", Select)
        card_sex = sex.selection or 0  # 0: not chosen
        missing = [] if card.value == "yes" else [(card, "#card-message", "カードの提示の有無を選んでください")]
        if not card_sex:
            missing.append((sex, "#card_sex-message", "券面の性別を選んでください"))
        for _, label, message in missing:
            self.query_one(label, Static).update(message)
        if missing or errors or birth is None or card_birth is None:
            # the first field typed wrong, else the first choice not made
            first = next((f for f in FIELDS if f in errors), None)
            (self.query_one(f"#{first}") if first else missing[0][0]).focus()
            return
        declaration = Declaration(
            name=values["name"], name_kana=kana, birth_date=birth, address=values["address"],
            insurer=values["insurer"], workplace=values["workplace"], phone=values["phone"],
            income_class=self.income(), card_name=values["card_name"], card_birth_date=card_birth,
            card_sex=card_sex, card_address=values["card_address"],
        )
        self.app.start_check(CheckRequest(Method.DECLARATION, DocumentKind.DECLARATION, card_presented=True,
                                          declaration=declaration))

    @staticmethod
    def _birth(values: dict[str, str], name: str, errors: dict[str, str], today: date) -> date | None:
        try:
            return parse_birth_date(values[name], today)
        except InputError as exc:
            errors[name] = japanese_message(exc, "生年月日が正しくありません")
            return None
