"""The verdict: the one place that decides whether a patient is insured, and how sure we are.

`decide()` takes what the desk has (a `CheckRequest`), asks the online source within its
time budget if there is one, else looks in the local cache through a `RecordLookup`, and returns
a `Verdict`. It does no I/O of its own: the store implements the lookup
(`madoguchi.edge.store.Lookup`), the caller gives the online source and the time.

- ``ok``: insured, proceed.
- ``ng``: not insured under this record (無効, 資格喪失, 該当資格なし, 複数該当, revoked card).
- ``confirm``: follow the fallback procedure (stale data, cache miss offline, a document that
  needs the card, an expired document, 申立).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol

from madoguchi.edge.config import Policy
from madoguchi.edge.funds import Charge, FundLine, FundRules, PublicFund, charge_for
from madoguchi.edge.model import (
    DOCUMENT_RULES,
    DocumentKind,
    IncomeClass,
    QualificationRecord,
    UnreadableRecord,
    Validity,
    age_band_ja,
    copay_by_age,
    grace_until,
    judge_document,
)
from madoguchi.edge.numbers import InputError, check_length, date_ja

log = logging.getLogger(__name__)

UNREPRESENTABLE_MARKS = ("●", "■")


class Method(str, Enum):
    """How the patient was identified at the desk."""

    CARD = "card"  # card + PIN, signature verified
    VISUAL = "visual"  # 目視確認: staff compared the card photo, no PIN
    NUMBERS = "numbers"  # typed or printed numbers
    QR = "qr"  # numbers read from a code (JAHIS prescription etc.)
    PATIENT_ID = "patient_id"  # 診察券
    DECLARATION = "declaration"  # 被保険者資格申立書 (only for a patient who presented the card)
    SELF_PAY = "self_pay"  # 10割: neither a usable card nor a valid 資格確認書 (療養費 claimed later)


class Source(str, Enum):
    ONLINE = "online"
    CACHE = "cache"
    DECLARATION = "declaration"
    NONE = "none"


class Outcome(str, Enum):
    OK = "ok"
    NG = "ng"
    CONFIRM = "confirm"


@dataclass(frozen=True)
class Declaration:
    """被保険者資格申立書: what a patient who presented the マイナンバーカード declares when the
    card check failed or could not run (docs/domain.md §3). Besides the declaration, the desk
    records the card's printed (券面) name, birth date, sex and address as staff typed them off
    the card: never read from the chip."""

    name: str
    name_kana: str
    birth_date: date
    address: str = ""
    insurer: str = ""  # insurer number or name, if known
    workplace: str = ""
    income_class: IncomeClass | None = None  # for 70+: 一般 / 一定以上 / 現役並み
    phone: str = ""
    card_name: str = ""  # 券面の氏名
    card_birth_date: date | None = None  # 券面の生年月日
    card_sex: int = 0  # 券面の性別: 1 男, 2 女 (0 not typed)
    card_address: str = ""  # 券面の住所

    def __post_init__(self) -> None:
        for name in ("name", "name_kana", "address", "insurer", "workplace", "phone"):
            check_length(name, getattr(self, name))
        check_length("name", self.card_name)
        check_length("address", self.card_address)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["birth_date"] = self.birth_date.isoformat()
        data["card_birth_date"] = self.card_birth_date.isoformat() if self.card_birth_date else ""
        data["income_class"] = self.income_class.value if self.income_class else ""
        return data

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Declaration:
        return cls(
            name=d.get("name", ""), name_kana=d.get("name_kana", ""),
            birth_date=date.fromisoformat(d["birth_date"]), address=d.get("address", ""),
            insurer=d.get("insurer", ""), workplace=d.get("workplace", ""),
            income_class=IncomeClass(d["income_class"]) if d.get("income_class") else None,
            phone=d.get("phone", ""), card_name=d.get("card_name", ""),
            card_birth_date=date.fromisoformat(d["card_birth_date"]) if d.get("card_birth_date") else None,
            card_sex=int(d.get("card_sex") or 0), card_address=d.get("card_address", ""),
        )


CONSENT_NOT_GIVEN, CONSENT_GIVEN, CONSENT_DIFFICULT = "0", "1", "3"


@dataclass(frozen=True)
class Consent:
    """The patient's answers to the questions the official reader asks (docs/domain.md §10):
    "" not asked, "0" not given, "1" given, "3" 同意取得困難 (an emergency: the patient could
    not be asked). `limit` is sent to the terminal as LimitApplicationCertificateRelatedConsFlg."""

    limit: str = ""  # 限度額適用認定証 information
    medical: str = ""  # 薬剤・診療・特定健診・手術 information

    def __post_init__(self) -> None:
        for value in (self.limit, self.medical):
            if value not in ("", CONSENT_NOT_GIVEN, CONSENT_GIVEN, CONSENT_DIFFICULT):
                raise InputError(f"consent: {value!r} is none of 0, 1, 3")

    @property
    def limit_flag(self) -> str:
        """The request's flag: only an answer "yes" is consent; not asked is not given."""
        return CONSENT_GIVEN if self.limit == CONSENT_GIVEN else CONSENT_NOT_GIVEN


@dataclass(frozen=True)
class CheckRequest:
    """What the desk has about the patient in front of it."""

    method: Method
    document: DocumentKind = DocumentKind.MYNA_CARD
    insurer_number: str = ""  # validated digits
    symbol: str = ""  # normalised 記号
    number: str = ""  # normalised 番号
    branch: str = ""  # normalised 枝番 ("" = not printed)
    birth_date: date | None = None
    card_link: str = ""
    card_presented: bool = False  # the My Number Card was shown with a notice / portal screen
    phone_presented: bool = False  # the portal screen is on the patient's unreadable スマホ保険証 phone
    printed_valid_until: date | None = None  # 有効期限 printed on the document
    certificate_not_after: date | None = None  # the card's (or phone's) auth certificate expiry
    card_valid_until: date | None = None  # the card's own 有効期限, printed on its face
    patient_id: str = ""
    declaration: Declaration | None = None
    public_funds: tuple[PublicFund, ...] = ()  # 公費 typed at the desk or read from a QR (at most 4)
    input_warnings: tuple[str, ...] = ()  # from QR parsing etc., shown as they are
    consent: Consent = Consent()  # the patient's answers on the patient-facing screen

    def __post_init__(self) -> None:
        """Every field within the desk's bounds (InputError), whoever built the request."""
        for name in ("insurer_number", "symbol", "number", "branch", "patient_id"):
            check_length(name, getattr(self, name))

    def echo(self) -> dict[str, Any]:
        """What was checked, for the verdict's JSON (a cache miss shows what was tried). Never
        logged: it holds the numbers. The card link is a keyed hash; only its presence is shown."""
        def day(value: date | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "method": self.method.value, "document": self.document.value,
            "insurer_number": self.insurer_number, "symbol": self.symbol, "number": self.number,
            "branch": self.branch, "birth_date": day(self.birth_date), "patient_id": self.patient_id,
            "card": bool(self.card_link), "card_presented": self.card_presented,
            "phone_presented": self.phone_presented, "printed_valid_until": day(self.printed_valid_until),
            "certificate_not_after": day(self.certificate_not_after), "card_valid_until": day(self.card_valid_until),
            "public_funds": [fund.to_json() for fund in self.public_funds],
            "consent": asdict(self.consent),
        }

    def personal_inputs(self) -> dict[str, Any]:
        """The personal inputs, for keyed hashing and the outbox."""
        data: dict[str, Any] = {
            "insurer_number": self.insurer_number, "symbol": self.symbol, "number": self.number,
            "branch": self.branch, "birth_date": self.birth_date.isoformat() if self.birth_date else "",
            "card_link": self.card_link, "patient_id": self.patient_id,
            "public_funds": [[f.payer_number, f.recipient_number] for f in self.public_funds],
        }
        if self.declaration:
            data["declaration"] = self.declaration.to_json()
        return {k: v for k, v in data.items() if v}


def by_medical_ticket(welfare: PublicFund, birth_date: date, funds: tuple[PublicFund, ...],
                      method: Method = Method.NUMBERS, document: DocumentKind = DocumentKind.MEDICAL_TICKET,
                      **fields: Any) -> CheckRequest:
    """医療扶助: the 医療券's 公費負担者番号 and 受給者番号 find the patient in place of insurer numbers
    (the record keeps them so, docs/domain.md §10)."""
    return CheckRequest(method, document, insurer_number=welfare.payer_number, number=welfare.recipient_number,
                        birth_date=birth_date, public_funds=funds, **fields)


@dataclass(frozen=True)
class Warning:  # noqa: A001 (the domain's word; never the builtin inside madoguchi)
    code: str
    ja: str
    en: str


@dataclass(frozen=True)
class OnlineAnswer:
    """What the hub answered for one check."""

    validity: Validity
    records: tuple[QualificationRecord, ...] = ()
    as_of: datetime | None = None


    def to_json(self) -> dict[str, Any]:
        """The form the hub API and the simulator's HTTP face send."""
        return {"validity": int(self.validity), "validity_ja": self.validity.label_ja,
                "records": [r.to_json() for r in self.records],
                "as_of": self.as_of.isoformat() if self.as_of else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OnlineAnswer:
        """The inverse of `to_json`; ValueError (with the reason) on anything else."""
        try:
            return cls(Validity(int(data["validity"])),
                       tuple(QualificationRecord.from_json(r) for r in data.get("records") or ()),
                       datetime.fromisoformat(data["as_of"]) if data.get("as_of") else None)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"unreadable answer: {exc!r}") from None


class OnlineUnavailable(Exception):
    """The online source did not answer within the budget, or is unreachable."""


class OnlineRefused(OnlineUnavailable):
    """The upstream answered with an error of its own (the qualification terminal's code and
    message): the desk shows it as such, not as "offline"."""


OnlineSource = Callable[[CheckRequest, float], OnlineAnswer]


class RecordLookup(Protocol):
    """What `decide()` reads from the local cache (with the hub's live answers laid over it)."""

    def find_by_numbers(self, insurer_number: str, symbol: str, number: str, branch: str,
                        birth_date: date | None) -> list[QualificationRecord]:
        """Records matching the printed numbers and birth date; `branch` "" matches any 枝番."""

    def find_by_card_link(self, card_link: str) -> list[QualificationRecord]: ...

    def find_by_patient_id(self, patient_id: str) -> list[QualificationRecord]: ...

    def patient_history(self, record: QualificationRecord) -> list[QualificationRecord]:
        """Every record of the record's patient (to tell 無効 from 無効・新しい資格あり)."""

    def revocation_reason(self, card_link: str) -> str | None:
        """Why the card's certificate was revoked, None if it was not."""


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str  # machine code
    headline_ja: str
    headline_en: str
    source: Source
    validity: Validity | None = None
    as_of: datetime | None = None
    age_seconds: int | None = None
    record: QualificationRecord | None = None
    newer_record: QualificationRecord | None = None  # 無効・新しい資格あり: the new one, if known
    copay_percent: int | None = None
    provisional_copay: bool = False  # 申立: charged provisionally, to be settled
    warnings: tuple[Warning, ...] = ()
    next_steps_ja: tuple[str, ...] = ()
    request: dict[str, Any] | None = None  # CheckRequest.echo() of the request decided
    funds: tuple[FundLine, ...] = ()  # 公費: the request's and the record's, each with its rule
    charge: Charge | None = None  # what to charge under insurance and the funds (None: no funds)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.outcome.value,
            "reason": self.reason,
            "headline_ja": self.headline_ja,
            "headline_en": self.headline_en,
            "validity": int(self.validity) if self.validity else None,
            "validity_ja": self.validity.label_ja if self.validity else None,
            "source": self.source.value,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "age_seconds": self.age_seconds,
            "copay_percent": self.copay_percent,
            "provisional_copay": self.provisional_copay,
            "record": self.record.to_json() if self.record else None,
            "newer_record": self.newer_record.to_json() if self.newer_record else None,
            "warnings": [asdict(w) for w in self.warnings],
            "next_steps_ja": list(self.next_steps_ja),
            "request": self.request,
            "funds": [line.to_json() for line in self.funds],
            "charge": self.charge.to_json() if self.charge else None,
        }


def decide(
    request: CheckRequest,
    lookup: RecordLookup,
    policy: Policy,
    now: datetime,
    online: OnlineSource | None = None,
) -> Verdict:
    """Decide the verdict for one check. `now` is timezone-aware (UTC)."""
    verdict = _decide(request, lookup, policy, now, online)
    return replace(_with_funds(_limit_as_consented(_needs_document(verdict, request), request), request, policy.fund_rules),
                   request=request.echo())


def _decide(request: CheckRequest, lookup: RecordLookup, policy: Policy, now: datetime,
            online: OnlineSource | None) -> Verdict:
    today = now.astimezone(policy.timezone).date()
    warnings: list[Warning] = [Warning("input", w, w) for w in request.input_warnings]

    if request.method == Method.SELF_PAY or (request.method == Method.DECLARATION and not request.card_presented):
        return _self_pay(warnings)
    document = judge_document(request.document, today, request.card_presented, request.printed_valid_until,
                              request.phone_presented)
    if not document.accepted:
        return _confirm("document_refused", document.reason_ja, document.reason_en, warnings,
                        fallback_steps_ja(request))
    if document.reason_ja:
        warnings.append(Warning("document_transitional", document.reason_ja, document.reason_en))

    if request.card_link:
        revoked = lookup.revocation_reason(request.card_link)
        if revoked is not None:
            return Verdict(
                Outcome.NG, "certificate_revoked",
                f"このカードの電子証明書は失効しています（{revoked}）",
                f"the card's certificate is revoked ({revoked})", Source.CACHE,
                warnings=tuple(warnings),
                next_steps_ja=("カードでは確認できません", *fallback_steps_ja(request),
                               "証明書の再発行は市区町村窓口でできることをお伝えください"),
            )
    for expiry, what_ja, what_en in ((request.certificate_not_after, "電子証明書", "certificate"),
                                     (request.card_valid_until, "カード", "card")):
        if expiry is None:
            continue
        grace = grace_until(expiry)
        if today > grace:
            return _confirm(
                f"{what_en}_expired",
                f"{what_ja}の有効期限（{expiry}）から3か月後の月末（{grace}）を過ぎています",
                f"the {what_en} expired on {expiry}; its grace ended on {grace}",
                warnings, (*fallback_steps_ja(request),
                           f"{what_ja}の更新は市区町村窓口でできることをお伝えください"))
        if today > expiry:
            warnings.append(Warning(
                f"{what_en}_grace",
                f"{what_ja}の有効期限が切れています（{expiry}）。{grace}までは使えますが、"
                "市区町村窓口で更新するようお伝えください",
                f"{what_en} expired on {expiry}: usable until {grace}, renew it",
            ))

    if request.method == Method.DECLARATION:
        return _declaration(request, today, warnings)

    answer, source = None, Source.CACHE
    if online is not None:
        try:
            answer = _ask_online(online, request, policy.online_budget_seconds)
        except OnlineRefused as exc:
            warnings.append(Warning("terminal_error", f"資格確認端末のエラー：{exc}", f"the terminal refused: {exc}"))
        if answer is not None and answer.as_of is not None and now - answer.as_of > policy.online_max_age:
            age = int((now - answer.as_of).total_seconds())
            log.warning("an online answer produced %d s ago is not taken as online", age)
            warnings.append(Warning("online_answer_old", f"オンラインの回答が古いため使いません（{age_ja(age)}の回答）",
                                    f"the online answer was produced {age} s ago: not taken as online"))
            answer = None
        source = Source.ONLINE if answer else Source.CACHE
    if answer is None:
        if document.needs_online:
            return _confirm("needs_online",
                            "この書類はオンライン確認が必要ですが、現在オフラインです",
                            "this document needs an online check and the desk is offline", warnings,
                            fallback_steps_ja(request))
        try:
            answer = _from_cache(request, lookup, today)
        except UnreadableRecord as exc:
            log.error("%s", exc)
            return _confirm("unreadable_record", "手元の資格情報が読めません（データ不良）",
                            f"a cached record cannot be read: {exc}", warnings,
                            (*fallback_steps_ja(request), "管理者に連絡してください（同期データの不良）"))

    return _judge(answer, source, request, policy, now, today, warnings)


def _ask_online(online: OnlineSource, request: CheckRequest, budget: float) -> OnlineAnswer | None:
    started = time.monotonic()
    try:
        answer = online(request, budget)
    except OnlineRefused:
        raise
    except OnlineUnavailable as exc:
        log.info("online check unavailable (%s); using the cache", exc)
        return None
    if time.monotonic() - started > budget:
        log.info("online answer arrived after the %.1f s budget; using the cache", budget)
        return None
    return answer


def _from_cache(request: CheckRequest, lookup: RecordLookup, today: date) -> OnlineAnswer:
    if request.card_link:
        records = lookup.find_by_card_link(request.card_link)
    elif request.patient_id:
        records = lookup.find_by_patient_id(request.patient_id)
    else:
        records = lookup.find_by_numbers(request.insurer_number, request.symbol, request.number,
                                         request.branch, request.birth_date)
    answer = answer_from(records, records, today)
    if answer.validity in (Validity.INVALID, Validity.NOT_FOUND) and records and not request.card_link:
        # Only a record that is no longer valid needs the patient's history (新しい資格あり?).
        answer = answer_from(records, lookup.patient_history(records[0]), today)
    return answer


def answer_from(matched: list[QualificationRecord], history: list[QualificationRecord], today: date) -> OnlineAnswer:
    """The answer the national system would give for `matched` records on `today`.

    `history` holds every record of the matched patient (to tell 無効 from 無効・新しい資格あり).
    Several patients matched is 複数該当. Else the matched record valid today wins; else the
    latest matched one, 無効・新しい資格あり if another record of the patient is valid.
    """
    if not matched:
        return OnlineAnswer(Validity.NOT_FOUND)
    if len({r.patient_id or f"#{r.record_id}" for r in matched}) > 1:
        return OnlineAnswer(Validity.MULTIPLE, tuple(matched))
    valid_matched = [r for r in matched if r.validity_on(today).is_valid]
    if valid_matched:
        chosen = max(valid_matched, key=_started)
        return OnlineAnswer(chosen.validity_on(today), (chosen,), chosen.as_of)
    latest = max(matched, key=_started)
    newer = [r for r in history if r.validity_on(today).is_valid and r.record_id != latest.record_id]
    if newer:
        return OnlineAnswer(Validity.INVALID_NEWER_EXISTS, (latest, max(newer, key=_started)),
                            latest.as_of)
    return OnlineAnswer(latest.validity_on(today), (latest,), latest.as_of)


def _started(record: QualificationRecord) -> date:
    return record.qualification_date or date.min  # an older terminal may not say


def _judge(answer: OnlineAnswer, source: Source, request: CheckRequest, policy: Policy, now: datetime,
           today: date, warnings: list[Warning]) -> Verdict:
    record = answer.records[0] if answer.records and answer.validity != Validity.MULTIPLE else None
    as_of = answer.as_of or (record.as_of if record else None)
    age = int((now - as_of).total_seconds()) if as_of else None
    common: dict[str, Any] = dict(source=source, validity=answer.validity, as_of=as_of, age_seconds=age, record=record)
    if record:
        warnings.extend(_record_warnings(record))
    stale_age = age if source == Source.CACHE and age is not None and age > policy.cache_max_age.total_seconds() else None
    if stale_age is not None:
        warnings.append(Warning(
            "stale",
            f"キャッシュの情報が古くなっています（{age_ja(stale_age)}の情報）",
            f"cached data is {stale_age // 3600} h old, beyond the {policy.cache_max_age} policy",
        ))

    v = answer.validity
    if v.is_valid:
        copay = record.copay_percent_on(today) if record else None
        if v == Validity.VALID_UNREGISTERED:
            office = f"（{record.welfare_office or record.insurer_name}）" if record and record.is_welfare else ""
            warnings.append(Warning("valid_unregistered",
                                    f"資格確認の結果は「有効（未登録）」です。医療券・調剤券の内容は福祉事務所{office}に確認してください",
                                    "answered 有効（未登録） (6): check the 医療券 with the welfare office"))
        if stale_age is not None:
            return Verdict(Outcome.CONFIRM, "stale_data",
                           f"要確認：{age_ja(stale_age)}の情報で有効（現在の資格は未確認）",
                           "valid in old cached data: not confirmed", copay_percent=copay,
                           warnings=tuple(warnings), **common,
                           next_steps_ja=(*fallback_steps_ja(request), "ネットワーク回復後に自動で再確認されます"))
        if record and record.is_welfare:
            return Verdict(Outcome.OK, "welfare", "確認OK：医療扶助（生活保護）です",
                           "医療扶助 (public assistance): valid", warnings=tuple(warnings), **common)
        return Verdict(Outcome.OK, "valid", "確認OK：資格は有効です", "insured: qualification valid",
                       copay_percent=copay, warnings=tuple(warnings), **common)
    if v == Validity.NOT_FOUND and request.document == DocumentKind.SMARTPHONE and request.card_link:
        return Verdict(Outcome.CONFIRM, "smartphone_unlinked",
                       "要確認：このスマホ保険証はまだ紐付けがありません（カードとは別の証明書です）",
                       "this phone's certificate is not linked (it is not the card's)", warnings=tuple(warnings),
                       **common,
                       next_steps_ja=("同じスマホでマイナポータルの資格情報画面を表示してもらい、番号で確認してください",
                                      "マイナンバーカードをお持ちならカードで確認できます"))
    if v == Validity.NOT_FOUND and request.document == DocumentKind.MEDICAL_TICKET:
        # The 福祉事務所's ticket is the document; its registration for online checks may lag.
        return Verdict(Outcome.CONFIRM, "medical_ticket_not_found",
                       "要確認：医療券の情報が見つかりません（医療券で受け付けます）",
                       "医療券 not found: accept the ticket itself", warnings=tuple(warnings),
                       **(common | {"validity": v if source == Source.ONLINE else None}),
                       next_steps_ja=("医療券の有効期間と指定医療機関名（当院）を確認してください",
                                      "番号・生年月日の入力に誤りがないか確認してください",
                                      "不明な点は医療券を発行した福祉事務所に確認してください"))
    if v == Validity.NOT_FOUND and source == Source.CACHE:
        # Nobody answered "該当資格なし": the cache only lacks the patient (no validity).
        return Verdict(Outcome.CONFIRM, "cache_miss",
                       "要確認：オフラインのため確認できません（手元の情報に該当なし）",
                       "offline and not in the local cache", warnings=tuple(warnings), **(common | {"validity": None}),
                       next_steps_ja=("番号・生年月日の入力に誤りがないか確認してください",
                                      *fallback_steps_ja(request), "ネットワークの回復後に再確認します"))
    if v == Validity.NOT_FOUND:
        return Verdict(Outcome.NG, "not_found", "資格情報なし（該当資格なし）", "no qualification found",
                       warnings=tuple(warnings), **common,
                       next_steps_ja=("番号・生年月日の入力に誤りがないか確認してください",
                                      "転職・転居直後は登録まで数日かかることがあります",
                                      *fallback_steps_ja(request)))
    if v == Validity.MULTIPLE:
        return Verdict(Outcome.NG, "multiple", "複数該当：一人に絞れません", "several qualifications match",
                       warnings=tuple(warnings), **common,
                       next_steps_ja=("枝番を入力して再確認してください", "氏名・生年月日を書類で確認してください"))
    newer = answer.records[1] if v == Validity.INVALID_NEWER_EXISTS and len(answer.records) > 1 else None
    lost = record.disqualification_date if record else None
    headline = f"資格なし／無効（{date_ja(lost)}に資格喪失）" if lost else "資格なし／無効"
    steps = list(fallback_steps_ja(request))
    if newer:
        steps.insert(0, f"新しい資格があります：{newer.insurer_name}（{newer.insurer_number}）")
    return Verdict(Outcome.NG, "invalid" if v == Validity.INVALID else "invalid_newer_exists",
                   headline, f"qualification not valid (lost {lost})" if lost else "qualification not valid",
                   newer_record=newer, warnings=tuple(warnings), next_steps_ja=tuple(steps), **common)


def card_holder(request: CheckRequest) -> bool:
    """The patient presented the マイナンバーカード (or the スマホ保険証 phone): the one case the
    申立 covers (docs/domain.md §3)."""
    return (request.method in (Method.CARD, Method.VISUAL) or request.card_presented
            or request.document in (DocumentKind.MYNA_CARD, DocumentKind.SMARTPHONE))


def fallback_steps_ja(request: CheckRequest) -> tuple[str, ...]:
    """What to do when this check cannot establish the qualification, by what the patient
    presented: a card holder shows the マイナポータル screen or the お知らせ with the card, then
    fills in the 申立書; anyone else shows a valid 資格確認書 (or the card), else pays 10割."""
    if card_holder(request):
        return ("マイナポータルの資格情報画面か資格情報のお知らせを、カードと一緒に見せてもらい番号で確認してください",
                "どちらもなければ被保険者資格申立書（F5、カードの券面を入力）で受け付けます")
    return ("有効な資格確認書か、マイナンバーカードの提示をお願いしてください",
            "どちらもなければ申立の対象外です：10割負担（F5で「カードなし」）。療養費は保険者に請求できます")


def _self_pay(warnings: list[Warning]) -> Verdict:
    return Verdict(
        Outcome.CONFIRM, "self_pay", "10割負担：マイナンバーカードも有効な資格確認書もありません（申立の対象外）",
        "self-pay (10割): neither a usable card nor a valid 資格確認書; no 申立", Source.NONE,
        copay_percent=100, warnings=tuple(warnings),
        next_steps_ja=("医療費の全額（10割）をお支払いいただいてください",
                       "領収書を保管し、加入している保険者に療養費の支給を申請できることをお伝えください",
                       "マイナンバーカードをお持ちなら、次回はカードをお持ちいただくようお伝えください"))


def limit_consented(request: CheckRequest, record: QualificationRecord) -> bool:
    """Whether the 限度額 information may be shown: the patient's answer at this desk when asked,
    else the consent the answer carries (given on the reader)."""
    if request.consent.limit:
        return request.consent.limit == CONSENT_GIVEN
    return record.consent_limit != CONSENT_NOT_GIVEN


def _limit_as_consented(verdict: Verdict, request: CheckRequest) -> Verdict:
    """Without consent the 限度額 class and certificate are not shown (even when the cache has
    them from an earlier visit), and the verdict says so: no class shown is not no class."""
    record = verdict.record
    if record is None or limit_consented(request, record):
        return verdict
    hidden = replace(record, limit_class="", limit_certificate="", limit_issued_on=None, limit_valid_from=None,
                     limit_valid_until=None, limit_long_term_from=None)
    difficult = "（同意取得困難）" if request.consent.limit == CONSENT_DIFFICULT else ""
    warning = Warning("limit_not_shared", f"限度額情報：同意なし{difficult}（区分がないとは限りません）",
                      "no consent to share 限度額 information: its absence says nothing")
    return replace(verdict, record=hidden, warnings=(*verdict.warnings, warning))


def _needs_document(verdict: Verdict, request: CheckRequest) -> Verdict:
    """A prescription QR or a 診察券 finds the patient; it is not a document. A verdict from one
    is never a bare 確認OK: it says which document the patient still has to show."""
    rule = DOCUMENT_RULES[request.document]
    if rule.is_document or verdict.outcome != Outcome.OK:
        return verdict
    return replace(
        verdict, outcome=Outcome.CONFIRM, reason="document_needed",
        headline_ja=f"要確認：資格は有効（{rule.label_ja}で照会）。保険の書類の確認が必要です",
        headline_en=f"qualification valid, looked up by {request.document.value}: a document must still be shown",
        next_steps_ja=(("マイナ保険証か医療券を提示してもらってください",) if verdict.record and verdict.record.is_welfare
                       else ("マイナ保険証（スマホ保険証）か資格確認書を提示してもらってください",
                             "カードが読めないときは、お知らせかマイナポータル画面をカードと一緒に"))
        + verdict.next_steps_ja)


def _with_funds(verdict: Verdict, request: CheckRequest, rules: FundRules) -> Verdict:
    """The funds (the record's as answered, then those typed or scanned, which add the monthly
    cap from the 受給者証) with their rules, and the charge they lead to. A 医療扶助 record
    charges nothing, never an insurance ratio; a fund whose rule is not set leaves the charge
    to be found out, never guessed."""
    funds = {fund.payer_number: fund for fund in (verdict.record.funds if verdict.record else ())}
    for fund in request.public_funds:
        known = funds.get(fund.payer_number)
        funds[fund.payer_number] = replace(fund, self_pay_yen=known.self_pay_yen) if known else fund
    if not funds:
        return verdict
    lines = tuple(FundLine(fund, rules.rule_for(fund)) for fund in funds.values())
    if verdict.outcome == Outcome.NG:
        return replace(verdict, funds=lines)
    charge = charge_for(verdict.copay_percent, list(lines))
    warnings = list(verdict.warnings)
    steps = verdict.next_steps_ja
    if not charge.known:
        warnings.append(Warning("charge_unknown", "公費の窓口負担がわかりません（計算していません）",
                                "the charge under the funds is not known: not guessed"))
        steps += ("公費の受給者証（医療証）で窓口負担を確認してください。施設の負担ルール表は madoguchi funds show で確認できます",)
    elif charge.cap_missing:
        warnings.append(Warning("monthly_cap_missing", "公費の月上限額が未入力です。受給者証の自己負担上限額を確認してください",
                                "a fund's monthly cap was not typed"))
    headline = verdict.headline_ja
    if verdict.reason == "welfare":
        headline = f"確認OK：医療扶助（生活保護）です。{charge.ja if charge.known else '窓口負担は要確認'}"
    return replace(verdict, funds=lines, charge=charge, warnings=tuple(warnings), next_steps_ja=steps,
                   headline_ja=headline)


def _record_warnings(record: QualificationRecord) -> list[Warning]:
    result = []
    if any(mark in record.name or mark in record.name_other for mark in UNREPRESENTABLE_MARKS):
        result.append(Warning("name_unrepresentable", "券面・書類で氏名を確認",
                              "the name has characters the system cannot show: check it on the card"))
    if record.nondisclosure:
        result.append(Warning("nondisclosure", "不開示：住所などは表示されません。本人確認は慎重に",
                              "restricted record (不開示): address withheld"))
    return result


def _declaration(request: CheckRequest, today: date, warnings: list[Warning]) -> Verdict:
    declaration = request.declaration
    if declaration is None:
        raise ValueError("a declaration check needs the declaration")
    copay = copay_by_age(declaration.birth_date, today, declaration.income_class)
    if declaration.income_class is None and age_band_ja(declaration.birth_date, today) in ("70〜74歳", "75歳以上"):
        warnings.append(Warning("income_unknown",
                                "70歳以上：所得区分が不明のため一般として計算しました。現役並み所得なら3割です",
                                "70+: income class unknown, charged as 一般"))
    return Verdict(
        Outcome.CONFIRM, "declaration",
        f"申立：仮の負担割合 {copay // 10}割（{age_band_ja(declaration.birth_date, today)}）",
        f"self-declaration: provisional copay {copay}%", Source.DECLARATION,
        copay_percent=copay, provisional_copay=True, warnings=tuple(warnings),
        next_steps_ja=("申立書を保管し、番号がわかったら連絡をもらうようお伝えください",
                       "ネットワークの回復後に資格を照会し、結果は要対応リストに出ます"),
    )


def _confirm(reason: str, ja: str, en: str, warnings: list[Warning], steps: tuple[str, ...]) -> Verdict:
    return Verdict(Outcome.CONFIRM, reason, f"要確認：{ja}", en, Source.NONE,
                   warnings=tuple(warnings), next_steps_ja=steps)


def age_ja(seconds: int) -> str:
    if seconds < 3600:
        return f"{max(seconds // 60, 0)}分前"
    if seconds < 86400 * 2:
        return f"{seconds // 3600}時間前"
    return f"{seconds // 86400}日前"


def format_verdict(verdict: Verdict) -> str:
    """The verdict as lines of text (the command line and the text demo)."""
    label = {"ok": "確認OK", "ng": "資格なし／無効", "confirm": "要確認"}[verdict.outcome.value]
    lines = [f"[{verdict.outcome.value.upper()}] {label} — {verdict.headline_ja}"]
    source = {"online": "オンライン確認", "cache": "オフライン（手元の情報）", "declaration": "申立", "none": "-"}
    age = f"（{age_ja(verdict.age_seconds)}の情報）" if verdict.age_seconds is not None else ""
    lines.append(f"  情報源: {source[verdict.source.value]}{age}")
    r = verdict.record
    if r:
        lines.append(f"  氏名: {r.name}（{r.name_kana}）  生年月日: {date_ja(r.birth_date)}")
        if r.is_welfare:
            lines.append(f"  医療扶助: 公費負担者番号 {r.insurer_number}  受給者番号 {r.number}")
            lines.append(f"  福祉事務所: {r.welfare_office or r.insurer_name or '-'}")
        else:
            lines.append(f"  保険者: {r.insurer_name}（{r.insurer_number}）")
            lines.append(f"  記号・番号・枝番: {r.symbol or '-'}・{r.number}・{r.branch or '-'}  {r.personal_family_ja}")
        if r.limit_class:
            certificate = f"  {r.limit_certificate_ja}" if r.limit_certificate else ""
            lines.append(f"  限度額適用区分: {r.limit_class_ja}（{r.limit_class}）{certificate}")
        if r.prescription_issue_ja:
            lines.append(f"  処方箋: {r.prescription_issue_ja}（患者さんの選択）")
        if r.specific_diseases:
            lines.append(f"  特定疾病: {'、'.join(r.specific_diseases)}")
    if verdict.copay_percent is not None:
        provisional = "（仮）" if verdict.provisional_copay else ""
        insurance = "（保険）" if verdict.charge else ""
        lines.append(f"  負担割合: {verdict.copay_percent // 10}割{provisional}{insurance}")
    lines += [f"  公費: {line.ja()}" for line in verdict.funds]
    if verdict.charge:
        lines.append(f"  窓口負担: {verdict.charge.ja}")
    lines += [f"  注意: {w.ja}" for w in verdict.warnings]
    lines += [f"  → {step}" for step in verdict.next_steps_ja]
    return "\n".join(lines)
