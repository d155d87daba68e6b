"""The one interface every upstream (where qualification data really comes from) implements.

An upstream answers with `edge.verdict.OnlineAnswer` holding `edge.model.QualificationRecord`s,
the same model the desk and the cache use. Every call takes a timeout in seconds and raises
`UpstreamError` (or a subclass) when it cannot answer; it never returns a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from madoguchi.edge.verdict import CheckRequest, OnlineAnswer, OnlineRefused, OnlineSource, OnlineUnavailable


class UpstreamError(Exception):
    """The upstream could not give an answer (the message says why, in English)."""


class UpstreamUnavailable(UpstreamError):
    """The upstream is unreachable or refused to answer (outage, terminal down)."""


class UpstreamTimeout(UpstreamError):
    """No answer within the call's timeout."""


class UpstreamRefused(UpstreamError):
    """The upstream answered, with an error of its own (its code and message)."""


class MalformedAnswer(UpstreamError):
    """The upstream answered with something unreadable (broken, truncated or hostile data)."""


@dataclass(frozen=True)
class NumbersQuery:
    """One person asked for by the numbers on their documents.

    insurer_number: 保険者番号 (8 digits, or 6 for 国保); symbol: 記号; number: 番号;
    branch: 枝番 ("" when unknown); reference_number: 照会番号, the facility's own patient id,
    echoed back by upstreams that support it (the batch pre-check uses it to match answers);
    limit_consent: the patient's consent to share 限度額 information, "1" only when the patient
    said yes (LimitApplicationCertificateRelatedConsFlg, docs/domain.md §10).
    """

    insurer_number: str
    symbol: str
    number: str
    birth_date: date
    branch: str = ""
    reference_number: str = ""
    limit_consent: str = "0"


class Upstream(Protocol):
    def check(self, query: NumbersQuery, timeout: float) -> OnlineAnswer:
        """Check one person by numbers (資格確認 by 保険証情報)."""
        ...

    def batch_check(self, queries: Sequence[NumbersQuery], timeout: float) -> list[OnlineAnswer | UpstreamError]:
        """一括照会: pre-check many scheduled patients; answers in the order of `queries`."""
        ...

    def pushes(self, timeout: float) -> list[OnlineAnswer]:
        """Results of checks made on the card reader, pushed since the last call; waits up to
        `timeout` for the first one and returns [] if none came."""
        ...

    def resolve_card(self, card_link: str, timeout: float) -> OnlineAnswer | None:
        """The qualification behind a card certificate (by its card link), or None when this
        upstream cannot resolve certificates at all."""
        ...


def online_source(upstream: Upstream) -> OnlineSource:
    """The desk's `OnlineSource` (edge.verdict, edge.reconcile) backed by an upstream: a card is
    resolved by its card link, anything else is asked by numbers; within the verdict's budget."""

    def ask(request: CheckRequest, budget: float) -> OnlineAnswer:
        try:
            if request.card_link:
                answer = upstream.resolve_card(request.card_link, budget)
                if answer is None:
                    raise OnlineUnavailable("this upstream cannot resolve card certificates")
                return answer
            if not (request.insurer_number and request.number and request.birth_date):
                raise OnlineUnavailable("the upstream can only be asked by numbers or by card")
            return upstream.check(NumbersQuery(request.insurer_number, request.symbol, request.number,
                                               request.birth_date, request.branch, request.patient_id,
                                               request.consent.limit_flag), budget)
        except UpstreamRefused as exc:
            raise OnlineRefused(str(exc)) from None
        except UpstreamError as exc:
            raise OnlineUnavailable(str(exc)) from None

    return ask


def answer_to_json(answer: OnlineAnswer) -> dict:
    return answer.to_json()


def answer_from_json(data: dict) -> OnlineAnswer:
    """The inverse of `answer_to_json`; raises MalformedAnswer on anything else."""
    try:
        return OnlineAnswer.from_json(data)
    except ValueError as exc:
        raise MalformedAnswer(str(exc)) from None


def query_to_json(query: NumbersQuery) -> dict:
    return {"insurer_number": query.insurer_number, "symbol": query.symbol, "number": query.number,
            "branch": query.branch, "birth_date": query.birth_date.isoformat(),
            "reference_number": query.reference_number, "limit_consent": query.limit_consent}


def query_from_json(data: dict) -> NumbersQuery:
    """Raises ValueError (with the reason) on a bad query."""
    if not isinstance(data, dict):
        raise ValueError("a query must be a JSON object")
    try:
        return NumbersQuery(
            insurer_number=str(data["insurer_number"]), symbol=str(data.get("symbol") or ""),
            number=str(data["number"]), branch=str(data.get("branch") or ""),
            birth_date=date.fromisoformat(str(data["birth_date"])),
            reference_number=str(data.get("reference_number") or ""),
            limit_consent="1" if data.get("limit_consent") == "1" else "0",
        )
    except KeyError as exc:
        raise ValueError(f"missing field {exc.args[0]}") from None
