"""公費 (public funds): their numbers, the facility's table of rules, and what the patient pays
at the desk under them (docs/domain.md §10).

A fund is a 公費負担者番号 (8 digits: 法別 2, 都道府県 2, 実施機関 3, check digit) and usually a
公費受給者番号 (7 digits, the last a check digit); both use the insurer numbers' scheme
(docs/domain.md §4). What a fund leaves the patient to pay is a rule looked up by 法別,
optionally narrowed to a 都道府県 and an 実施機関 (a city's 子ども医療費): nothing, a ratio, an
amount per visit, or a ratio up to a monthly cap typed from the 受給者証. The national funds a
desk meets most have embedded defaults; everything else comes from the facility's file
(`fund_rules.csv` in the data directory). A fund without a rule is shown as such: its charge is
never guessed.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from madoguchi.edge.numbers import InputError, check_digit

PAYER_DIGITS = 8
RECIPIENT_DIGITS = 7
MAX_FUNDS = 4  # the JAHIS prescription code carries four (records 27-30)
WELFARE_HOUBETSU = "12"  # 生活保護 (医療扶助)
FUND_RULES_FILE = "fund_rules.csv"

# Names of the 法別 a desk meets most (docs/domain.md §10); 80 and up are municipal programmes.
FUND_NAMES = {
    "12": "生活保護（医療扶助）", "15": "更生医療", "16": "育成医療", "21": "精神通院",
    "52": "小児慢性特定疾病", "54": "難病",
}


def fund_name_ja(houbetsu: str) -> str:
    if houbetsu in FUND_NAMES:
        return FUND_NAMES[houbetsu]
    return "地方公費（市区町村・都道府県）" if houbetsu >= "80" else f"法別{houbetsu}"


# ---- numbers ---------------------------------------------------------------------------------

_LABELS = {PAYER_DIGITS: ("public fund payer number", "公費負担者番号"),
           RECIPIENT_DIGITS: ("public fund recipient number", "公費受給者番号")}


def _digits(text: str | None) -> str:
    return "".join(unicodedata.normalize("NFKC", text or "").split()).replace("-", "")


def number_problem(text: str, length: int) -> str | None:
    """What is wrong with a 公費負担者番号 (length 8) or 受給者番号 (7), as "english (日本語)";
    None when it is good. A wrong check digit is named as such: the last digit."""
    en, ja = _LABELS[length]
    raw = _digits(text)
    if not raw:
        return f"{en} is empty ({ja}が空です)"
    if not raw.isascii() or not raw.isdigit():
        return f"{en} must be digits only ({ja}は数字だけです)"
    if len(raw) != length:
        return f"{en} has {len(raw)} digits, not {length} ({ja}は{length}桁です：{len(raw)}桁)"
    expected = check_digit(raw[:-1])
    if raw[-1] != expected:
        return (f"{en}: its last digit (check digit) is {raw[-1]} but digits 1-{length - 1} give {expected}; "
                f"a digit is mistyped ({ja}の最後の桁（検証番号）が合いません：{raw[-1]} → 計算上は {expected}。"
                f"どこかの桁の入力誤りです)")
    return None


def parse_number(text: str, length: int) -> str:
    """A 公費負担者番号 (8) or 受給者番号 (7), validated; InputError naming the problem."""
    problem = number_problem(text, length)
    if problem:
        raise InputError(problem)
    return _digits(text)


@dataclass(frozen=True)
class PublicFund:
    """One 公費 the patient holds, as typed at the desk, read from a prescription code or
    answered by the terminal (医療扶助)."""

    payer_number: str  # 公費負担者番号
    recipient_number: str = ""  # 公費受給者番号 ("" when the fund has none)
    monthly_cap_yen: int | None = None  # 自己負担上限額 (月額) typed from the 受給者証
    self_pay_yen: int | None = None  # 医療券の本人支払額 (医療扶助), as the terminal answers it
    source: str = "desk"  # desk, qr, terminal

    @property
    def houbetsu(self) -> str:
        return self.payer_number[:2]

    @property
    def prefecture(self) -> str:
        return self.payer_number[2:4]

    @property
    def institution(self) -> str:
        return self.payer_number[4:7]

    @property
    def is_welfare(self) -> bool:
        return self.houbetsu == WELFARE_HOUBETSU

    @property
    def problem(self) -> str | None:
        """A bad number (a code or an answer is not refused for it: the fund is shown as unusable)."""
        problem = number_problem(self.payer_number, PAYER_DIGITS)
        if problem is None and self.recipient_number:
            problem = number_problem(self.recipient_number, RECIPIENT_DIGITS)
        return problem

    def to_json(self) -> dict[str, Any]:
        return {"payer_number": self.payer_number, "recipient_number": self.recipient_number,
                "monthly_cap_yen": self.monthly_cap_yen, "self_pay_yen": self.self_pay_yen, "source": self.source}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PublicFund:
        return cls(str(data["payer_number"]), str(data.get("recipient_number") or ""),
                   data.get("monthly_cap_yen"), data.get("self_pay_yen"), str(data.get("source") or "desk"))


def parse_fund(payer: str, recipient: str = "", monthly_cap: str = "", source: str = "desk") -> PublicFund:
    """A fund typed at the desk: both numbers checked (the recipient number may be left out only
    when the 受給者証 prints none), the cap in yen if given; InputError naming the problem."""
    payer_number = parse_number(payer, PAYER_DIGITS)
    recipient_number = parse_number(recipient, RECIPIENT_DIGITS) if _digits(recipient) else ""
    return PublicFund(payer_number, recipient_number, parse_yen(monthly_cap) if monthly_cap.strip() else None,
                      source=source)


def parse_yen(text: str) -> int:
    raw = _digits(text).replace(",", "").removesuffix("円")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 7:
        raise InputError(f"monthly cap {text[:20]!r} is not an amount in yen (月の上限額は円の金額を数字で入力してください)")
    return int(raw)


# ---- rules -----------------------------------------------------------------------------------

class ChargeKind(str, Enum):
    NONE = "none"  # the fund pays the rest: nothing at the desk
    RATIO = "ratio"  # this ratio of the cost (never more than insurance's)
    PER_VISIT = "per_visit"  # at most this amount a visit (yen)
    RATIO_CAP = "ratio_cap"  # this ratio, up to a monthly cap typed from the 受給者証


@dataclass(frozen=True)
class FundRule:
    houbetsu: str
    charge: ChargeKind
    prefecture: str = ""  # "" = every 都道府県
    institution: str = ""  # "" = every 実施機関
    percent: int | None = None  # RATIO, RATIO_CAP
    yen: int | None = None  # PER_VISIT; RATIO_CAP: a cap for when none is typed
    name: str = ""
    source: str = "default"  # default (embedded) or facility (fund_rules.csv)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.houbetsu, self.prefecture, self.institution

    def describe_ja(self) -> str:
        if self.charge == ChargeKind.NONE:
            return "窓口負担なし"
        if self.charge == ChargeKind.PER_VISIT:
            return f"1回 {self.yen:,}円まで"
        text = ratio_ja(self.percent or 0)
        if self.charge == ChargeKind.RATIO_CAP:
            text += f"（月上限 {self.yen:,}円）" if self.yen is not None else "（月上限は受給者証の額）"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"houbetsu": self.houbetsu, "prefecture": self.prefecture, "institution": self.institution,
                "charge": self.charge.value, "percent": self.percent, "yen": self.yen, "name": self.name,
                "source": self.source, "describe_ja": self.describe_ja()}


# Embedded defaults: only rules set by national law, the same in every city. Municipal funds
# (子ども医療費 and others, 法別 80 and up) differ by city and are left to the facility's file.
DEFAULT_RULES = (
    # 生活保護法 第15条・第34条: 医療扶助 pays the whole cost (the rest after insurance, if any);
    # a 本人支払額 set on the 医療券 is taken from the terminal's answer (docs/domain.md §10).
    FundRule("12", ChargeKind.NONE, name="生活保護（医療扶助）"),
    # 難病の患者に対する医療等に関する法律 (2015): 2割 (insurance's ratio if lower) up to the monthly
    # 自己負担上限額 printed on the 受給者証 (難病情報センター「医療費助成制度」).
    FundRule("54", ChargeKind.RATIO_CAP, percent=20, name="難病（特定医療費）"),
    # 児童福祉法 第19条の2 (2015 改正): 小児慢性特定疾病医療費, 2割 up to the monthly cap on the
    # 受給者証 (小児慢性特定疾病情報センター「医療費助成」).
    FundRule("52", ChargeKind.RATIO_CAP, percent=20, name="小児慢性特定疾病"),
    # 障害者総合支援法 第58条: 自立支援医療 (精神通院 21, 更生医療 15, 育成医療 16), 1割 up to the
    # monthly cap on the 受給者証 (厚生労働省「自立支援医療における利用者負担の基本的な枠組み」).
    FundRule("21", ChargeKind.RATIO_CAP, percent=10, name="自立支援医療（精神通院）"),
    FundRule("15", ChargeKind.RATIO_CAP, percent=10, name="自立支援医療（更生医療）"),
    FundRule("16", ChargeKind.RATIO_CAP, percent=10, name="自立支援医療（育成医療）"),
)

COLUMNS = ("houbetsu", "prefecture", "institution", "charge", "percent", "yen", "name")


@dataclass(frozen=True)
class FundRules:
    """The effective table: the embedded defaults, replaced row by row by the facility's file.
    `problems`: the facility file's bad rows (left out: their funds show as 未設定)."""

    rules: dict[tuple[str, str, str], FundRule] = field(
        default_factory=lambda: {rule.key: rule for rule in DEFAULT_RULES})
    path: Path | None = None  # the facility file read, if any
    problems: tuple[str, ...] = ()

    def rule_for(self, fund: PublicFund) -> FundRule | None:
        """The most specific rule: 法別+都道府県+実施機関, else 法別+都道府県, else 法別."""
        for key in ((fund.houbetsu, fund.prefecture, fund.institution), (fund.houbetsu, fund.prefecture, ""),
                    (fund.houbetsu, "", "")):
            if key in self.rules:
                return self.rules[key]
        return None

    def to_json(self) -> dict[str, Any]:
        return {"file": str(self.path) if self.path else None, "problems": list(self.problems),
                "rules": [self.rules[key].to_json() for key in sorted(self.rules)]}


def load_fund_rules(path: Path) -> FundRules:
    """The effective table with the facility's file at `path` (UTF-8 CSV, a header row of
    COLUMNS, `#` comment lines); a missing file gives the defaults. OSError if it cannot be read."""
    if not path.exists():
        return FundRules()
    facility, problems = parse_fund_rules(path.read_bytes())
    rules = {rule.key: rule for rule in DEFAULT_RULES}
    rules.update({rule.key: rule for rule in facility})
    return FundRules(rules, path, tuple(problems))


def parse_fund_rules(data: bytes) -> tuple[list[FundRule], list[str]]:
    """The good rows of a facility file and one problem per bad row ("line N: ...")."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [f"not UTF-8 (byte {exc.start}): save the file as CSV UTF-8"]
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return [], []
    rows = [_csv_row(line) for _, line in lines]  # one row a line: a line number for each problem
    header = [cell.strip() for cell in rows[0] or ()]
    if header != list(COLUMNS):
        return [], [f"line {lines[0][0]}: the header must be {','.join(COLUMNS)}"]
    rules, problems, seen = [], [], set()
    for (number, _), row in zip(lines[1:], rows[1:], strict=True):
        try:
            if row is None:
                raise ValueError("a quote is not closed on its line")
            rule = _rule(row)
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        if rule.key in seen:
            problems.append(f"line {number}: a second rule for {'/'.join(p for p in rule.key if p)}")
            continue
        seen.add(rule.key)
        rules.append(rule)
    return rules, problems


def _csv_row(line: str) -> list[str] | None:
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error:
        return None


def _rule(row: list[str]) -> FundRule:
    if len(row) != len(COLUMNS):
        raise ValueError(f"{len(row)} fields, not {len(COLUMNS)}")
    houbetsu, prefecture, institution, charge, percent, yen, name = (cell.strip() for cell in row)
    if not (len(houbetsu) == 2 and houbetsu.isascii() and houbetsu.isdigit()):
        raise ValueError("houbetsu must be 2 digits (法別番号)")
    if prefecture and not (len(prefecture) == 2 and prefecture.isdigit() and 1 <= int(prefecture) <= 47):
        raise ValueError("prefecture must be empty or 01-47 (都道府県番号)")
    if institution and not (len(institution) == 3 and institution.isascii() and institution.isdigit()):
        raise ValueError("institution must be empty or 3 digits (実施機関番号)")
    if institution and not prefecture:
        raise ValueError("an institution needs its prefecture")
    try:
        kind = ChargeKind(charge)
    except ValueError:
        raise ValueError(f"charge must be one of {', '.join(k.value for k in ChargeKind)}") from None
    ratio = _amount(percent, "percent", 100) if percent else None
    amount = _amount(yen, "yen", 9_999_999) if yen else None
    needs = {ChargeKind.NONE: (), ChargeKind.RATIO: ("percent",), ChargeKind.PER_VISIT: ("yen",),
             ChargeKind.RATIO_CAP: ("percent",)}[kind]
    for column, value in (("percent", ratio), ("yen", amount)):
        if column in needs and value is None:
            raise ValueError(f"charge {kind.value} needs {column}")
        if value is not None and column not in needs and not (kind == ChargeKind.RATIO_CAP and column == "yen"):
            raise ValueError(f"charge {kind.value} takes no {column}")
    return FundRule(houbetsu, kind, prefecture, institution, ratio, amount, name, "facility")


def _amount(text: str, column: str, most: int) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > most:
        raise ValueError(f"{column} must be a whole number from 0 to {most}")
    return int(text)


# ---- the charge ------------------------------------------------------------------------------

def ratio_ja(percent: int) -> str:
    return f"{percent // 10}割" if percent % 10 == 0 else f"{percent}%"


@dataclass(frozen=True)
class FundLine:
    """One fund as the verdict shows it: its rule, or why it has none."""

    fund: PublicFund
    rule: FundRule | None

    @property
    def usable(self) -> bool:
        return self.rule is not None and self.fund.problem is None

    def ja(self) -> str:
        head = f"{self.fund.payer_number}（{fund_name_ja(self.fund.houbetsu)}）"
        if self.fund.problem:
            return f"{head}：番号が正しくありません（受給者証で確認）"
        if self.rule is None:
            return f"{head}：負担ルール未設定（窓口負担を確認）"
        text = self.rule.describe_ja()
        if self.rule.charge == ChargeKind.RATIO_CAP and self.fund.monthly_cap_yen is not None:
            text = f"{ratio_ja(self.rule.percent or 0)}（月上限 {self.fund.monthly_cap_yen:,}円）"
        if self.fund.self_pay_yen:
            text = f"本人支払額 {self.fund.self_pay_yen:,}円（医療券）"
        return f"{head}：{text}"

    def to_json(self) -> dict[str, Any]:
        return {**self.fund.to_json(), "name_ja": fund_name_ja(self.fund.houbetsu),
                "rule": self.rule.to_json() if self.rule else None, "problem": self.fund.problem, "ja": self.ja()}


@dataclass(frozen=True)
class Charge:
    """What the patient pays at the desk under insurance and the funds. Not `known`: the desk
    must find out (a fund without a rule, a bad number, insurance's ratio unknown)."""

    known: bool
    percent: int | None = None  # of the cost
    per_visit_yen: int | None = None  # at most, a visit
    monthly_cap_yen: int | None = None  # at most, in the month (the 上限額管理票 keeps the total)
    cap_missing: bool = False  # a fund's monthly cap was not typed
    ja: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"known": self.known, "percent": self.percent, "per_visit_yen": self.per_visit_yen,
                "monthly_cap_yen": self.monthly_cap_yen, "cap_missing": self.cap_missing, "ja": self.ja}


def charge_for(insurance_percent: int | None, lines: list[FundLine]) -> Charge:
    """The patient's charge: each fund pays what it covers after insurance, so a patient pays
    the lowest ratio, the lowest amount per visit and the lowest monthly cap among them. A fund
    that pays everything settles it whatever the others are; otherwise one fund without a rule
    (or with a bad number) leaves the charge unknown rather than guessed."""
    free = [line for line in lines if line.usable and line.rule and line.rule.charge == ChargeKind.NONE]
    if free:
        self_pay = [line.fund.self_pay_yen for line in free if line.fund.self_pay_yen]
        if not self_pay or len(self_pay) < len(free):
            return Charge(True, 0, ja="窓口負担なし")
        percent = insurance_percent if insurance_percent is not None else 100
        return Charge(True, percent, monthly_cap_yen=min(self_pay),
                      ja=f"{ratio_ja(percent)}、医療券の本人支払額 {min(self_pay):,}円まで")
    unknown = [f"公費 {line.fund.payer_number}：{'番号の誤り' if line.fund.problem else '負担ルール未設定'}"
               for line in lines if not line.usable]
    if unknown:
        return Charge(False, ja=f"要確認（{'、'.join(unknown)}。窓口負担を確認）")
    if insurance_percent is None:
        return Charge(False, ja="要確認（保険の負担割合がわからないため計算できません）")
    percent, per_visit, caps, cap_missing = insurance_percent, [], [], False
    for line in lines:
        rule = line.rule
        assert rule is not None
        if rule.charge in (ChargeKind.RATIO, ChargeKind.RATIO_CAP):
            percent = min(percent, rule.percent or 0)
        if rule.charge == ChargeKind.PER_VISIT and rule.yen is not None:
            per_visit.append(rule.yen)
        if rule.charge == ChargeKind.RATIO_CAP:
            cap = line.fund.monthly_cap_yen if line.fund.monthly_cap_yen is not None else rule.yen
            if cap is None:
                cap_missing = True
            else:
                caps.append(cap)
    visit = min(per_visit) if per_visit else None
    month = min(caps) if caps else None
    text = ratio_ja(percent) if percent else "窓口負担なし"
    if percent and visit is not None:
        text += f"（1回 {visit:,}円まで）"
    if percent and month is not None:
        text += f"（月上限 {month:,}円：上限額管理票で今月の累計を確認）"
    elif percent and cap_missing:
        text += "（月上限額：受給者証で確認して入力）"
    return Charge(True, percent, visit, month, cap_missing, text)
