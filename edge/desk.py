"""A check at the desk: the verdict, recorded in the audit log (and the outbox when offline; a
申立 also in the declarations, on its way to the claim). The audit entry holds the patient's
consent answers, when asked, and whether the card was presented."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.verdict import CheckRequest, Consent, OnlineSource, Source, Verdict, decide


@dataclass(frozen=True)
class CheckResult:
    verdict: Verdict
    audit_id: int
    outbox_id: int | None


def run_check(
    conn: sqlite3.Connection,
    request: CheckRequest,
    policy: Policy,
    online: OnlineSource | None = None,
    clock: Callable[[], datetime] = store.utcnow,
) -> CheckResult:
    """Decide, then record the check: one audit entry, and an outbox entry for every check
    decided from the cache or a declaration (to be re-checked when the network returns)."""
    now = clock()
    verdict = decide(request, store.Lookup(conn), policy, now, online)
    entry = {
        "at": now.isoformat(),
        "method": request.method.value,
        "inputs_hash": store.inputs_hash(conn, request.personal_inputs()),
        "verdict": verdict.outcome.value,
        "validity": int(verdict.validity) if verdict.validity else None,
        "source": verdict.source.value,
        "data_as_of": verdict.as_of.isoformat() if verdict.as_of else None,
        "data_age_seconds": verdict.age_seconds,
        "record_id": verdict.record.record_id if verdict.record else None,
        "detail": json.dumps(
            {"reason": verdict.reason, "document": request.document.value,
             "copay_percent": verdict.copay_percent,
             "warnings": [w.code for w in verdict.warnings],
             # 公費: the payer numbers (a programme, not a person) with their rules and the charge;
             # the 受給者番号 is personal: it is in the inputs' keyed hash only.
             **({"funds": [{"payer_number": line.fund.payer_number, "source": line.fund.source,
                            "rule": line.rule.charge.value if line.usable and line.rule else "unknown",
                            "monthly_cap_yen": line.fund.monthly_cap_yen} for line in verdict.funds],
                 "charge": verdict.charge.to_json() if verdict.charge else None} if verdict.funds else {}),
             **({"consent": asdict(request.consent)} if request.consent != Consent() else {}),
             **({"card_presented": True} if request.card_presented else {})},
            separators=(",", ":"),
        ),
    }
    outbox_id = None
    with store.transaction(conn):
        audit_id = store.append_audit(conn, entry)
        if verdict.source in (Source.CACHE, Source.DECLARATION):
            outbox_id = store.add_to_outbox(conn, audit_id, outbox_payload(request, verdict), verdict.outcome.value,
                                            verdict.source.value, verdict.copay_percent, now)
        if verdict.source == Source.DECLARATION and request.declaration is not None:
            store.add_declaration(conn, audit_id, outbox_id, now, verdict.copay_percent, request.declaration)
    return CheckResult(verdict, audit_id, outbox_id)


def outbox_payload(request: CheckRequest, verdict: Verdict) -> dict[str, Any]:
    """What reconciliation needs to re-check an offline decision."""
    return {
        "method": request.method.value,
        "document": request.document.value,
        "inputs": request.personal_inputs(),
        "reason": verdict.reason,
        "record_id": verdict.record.record_id if verdict.record else None,
    }
