"""Reconciliation: re-check offline decisions once the network is back (要対応リスト).

Every check decided from the cache or a declaration sits in the outbox. The device uploads it
(sync.device.upload); the hub asks its upstream about each entry (sync.hub.reconciliation) and
`compare`s the answer with what the desk did: an offline `ok` for someone who had lost the
qualification, an offline refusal for someone insured after all, a 申立 whose numbers are now
known (or who turns out not to have been insured), or a copay that differs. The device records
each answer with `store.settle`: the entry marked reconciled in the same transaction as its
followup (要対応), so a crash never reconciles an entry twice or loses one.

This module is the pure part: rebuilding a request, comparing, the desk's day of a check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from madoguchi.edge.config import Policy
from madoguchi.edge.model import DocumentKind, Validity
from madoguchi.edge.verdict import CheckRequest, Declaration, Method, OnlineAnswer

Contradiction = tuple[str, str, str]  # (kind, message_ja, correction_ja)


@dataclass(frozen=True)
class Followup:
    id: int
    outbox_id: int
    created_at: str
    kind: str
    message_ja: str
    correction_ja: str
    handled_at: str | None = None


def request_from_payload(payload: dict[str, Any]) -> CheckRequest:
    """Rebuild the CheckRequest an outbox entry was made from."""
    inputs = payload.get("inputs", {})
    declaration = Declaration.from_json(d) if (d := inputs.get("declaration")) else None
    return CheckRequest(
        Method(payload["method"]), DocumentKind(payload["document"]),
        insurer_number=inputs.get("insurer_number", ""), symbol=inputs.get("symbol", ""),
        number=inputs.get("number", ""), branch=inputs.get("branch", ""),
        birth_date=date.fromisoformat(inputs["birth_date"]) if inputs.get("birth_date") else None,
        card_link=inputs.get("card_link", ""), patient_id=inputs.get("patient_id", ""),
        declaration=declaration,
    )


def compare(offline_verdict: str, offline_copay: int | None, payload: dict[str, Any], answer: OnlineAnswer,
            check_day: date) -> Contradiction | None:
    """(kind, message_ja, correction_ja) when the online answer contradicts the desk, else None.

    The answer's record is judged on the day of the check, not the day of reconciliation: a
    patient who lost the qualification after the visit was rightly accepted. The message starts
    with the patient's name when the answer names the patient (staff call the patient back).
    """
    found = _contradiction(offline_verdict, offline_copay, payload, answer, check_day)
    record = answer.records[0] if answer.records and answer.validity != Validity.MULTIPLE else None
    if found is None or record is None:
        return found
    kind, message_ja, correction_ja = found
    return kind, f"{record.name}（{record.name_kana}）：{message_ja}", correction_ja


def _contradiction(offline_verdict: str, offline_copay: int | None, payload: dict[str, Any], answer: OnlineAnswer,
                   check_day: date) -> tuple[str, str, str] | None:
    record = answer.records[0] if answer.records and answer.validity != Validity.MULTIPLE else None
    valid = record is not None and record.validity_on(check_day).is_valid
    online_copay = record.copay_percent_on(check_day) if record is not None and valid else None  # read only if valid
    numbers = (f"{record.insurer_name}（{record.insurer_number}） 記号 {record.symbol or '-'} 番号 {record.number}"
               f" 枝番 {record.branch or '-'}") if record else ""
    if payload["method"] == Method.DECLARATION.value:
        if record is not None and not valid:
            return ("declaration_not_insured",
                    f"申立の患者は受診日に資格がありませんでした：{numbers}（{answer.validity.label_ja}）",
                    "保険請求はできません。患者へ連絡し、新しい資格の確認書類の提示か、自費（10割）との差額の"
                    "精算を依頼してください")
        if not valid:
            return None  # still unknown: stays in the outbox for the next run
        return ("declaration_resolved",
                f"申立の患者の資格がわかりました：{numbers}、負担割合 {_copay_ja(online_copay)}",
                "レセプトの保険者番号・記号・番号を記入してください" + (
                    f"。仮の負担割合 {offline_copay // 10}割との差額を精算してください"
                    if offline_copay is not None and offline_copay != online_copay else ""))
    if offline_verdict == "ok" and not valid:
        return ("lost_after_ok",
                f"オフラインで有効と判断した受付が、オンラインでは「{answer.validity.label_ja}」でした",
                "請求前に患者へ連絡し、新しい資格確認書などの提示を依頼してください。"
                "資格喪失後の受診分は保険者への請求ができません")
    if offline_verdict != "ok" and valid:
        return ("valid_after_all",
                f"オフラインで確認できなかった受付が、オンラインでは有効でした：{numbers}",
                f"負担割合は {_copay_ja(online_copay)}です。10割などで受け付けた場合は差額を返金してください")
    if valid and offline_copay is not None and offline_copay != online_copay:
        return ("copay_changed",
                f"負担割合が違いました：受付時 {offline_copay // 10}割 → 正しくは {_copay_ja(online_copay)}",
                "差額を精算してください")
    return None


def _copay_ja(copay: int | None) -> str:
    return "なし（医療扶助）" if copay is None else f"{copay // 10}割"


def check_day(checked_at: str, policy: Policy) -> date:
    """The desk's day (JST) of a check made at `checked_at` (ISO 8601 with an offset)."""
    return datetime.fromisoformat(checked_at).astimezone(policy.timezone).date()
