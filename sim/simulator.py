"""A SIMULATOR of the national system as an `Upstream`: for demos, tests and training only.

It answers from the synthetic population through `edge.national.NationalSystem` (nothing in it
is a real person, and no answer from it is a real qualification check) with the behaviour the
real system shows: new records known only days after a job change (``registered_on``), losses,
複数該当 (`NationalSystem.add_twin`), 不開示 people (address withheld), certificate resolution
for virtual cards (card link → patient), outages (`cut`, `add_outage`) and slow answers
(`latency`). Checks made on the simulated card reader (`reader_check`) arrive as pushes.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Sequence

from madoguchi.edge.numbers import InputError, normalize_branch, normalize_symbol
from madoguchi.edge.verdict import CheckRequest, Method, OnlineAnswer
from madoguchi.sim.national import NationalSystem
from madoguchi.sync.hub.upstream.base import NumbersQuery, UpstreamError, UpstreamTimeout, UpstreamUnavailable


class SimulatedUpstream:
    def __init__(self, national: NationalSystem, card_links: dict[str, str] | None = None) -> None:
        self.national = national
        for card_link, patient_id in (card_links or {}).items():
            national.link_card(card_link, patient_id)
        self._pushes: queue.Queue[OnlineAnswer] = queue.Queue()

    def check(self, query: NumbersQuery, timeout: float) -> OnlineAnswer:
        self._wait(timeout)
        return self.national.answer(_request(query))

    def batch_check(self, queries: Sequence[NumbersQuery], timeout: float) -> list[OnlineAnswer | UpstreamError]:
        self._wait(timeout)
        answers: list[OnlineAnswer | UpstreamError] = []
        for query in queries:
            try:
                answers.append(self.national.answer(_request(query)))
            except UpstreamError as exc:
                answers.append(exc)
        return answers

    def pushes(self, timeout: float) -> list[OnlineAnswer]:
        try:
            answers = [self._pushes.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                answers.append(self._pushes.get_nowait())
            except queue.Empty:
                return answers

    def resolve_card(self, card_link: str, timeout: float) -> OnlineAnswer | None:
        self._wait(timeout)
        return self.national.answer(CheckRequest(Method.CARD, card_link=card_link))

    def reader_check(self, card_link: str = "", patient_id: str = "") -> OnlineAnswer:
        """A patient checked in on the (simulated) card reader: the result is pushed."""
        if card_link:
            answer = self.national.answer(CheckRequest(Method.CARD, card_link=card_link))
        else:
            answer = self.national.answer(CheckRequest(Method.PATIENT_ID, patient_id=patient_id))
        self._pushes.put(answer)
        return answer

    def _wait(self, timeout: float) -> None:
        if self.national.is_cut:
            raise UpstreamUnavailable("the national system is unreachable (simulated outage)")
        latency = self.national.latency
        if latency > timeout:
            time.sleep(timeout)
            raise UpstreamTimeout(f"no answer within {timeout:.1f} s (simulated slow answer)")
        time.sleep(latency)


def _request(query: NumbersQuery) -> CheckRequest:
    try:
        branch = normalize_branch(query.branch)
    except InputError as exc:
        raise UpstreamError(f"bad query: {exc}") from None
    return CheckRequest(Method.NUMBERS, insurer_number=query.insurer_number.strip(),
                        symbol=normalize_symbol(query.symbol), number=normalize_symbol(query.number),
                        branch=branch, birth_date=query.birth_date)
