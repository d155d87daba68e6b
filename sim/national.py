"""An in-process stand-in for the national system (オンライン資格確認), for demos and tests.

It is a SIMULATOR: it answers from the synthetic population (edge.population), knowing each
record only from its ``registered_on`` day (job changes reach it days late), and it can be cut
off or slowed down on demand. It can also find a 申立 patient by kana name and birth date,
which the real system cannot: that stands in for "the patient told us the numbers later".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, datetime

from madoguchi.edge.model import QualificationRecord, Validity
from madoguchi.edge.verdict import CheckRequest, Method, OnlineAnswer, OnlineSource, OnlineUnavailable, answer_from


class NationalSystem:
    def __init__(self, records: Iterable[dict], clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.latency = 0.0
        self._cut = threading.Event()
        self._records: list[tuple[date, QualificationRecord]] = []
        self._by_numbers: dict[tuple, list[int]] = {}
        self._by_patient: dict[str, list[int]] = {}
        self._by_kana: dict[tuple, list[int]] = {}
        self._card_links: dict[str, str] = {}
        self._outages: list[tuple[datetime, datetime]] = []
        for data in records:
            self.add_record(data)

    def add_record(self, data: dict) -> None:
        """Learn one more record (JSON form with ``registered_on``, as edge.population makes)."""
        record = QualificationRecord.from_json(data)
        index = len(self._records)
        self._records.append((date.fromisoformat(data["registered_on"]), record))
        self._by_numbers.setdefault(self._numbers_key(record.insurer_number, record.symbol, record.number,
                                                      record.birth_date), []).append(index)
        if record.patient_id:
            self._by_patient.setdefault(record.patient_id, []).append(index)
        self._by_kana.setdefault((record.name_kana.replace("　", ""), record.birth_date), []).append(index)

    def add_twin(self, patient_id: str, twin_patient_id: str) -> dict:
        """複数該当 on demand: a twin under the same 記号・番号 with the same birth date and the
        next free 枝番, known from the start. A check without 枝番 then matches both."""
        indexes = self._by_patient.get(patient_id)
        if not indexes:
            raise KeyError(f"no patient {patient_id}")
        _, source = self._records[indexes[-1]]
        same_numbers = self._by_numbers[self._numbers_key(source.insurer_number, source.symbol, source.number,
                                                          source.birth_date)]
        branches = {self._records[i][1].branch for i in same_numbers}
        branch = next(f"{n:02d}" for n in range(100) if f"{n:02d}" not in branches)
        twin = replace(source, record_id=10**9 + len(self._records), patient_id=twin_patient_id, branch=branch,
                       personal_family=2, name=source.name + "（双子）").to_json()
        twin["registered_on"] = date.min.isoformat()
        self.add_record(twin)
        return twin

    def lose(self, patient_id: str, day: date, reason: str = "退職") -> None:
        """資格喪失 on demand: the patient's records still valid lose their cover from `day`."""
        for index in self._by_patient.get(patient_id, []):
            registered, record = self._records[index]
            if record.disqualification_date is None:
                self._records[index] = (registered, replace(record, disqualification_date=day, loss_reason=reason))

    def add_outage(self, start: datetime, end: datetime) -> None:
        """An outage window on the simulated clock: no answers from `start` until `end`."""
        self._outages.append((start, end))

    @staticmethod
    def _numbers_key(insurer_number: str, symbol: str, number: str, birth: date | None) -> tuple:
        return insurer_number, symbol, number, birth

    @property
    def is_cut(self) -> bool:
        if self._cut.is_set():
            return True
        now = self.clock()
        return any(start <= now < end for start, end in self._outages)

    def cut(self) -> None:
        """Simulate a network failure: every question is unanswered."""
        self._cut.set()

    def restore(self) -> None:
        self._cut.clear()

    def link_card(self, card_link: str, patient_id: str) -> None:
        """Let the system resolve this card (the real one does so from the certificate)."""
        self._card_links[card_link] = patient_id

    def answer(self, request: CheckRequest) -> OnlineAnswer:
        now = self.clock()
        today = now.date()

        def known(indexes: list[int]) -> list[QualificationRecord]:
            return [replace(r, as_of=now) for registered, r in
                    (self._records[i] for i in indexes) if registered <= today]

        if request.card_link:
            patient = self._card_links.get(request.card_link)
            matched = known(self._by_patient.get(patient, [])) if patient else []
            return answer_from(matched, matched, today)
        if request.method == Method.DECLARATION and request.declaration:
            d = request.declaration
            matched = known(self._by_kana.get((d.name_kana.replace("　", "").replace(" ", ""), d.birth_date), []))
        elif request.patient_id:
            matched = known(self._by_patient.get(request.patient_id, []))
        else:
            matched = known(self._by_numbers.get(self._numbers_key(
                request.insurer_number, request.symbol, request.number, request.birth_date), []))
            if request.branch:
                matched = [r for r in matched if r.branch == request.branch]
        if not matched:
            return OnlineAnswer(Validity.NOT_FOUND, as_of=now)
        history = known(self._by_patient.get(matched[0].patient_id, [])) if matched[0].patient_id else matched
        return answer_from(matched, history, today)

    def online_source(self) -> OnlineSource:
        """The OnlineSource a desk uses; it honours the budget the verdict gives it."""

        def ask(request: CheckRequest, budget: float) -> OnlineAnswer:
            if self.is_cut:
                raise OnlineUnavailable("network cut (simulated)")
            if self.latency > budget:
                time.sleep(budget)
                raise OnlineUnavailable(f"no answer within {budget:.1f} s (simulated)")
            time.sleep(self.latency)
            return self.answer(request)

        return ask
