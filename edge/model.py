"""The qualification record (資格情報) and the documents a patient may present.

The record mirrors the result fields of the qualification terminal's XML
(ResultOfQualificationConfirmation, docs/domain.md §5). Document rules are data
(DOCUMENT_RULES), not code branches, so that a change of procedure is a change
of a table row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import date, datetime, timedelta
from enum import Enum, IntEnum
from functools import cache, lru_cache
from operator import contains, itemgetter, le
from typing import Any

from madoguchi.edge.funds import WELFARE_HOUBETSU, PublicFund
from madoguchi.edge.numbers import age_on


class Validity(IntEnum):
    """QualificationValidity as the national system answers it."""

    VALID = 1  # 有効
    INVALID = 2  # 無効
    INVALID_NEWER_EXISTS = 3  # 無効（新しい資格あり）
    NOT_FOUND = 4  # 該当資格なし
    MULTIPLE = 5  # 複数該当
    VALID_UNREGISTERED = 6  # 有効（未登録）: 医療扶助 (docs/domain.md §5, §10)

    @property
    def label_ja(self) -> str:
        return {1: "有効", 2: "無効", 3: "無効（新しい資格あり）", 4: "該当資格なし", 5: "複数該当",
                6: "有効（未登録）"}[self]

    @property
    def is_valid(self) -> bool:
        return self in (Validity.VALID, Validity.VALID_UNREGISTERED)


@dataclass(frozen=True)
class QualificationRecord:
    """資格情報: one person's qualification under one insurer."""

    record_id: int
    insurer_number: str  # 保険者番号 (6 or 8 digits)
    insurer_name: str  # 保険者名称
    symbol: str  # 記号 (normalised; empty for 後期高齢者)
    number: str  # 番号
    branch: str  # 枝番 (2 digits, or empty)
    personal_family: int  # 本人・家族の別: 1 本人, 2 家族
    name: str  # 氏名 (may contain ● for characters the system cannot show)
    name_kana: str  # 氏名カナ
    birth_date: date  # 生年月日
    sex: int  # 1 男, 2 女
    qualification_date: date | None  # 資格取得年月日 (None: the answer did not say, older terminals)
    as_of: datetime  # when the national system last confirmed this record (UTC)
    name_other: str = ""  # 氏名（その他）: 通称 etc.
    address: str | None = None  # 住所 (None when 不開示)
    post_number: str | None = None  # 郵便番号
    disqualification_date: date | None = None  # 資格喪失年月日: first day without cover
    loss_reason: str = ""  # 資格喪失事由
    card_classification: str = ""  # 被保険者証区分
    valid_from: date | None = None  # 有効開始年月日
    valid_until: date | None = None  # 有効終了年月日
    copay_percent: int | None = None  # 一部負担金割合 ("030" → 30)
    preschool: bool = False  # 未就学区分
    elderly_copay_percent: int | None = None  # 高齢受給者証: 負担割合
    elderly_valid_from: date | None = None
    elderly_valid_until: date | None = None
    limit_class: str = ""  # 限度額適用区分 code: A01–A06, B01–B10
    specific_diseases: tuple[str, ...] = ()  # 特定疾病 (名称)
    nondisclosure: bool = False  # 不開示
    validity: Validity = Validity.VALID  # as last answered by the national system
    patient_id: str = ""  # 診察券番号 / 照会番号 of this facility
    card_link: str = ""  # keyed hash of the card's auth certificate
    # Fields of newer terminal answers (docs/domain.md §5, §10): the store keeps them (and any field
    # added later) as one JSON object, `details` (record_details / fields_from_json).
    name_other_kana: str = ""  # 氏名カナ（その他）
    sex2: int = 0  # 性別2: the 表記 the insurer prints when it differs from 性別1
    certificate_issued_on: date | None = None  # 被保険者証交付年月日
    prescription_issue: str = ""  # 処方箋発行形態 chosen on the reader: "1" 電子処方箋, "2" 紙
    limit_certificate: str = ""  # 限度額適用認定証区分: 01, 02, 03 (LIMIT_CERTIFICATES)
    limit_issued_on: date | None = None
    limit_valid_from: date | None = None
    limit_valid_until: date | None = None
    limit_long_term_from: date | None = None  # 長期入院該当年月日 (標準負担額減額: >90 days)
    limit_certificate_changed: bool = False  # batch answers: the 限度額 information changed
    specific_disease_certificates: tuple[SpecificDiseaseCertificate, ...] = ()  # 特定疾病療養受療証
    # Consent given on the reader (0 not given, 1 given, 2/3 other states; "" not answered).
    consent_limit: str = ""  # 限度額適用認定証 information
    consent_specific_diseases: str = ""  # 特定疾病療養受療証 information
    consent_checkups: str = ""  # 特定健診 information
    consent_medication: str = ""  # 薬剤 information
    consent_diagnosis: str = ""  # 診療 information
    consent_operation: str = ""  # 手術 information
    # 公費 the terminal answered (医療扶助: PublicExpenseResultList, docs/domain.md §10).
    public_funds: tuple[PublicFund, ...] = ()
    welfare_office: str = ""  # 福祉事務所 (WelfareOfficeName) of a 医療扶助 record

    @property
    def is_welfare(self) -> bool:
        """医療扶助 (生活保護): InsuredCardClassification A1, its 公費負担者番号 (法別 12) in place of
        an insurer number. No insurance ratio applies (docs/domain.md §10)."""
        return self.card_classification == WELFARE_CARD or (
            len(self.insurer_number) == 8 and self.insurer_number[:2] == WELFARE_HOUBETSU)

    @property
    def funds(self) -> tuple[PublicFund, ...]:
        """The record's funds; a 医療扶助 record read back from a store that does not keep them
        still carries its own (公費負担者番号 and 受給者番号 stand in its insurer number and number)."""
        if self.public_funds or not self.is_welfare:
            return self.public_funds
        return (PublicFund(self.insurer_number, self.number, source="terminal"),)

    @property
    def personal_family_ja(self) -> str:
        return {1: "本人", 2: "家族"}.get(self.personal_family, "")

    @property
    def limit_class_ja(self) -> str:
        return LIMIT_CLASSES.get(self.limit_class, "")

    @property
    def limit_certificate_ja(self) -> str:
        return LIMIT_CERTIFICATES.get(self.limit_certificate, self.limit_certificate)

    @property
    def prescription_issue_ja(self) -> str:
        return PRESCRIPTION_ISSUE.get(self.prescription_issue, "")

    def validity_on(self, day: date) -> Validity:
        """Validity on a given day: a loss or an end of validity that has come counts."""
        if not self.validity.is_valid:
            return self.validity
        if self.disqualification_date and day >= self.disqualification_date:
            return Validity.INVALID
        if self.qualification_date and day < self.qualification_date:
            return Validity.INVALID
        if self.valid_until and day > self.valid_until:
            return Validity.INVALID
        return self.validity

    def copay_percent_on(self, day: date) -> int | None:
        """負担割合 to charge: the elderly certificate's, else the record's, else by age; None for
        医療扶助, which no insurance ratio applies to (a 76-year-old on welfare is not 1割)."""
        if self.is_welfare:
            return None
        if (
            self.elderly_copay_percent is not None
            and (self.elderly_valid_from is None or self.elderly_valid_from <= day)
            and (self.elderly_valid_until is None or day <= self.elderly_valid_until)
        ):
            return self.elderly_copay_percent
        if self.copay_percent is not None:
            return self.copay_percent
        return copay_by_age(self.birth_date, day)

    def to_json(self) -> dict:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, (date, datetime)):
                data[key] = value.isoformat()
        data["validity"] = int(self.validity)
        data["specific_diseases"] = list(self.specific_diseases)
        data["specific_disease_certificates"] = [c.to_json() for c in self.specific_disease_certificates]
        data["public_funds"] = [f.to_json() for f in self.public_funds]
        return data

    @classmethod
    def from_json(cls, data: dict) -> QualificationRecord:
        return cls(**fields_from_json(data))


def fields_from_json(data: dict) -> dict:
    """The record fields named in `data` (JSON form), as the record holds them; other keys are
    ignored (a newer release's fields)."""
    return {name: _coerce(name, data[name]) for name in _FIELD_NAMES if name in data}


def record_details(data: dict, columns: tuple[str, ...]) -> str:
    """The record's fields that are not `columns` (the store's), those not at their default, as
    one JSON object (keys sorted: the same record always gives the same text); "" when none."""
    details = {name: data[name] for name in _detail_names(columns)
               if name in data and data[name] != _JSON_DEFAULTS[name]}
    return json.dumps(details, ensure_ascii=False, sort_keys=True, separators=(",", ":")) if details else ""


@cache
def _detail_names(columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in _FIELD_NAMES if name not in columns)


@dataclass(frozen=True)
class SpecificDiseaseCertificate:
    """特定疾病療養受療証 as the terminal answers it (SpecificDiseasesCertificateInfo)."""

    disease: str  # 認定疾病 (name, or the code when unknown)
    issued_on: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    self_pay_yen: int | None = None  # 自己負担限度額 a month (10,000 or 20,000 yen)

    def to_json(self) -> dict:
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> SpecificDiseaseCertificate:
        def day(key: str) -> date | None:
            return date.fromisoformat(data[key]) if data.get(key) else None

        return cls(str(data["disease"]), day("issued_on"), day("valid_from"), day("valid_until"),
                   data.get("self_pay_yen"))


_DATE_FIELDS = {
    "birth_date", "qualification_date", "disqualification_date", "valid_from",
    "valid_until", "elderly_valid_from", "elderly_valid_until", "certificate_issued_on",
    "limit_issued_on", "limit_valid_from", "limit_valid_until", "limit_long_term_from",
}


def _coerce(name: str, value):
    if value is None or value == "":
        return None if name in _DATE_FIELDS else value
    if name in _DATE_FIELDS:
        return value if isinstance(value, date) else date.fromisoformat(value)
    if name == "as_of":
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if name == "validity":
        return Validity(int(value))
    if name == "specific_diseases":
        return tuple(json.loads(value) if isinstance(value, str) else value)
    if name == "specific_disease_certificates":
        return tuple(c if isinstance(c, SpecificDiseaseCertificate) else SpecificDiseaseCertificate.from_json(c)
                     for c in value)
    if name == "public_funds":
        return tuple(f if isinstance(f, PublicFund) else PublicFund.from_json(f) for f in value)
    if name in ("preschool", "nondisclosure", "limit_certificate_changed"):
        return bool(value)
    return value


_FIELD_NAMES = tuple(f.name for f in fields(QualificationRecord))
# Each field's default in JSON form (to_json: a tuple is a list); required fields have none.
_JSON_DEFAULTS = {f.name: [] if f.default == () else f.default for f in fields(QualificationRecord)
                  if f.default is not MISSING}


class UnreadableRecord(ValueError):
    """A stored row that does not make a record (a bad value that got into the cache)."""


# ---- validation of a record in its stored form (the hub's import, the device's apply) ----------

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_CONTROL = re.compile(r"[\x00-\x1f]")
_TEXT_MAX = 200
_DETAILS_MAX = 8000  # the `details` object of a stored record (record_details)
_LONG_TEXTS = {"specific_diseases": 4000, "details": _DETAILS_MAX}  # the others: _TEXT_MAX
_INT_RANGES = {"personal_family": (0, 2), "sex": (0, 3), "sex2": (0, 3), "copay_percent": (0, 100),
               "elderly_copay_percent": (0, 100), "preschool": (0, 1), "nondisclosure": (0, 1),
               "validity": (1, 6), "record_id": (1, 2**63 - 1)}
_REQUIRED_TEXT = {"insurer_number", "number"}
# qualification_date too: older terminals never write it (docs/domain.md §5).
_OPTIONAL = {"address", "post_number", "qualification_date", "disqualification_date", "valid_from", "valid_until",
             "copay_percent", "elderly_copay_percent", "elderly_valid_from", "elderly_valid_until"}


def stored_field_problems(values: dict) -> list[str]:
    """What is wrong with a record's fields in their stored form (dates as YYYY-MM-DD, as_of as
    ISO 8601 with an offset, flags as 0/1, specific diseases as a JSON list, the other fields as
    the JSON object `details`): one ``field: reason`` per bad field, never the value (it may be
    personal). [] if all is well."""
    problems = []
    for name, value in values.items():
        problem = _stored_problem(name, value)
        if problem:
            problems.append(f"{name}: {problem}")
    return problems


def _stored_problem(name: str, value) -> str | None:  # noqa: PLR0911 - one answer per rule
    if value is None:
        return None if name in _OPTIONAL else "missing"
    if name in _INT_RANGES:
        low, high = _INT_RANGES[name]
        if type(value) is not int:  # bool, float (NaN) and text are refused
            return "not an integer"
        return None if low <= value <= high else f"not in {low}..{high}"
    if not isinstance(value, str):
        return "not text"
    try:
        value.encode("utf-8")
    except UnicodeError:
        return "not valid text"
    if len(value) > _LONG_TEXTS.get(name, _TEXT_MAX):
        return "too long"
    if _CONTROL.search(value):
        return "control characters"
    if name in _DATE_FIELDS:
        try:
            day = date.fromisoformat(value) if _ISO_DATE.match(value) else None
        except ValueError:
            day = None
        return None if day and 1850 <= day.year <= 2200 else "not a date as YYYY-MM-DD"
    if name == "as_of":
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return "not a date and time (ISO 8601)"
        return None if when.tzinfo is not None else "no UTC offset"
    if name == "insurer_number":
        return None if value.isascii() and value.isdigit() and len(value) in (6, 8) else "not 6 or 8 digits"
    if name == "specific_diseases" and value:
        try:
            diseases = json.loads(value)
        except ValueError:
            return "not a JSON list"
        if not (isinstance(diseases, list) and all(isinstance(d, str) for d in diseases)):
            return "not a JSON list of names"
    if name == "details" and value:
        return _details_problem(value)
    if name in _REQUIRED_TEXT and not value:
        return "empty"
    return None


def _details_problem(text: str) -> str | None:
    """Each field of a `details` object valid in its JSON form. Keys this release does not know
    are a newer release's fields: kept as they are (bounded by the object's size)."""
    try:
        details = json.loads(text)
    except ValueError:
        return "not JSON"
    if not isinstance(details, dict):
        return "not a JSON object"
    for name, value in details.items():
        problem = _detail_problem(name, value) if name in _FIELD_NAMES else None
        if problem:
            return f"{name}: {problem}"
    return None


def _detail_problem(name: str, value) -> str | None:  # noqa: PLR0911 - one answer per rule
    default = _JSON_DEFAULTS.get(name, MISSING)
    if value is None:
        return None if default is None else "missing"
    if isinstance(default, bool):
        return None if type(value) is bool else "not true or false"
    if isinstance(default, int) and name not in _INT_RANGES:
        return None if type(value) is int else "not an integer"
    if not isinstance(default, list):
        return _stored_problem(name, value)
    if not isinstance(value, list):
        return "not a list"
    try:
        _coerce(name, value)
    except (TypeError, ValueError, KeyError, AttributeError):
        return "not a list of the expected shape"
    return _nested_problem(value)


def _nested_problem(value) -> str | None:
    """Every text inside a list field short and printable, every number an integer."""
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list):
        return next((p for p in map(_nested_problem, value) if p), None)
    if isinstance(value, str):
        return _stored_problem("text", value)
    return "a number that is not an integer" if isinstance(value, float) else None


def stored_row_check(columns: tuple[str, ...]) -> Callable[[Sequence[Any]], bool]:
    """A fast test of a whole row in `columns` order, for a bulk apply: True only when
    `stored_field_problems` would find nothing (on False, ask it for the reasons). The same rules,
    planned once for the columns: each check runs on a group of columns at once where it can
    (all the text joined, the small integers against their sets of allowed values)."""
    index = {name: i for i, name in enumerate(columns)}
    small = [n for n in columns if n in _INT_RANGES and _INT_RANGES[n][1] - _INT_RANGES[n][0] <= 1000]
    small_ints = _getter([index[n] for n in small])
    allowed = tuple(frozenset(range(_INT_RANGES[n][0], _INT_RANGES[n][1] + 1)) | ({None} if n in _OPTIONAL else set())
                    for n in small)
    wide_ints = tuple((index[n], *_INT_RANGES[n], n in _OPTIONAL) for n in columns
                      if n in _INT_RANGES and n not in small)
    text_names = [n for n in columns if n not in _INT_RANGES]
    fixed = [n for n in text_names if n not in _OPTIONAL]  # never None
    fixed_texts = _getter([index[n] for n in fixed])
    optional_names = [n for n in text_names if n in _OPTIONAL]
    optional = _getter([index[n] for n in optional_names])
    text_limits = tuple(_LONG_TEXTS.get(n, _TEXT_MAX) for n in fixed + optional_names)
    dates = _getter([index[n] for n in text_names if n in _DATE_FIELDS])
    nonempty = _getter([index[n] for n in _REQUIRED_TEXT if n in index])
    as_of, insurer, diseases, details = (index.get(n) for n in ("as_of", "insurer_number",
                                                                 "specific_diseases", "details"))

    def check(row: Sequence[Any]) -> bool:  # noqa: PLR0911 - one answer per rule
        values = small_ints(row)
        if not (set(map(type, values)) <= _INT_OR_NONE and all(map(contains, allowed, values))):
            return False  # a bool is refused by its type (True == 1)
        for i, low, high, may_be_none in wide_ints:
            value = row[i]
            if not (type(value) is int and low <= value <= high or value is None and may_be_none):
                return False
        present = [v for v in optional(row) if v is not None]
        texts = (*fixed_texts(row), *present)  # the limits of `fixed`, then 200 for each optional one
        try:
            whole = "".join(texts)
            whole.encode("utf-8")
        except (TypeError, UnicodeError):  # a value that is not text, or not valid text
            return False
        if (_CONTROL.search(whole) or not all(nonempty(row))
                or max(map(len, texts)) > _TEXT_MAX and not all(map(le, map(len, texts), text_limits))):
            return False
        days = [v for v in dates(row) if v is not None]
        try:
            if days and not _ISO_DATES.fullmatch(" ".join(days)):
                return False
            list(map(date.fromisoformat, days))  # a day that does not exist raises
            if as_of is not None and datetime.fromisoformat(row[as_of]).tzinfo is None:
                return False
        except ValueError:
            return False
        if insurer is not None:
            value = row[insurer]
            if not (value.isascii() and value.isdigit() and len(value) in (6, 8)):
                return False
        if diseases is not None and row[diseases] and _stored_problem("specific_diseases", row[diseases]):
            return False
        text = "" if details is None else row[details]
        return not text or (_good_details(text) if len(text) <= 1000 else _details_problem(text) is None)

    return check


# YYYY-MM-DD with a year in 1850..2200, separated by spaces (date.fromisoformat checks the rest).
_ISO_DATES = re.compile(r"(?:18[5-9][0-9]|19[0-9]{2}|2[01][0-9]{2}|2200)-[0-9]{2}-[0-9]{2}"
                        r"(?: (?:18[5-9][0-9]|19[0-9]{2}|2[01][0-9]{2}|2200)-[0-9]{2}-[0-9]{2})*")
_INT_OR_NONE = frozenset((int, type(None)))


# A facility's records share a few thousand `details` texts; the short ones are remembered
# (1024 of 1000 characters at most: a few MB, whatever a bundle holds).
@lru_cache(maxsize=1024)
def _good_details(text: str) -> bool:
    return _details_problem(text) is None


def _getter(indices: list[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    if len(indices) > 1:
        return itemgetter(*indices)
    return lambda row: tuple(row[i] for i in indices)


# 限度額適用区分 codes (docs/domain.md §5; labels as reconstructed by open-source terminal clients).
LIMIT_CLASSES = {
    "A01": "ア", "A02": "イ", "A03": "ウ", "A04": "エ", "A05": "オ", "A06": "オ（境）",
    "B01": "現役並みⅢ", "B02": "現役並みⅡ", "B03": "現役並みⅠ", "B04": "一般",
    "B05": "低所得Ⅱ", "B06": "低所得Ⅰ", "B07": "低所得Ⅰ（老福）", "B08": "低所得Ⅰ（境）",
    "B09": "一般Ⅱ", "B10": "一般Ⅰ",
}
# 限度額適用認定証区分 (hangilc/myclinic-ts onshi-result codes).
LIMIT_CERTIFICATES = {"01": "限度額適用認定証", "02": "限度額適用・標準負担額減額認定証", "03": "標準負担額減額認定証"}
WELFARE_CARD = "A1"  # InsuredCardClassification of 医療扶助 (docs/domain.md §10)
# 処方箋発行形態: what the patient chose on the reader (a pharmacy meets both every day).
PRESCRIPTION_ISSUE = {"1": "電子処方箋", "2": "紙の処方箋"}


# ---- copay by age (the 申立 provisional rules, 保発0710第1号) -------------------

def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def preschool_until(birth: date) -> date:
    """Last day as 未就学児: the first 31 March on or after the day one reaches 6.

    Legally one reaches an age the day before the birthday.
    """
    reach = _add_years(birth, 6) - timedelta(days=1)
    march = date(reach.year, 3, 31)
    return march if reach <= march else date(reach.year + 1, 3, 31)


def elderly_from(birth: date) -> date:
    """First day of the 70+ rules: the 1st of the month after the day one reaches 70."""
    reach = _add_years(birth, 70) - timedelta(days=1)
    return date(reach.year + (reach.month == 12), reach.month % 12 + 1, 1)


def kouki_from(birth: date) -> date:
    """First day of 後期高齢者医療: the 75th birthday."""
    return _add_years(birth, 75)


class IncomeClass(str, Enum):
    """Income status that sets the copay of people aged 70 and over."""

    GENERAL = "general"  # 一般・低所得
    CERTAIN = "certain"  # 一定以上所得 (75+ only: 2割)
    ACTIVE = "active"  # 現役並み所得 (3割)


def copay_by_age(birth: date, day: date, income: IncomeClass | None = None) -> int:
    """Copay percent from age and income: 30, 未就学児 20, 70–74 20 (現役並み 30),
    75+ 10 (一定以上 20, 現役並み 30). Unknown income counts as 一般."""
    if day <= preschool_until(birth):
        return 20
    if day < elderly_from(birth):
        return 30
    if income == IncomeClass.ACTIVE:
        return 30
    if day < kouki_from(birth):
        return 20
    return 20 if income == IncomeClass.CERTAIN else 10


def is_elderly(birth: date, day: date) -> bool:
    return day >= elderly_from(birth)


def is_preschool(birth: date, day: date) -> bool:
    return day <= preschool_until(birth)


def age_band_ja(birth: date, day: date) -> str:
    if is_preschool(birth, day):
        return "未就学児"
    if day >= kouki_from(birth):
        return "75歳以上"
    if is_elderly(birth, day):
        return "70〜74歳"
    return f"{age_on(birth, day)}歳"


# ---- documents (docs/domain.md §2) ----------------------------------------------

class DocumentKind(str, Enum):
    MYNA_CARD = "myna_card"  # マイナ保険証
    SMARTPHONE = "smartphone"  # スマホ保険証
    ELIGIBILITY_CERTIFICATE = "eligibility_certificate"  # 資格確認書
    NOTICE = "notice"  # 資格情報のお知らせ
    PORTAL = "portal"  # マイナポータル 資格情報画面
    LEGACY_CARD = "legacy_card"  # 健康保険証（従来）
    DECLARATION = "declaration"  # 被保険者資格申立書
    PRESCRIPTION = "prescription"  # 処方箋のQR（院外処方箋・電子処方箋の控え）: numbers only
    PATIENT_CARD = "patient_card"  # 診察券: finds the patient, proves nothing
    NONE = "none"  # 書類なし: neither a usable card nor a valid 資格確認書 (10割)
    MEDICAL_TICKET = "medical_ticket"  # 医療券・調剤券 (医療扶助), issued by the 福祉事務所


@dataclass(frozen=True)
class DocumentRule:
    """What a document is worth at the desk (docs/domain.md §2; README "Documents")."""

    label_ja: str
    is_document: bool = True  # False: finds the patient, but a document must still be shown
    usable_from: date | None = None  # not accepted before this day
    requires_card: bool = False  # only together with the マイナンバーカード...
    phone_instead_of_card: bool = False  # ...or on the スマホ保険証 phone that cannot be read
    honours_printed_validity: bool = False  # refused after the 有効期限 printed on it
    printed_validity_at_most: date | None = None  # a law capped every printed validity
    expired_accepted_until: date | None = None  # after expiry, still accepted until...
    expired_needs_online: bool = False  # ...but only after an online check by numbers


DOCUMENT_RULES: dict[DocumentKind, DocumentRule] = {
    DocumentKind.MYNA_CARD: DocumentRule("マイナ保険証"),
    # Its own スマホ用電子証明書 (its own card link); usable as 保険証 from 2025-09-19.
    DocumentKind.SMARTPHONE: DocumentRule("スマホ保険証", usable_from=date(2025, 9, 19)),
    DocumentKind.ELIGIBILITY_CERTIFICATE: DocumentRule("資格確認書", honours_printed_validity=True),
    # 70+: the notice prints the 負担割合 with its own 有効期限 (the ratio changes every August).
    DocumentKind.NOTICE: DocumentRule("資格情報のお知らせ", requires_card=True, honours_printed_validity=True),
    DocumentKind.PORTAL: DocumentRule("マイナポータル資格情報画面", requires_card=True, phone_instead_of_card=True),
    # No new issue since 2024-12-02, all expired by 2025-12-01; 事務連絡 2025-11-12 let
    # expired cards be accepted after an online check by numbers until 2026-03-31.
    DocumentKind.LEGACY_CARD: DocumentRule(
        "健康保険証（従来）",
        honours_printed_validity=True,
        printed_validity_at_most=date(2025, 12, 1),
        expired_accepted_until=date(2026, 3, 31),
        expired_needs_online=True,
    ),
    DocumentKind.DECLARATION: DocumentRule("被保険者資格申立書"),
    # 医療扶助: the 福祉事務所 issues it for a month and a named facility (docs/domain.md §10).
    DocumentKind.MEDICAL_TICKET: DocumentRule("医療券・調剤券", honours_printed_validity=True),
    # Not insurance documents: they carry the numbers (or the id) to look the patient up with;
    # the patient's マイナ保険証 or 資格確認書 is still what is checked (docs/domain.md §3, §7).
    DocumentKind.PRESCRIPTION: DocumentRule("処方箋（QRの番号）", is_document=False),
    DocumentKind.PATIENT_CARD: DocumentRule("診察券", is_document=False),
    DocumentKind.NONE: DocumentRule("書類なし", is_document=False),
}


def grace_until(expiry: date) -> date:
    """Last day a マイナ保険証 still works after its certificate (or the card itself) expired:
    the end of the month three months after the expiry (a February expiry works to the end of
    May; MHLW newpage_50657, docs/domain.md §2)."""
    year, month = expiry.year + (expiry.month + 3 - 1) // 12, (expiry.month + 3 - 1) % 12 + 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    return following - timedelta(days=1)


@dataclass(frozen=True)
class DocumentDecision:
    accepted: bool
    needs_online: bool = False
    reason_en: str = ""
    reason_ja: str = ""


def judge_document(
    kind: DocumentKind,
    day: date,
    card_presented: bool = False,
    printed_valid_until: date | None = None,
    phone_presented: bool = False,
) -> DocumentDecision:
    """Whether a presented document may be used today, and on what condition.

    phone_presented: the screen is shown on the patient's スマホ保険証 phone, which could not be
    read (the phone stands in for the card)."""
    rule = DOCUMENT_RULES[kind]
    if rule.usable_from and day < rule.usable_from:
        return DocumentDecision(
            False,
            reason_en=f"{kind.value} is accepted only from {rule.usable_from}",
            reason_ja=f"{rule.label_ja}は{rule.usable_from}から使えます",
        )
    if rule.requires_card and not (card_presented or (rule.phone_instead_of_card and phone_presented)):
        with_phone = "（またはスマホ保険証のスマートフォン）" if rule.phone_instead_of_card else ""
        return DocumentDecision(
            False,
            reason_en=f"{kind.value} is valid only together with the My Number Card"
            + (" or on the patient's smartphone 保険証" if rule.phone_instead_of_card else ""),
            reason_ja=f"{rule.label_ja}はマイナンバーカード{with_phone}と一緒に提示された場合のみ使えます",
        )
    if not rule.honours_printed_validity:
        return DocumentDecision(True)
    valid_until = printed_valid_until
    if rule.printed_validity_at_most and (
        valid_until is None or valid_until > rule.printed_validity_at_most
    ):
        valid_until = rule.printed_validity_at_most
    if valid_until is None or day <= valid_until:
        return DocumentDecision(True)
    if rule.expired_accepted_until and day <= rule.expired_accepted_until:
        return DocumentDecision(
            True,
            needs_online=rule.expired_needs_online,
            reason_en=f"{kind.value} expired on {valid_until}; accepted until "
            f"{rule.expired_accepted_until} after an online check",
            reason_ja=f"{rule.label_ja}は期限切れ（{valid_until}）。"
            f"{rule.expired_accepted_until}まではオンライン確認を条件に使えます",
        )
    return DocumentDecision(
        False,
        reason_en=f"{kind.value} expired on {valid_until} and can no longer be used",
        reason_ja=f"{rule.label_ja}は有効期限（{valid_until}）を過ぎているため使えません。"
        + ("新しいお知らせか、マイナポータルの資格情報画面をお願いしてください" if kind == DocumentKind.NOTICE
           else "マイナ保険証か資格確認書の提示をお願いしてください"),
    )
