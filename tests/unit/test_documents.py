"""The documents a patient may present, as the rules stand in 2026 (docs/domain.md §2, §3, §7),
each rule tested at its date boundary."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.funds import PublicFund
from madoguchi.edge.model import DocumentKind, Validity, grace_until, judge_document
from madoguchi.edge.qr.codes import check_request, classify
from madoguchi.edge.qr.jahis import build_jahis
from madoguchi.edge.verdict import CheckRequest, Method, OnlineAnswer, Outcome, decide
from madoguchi.sim.documents import SAMPLE_PERSON, prescription_from_person

from tests.conftest import NOW, TODAY

POLICY = Policy()


@pytest.mark.parametrize("expiry,last", [
    (date(2026, 2, 10), date(2026, 5, 31)),  # the MHLW example: February → end of May
    (date(2026, 2, 28), date(2026, 5, 31)),
    (date(2026, 11, 30), date(2027, 2, 28)),
    (date(2027, 11, 1), date(2028, 2, 29)),  # leap year
    (date(2026, 10, 31), date(2027, 1, 31)),
    (date(2026, 12, 15), date(2027, 3, 31)),
    (date(2026, 9, 1), date(2026, 12, 31)),
])
def test_grace_runs_to_the_end_of_the_month_three_months_later(expiry, last):
    assert grace_until(expiry) == last


def card(populated, sample, **extra) -> tuple[CheckRequest, object]:
    _, conn = populated
    link = "link-" + sample["patient_id"]
    store.link_card(conn, sample["patient_id"], link)
    return CheckRequest(Method.CARD, card_link=link, **extra), conn


@pytest.mark.parametrize("field,code", [("certificate_not_after", "certificate"), ("card_valid_until", "card")])
def test_certificate_and_card_expiry_grace_at_its_boundary(populated, population_samples, field, code):
    # TODAY is 2026-11-16: an August expiry works to 2026-11-30, a July one only to 2026-10-31.
    request, conn = card(populated, population_samples["valid"])
    inside = decide(replace(request, **{field: date(2026, 8, 1)}), store.Lookup(conn), POLICY, NOW)  # 92 days would have ended
    assert inside.outcome == Outcome.OK and f"{code}_grace" in [w.code for w in inside.warnings]
    assert "2026-11-30" in next(w.ja for w in inside.warnings if w.code == f"{code}_grace")
    last_day = decide(replace(request, **{field: date(2026, 8, 31)}), store.Lookup(conn), POLICY, NOW)
    assert last_day.outcome == Outcome.OK
    over = decide(replace(request, **{field: date(2026, 7, 31)}), store.Lookup(conn), POLICY, NOW)
    assert over.outcome == Outcome.CONFIRM and over.reason == f"{code}_expired" and "2026-10-31" in over.headline_ja
    fresh = decide(replace(request, **{field: TODAY}), store.Lookup(conn), POLICY, NOW)
    assert fresh.outcome == Outcome.OK and not fresh.warnings


def test_smartphone_is_usable_from_2025_09_19():
    assert not judge_document(DocumentKind.SMARTPHONE, date(2025, 9, 18)).accepted
    assert judge_document(DocumentKind.SMARTPHONE, date(2025, 9, 19)).accepted


def test_the_portal_screen_on_the_unreadable_phone_stands_in_for_the_card():
    assert not judge_document(DocumentKind.PORTAL, TODAY).accepted
    assert judge_document(DocumentKind.PORTAL, TODAY, phone_presented=True).accepted
    assert judge_document(DocumentKind.PORTAL, TODAY, card_presented=True).accepted
    # The printed お知らせ is not on the phone: it still needs the card.
    refused = judge_document(DocumentKind.NOTICE, TODAY, phone_presented=True)
    assert not refused.accepted and "マイナンバーカードと一緒" in refused.reason_ja


def test_a_smartphone_is_its_own_card_link(populated, population_samples):
    request, conn = card(populated, population_samples["valid"])
    by_card = decide(request, store.Lookup(conn), POLICY, NOW)
    assert by_card.outcome == Outcome.OK
    # The phone's certificate is not the card's: its link finds nothing until it is linked itself.
    phone = decide(CheckRequest(Method.CARD, DocumentKind.SMARTPHONE, card_link="link-of-the-phone"), store.Lookup(conn), POLICY, NOW)
    assert phone.outcome == Outcome.CONFIRM and phone.reason == "smartphone_unlinked"
    assert any("同じスマホでマイナポータル" in step for step in phone.next_steps_ja)
    store.link_card(conn, population_samples["family_member"]["patient_id"], "link-of-the-phone")
    linked = decide(CheckRequest(Method.CARD, DocumentKind.SMARTPHONE, card_link="link-of-the-phone"),
                    store.Lookup(conn), POLICY, NOW)
    assert linked.outcome == Outcome.OK and linked.record.patient_id == population_samples["family_member"]["patient_id"]


@pytest.mark.parametrize("day,accepted", [(date(2026, 7, 31), True), (date(2026, 8, 1), False)])
def test_the_notices_printed_validity_is_honoured(day, accepted):
    # 70+: the お知らせ prints the 負担割合 with a 有効期限 (here 2026-07-31, the ratio changes in August).
    decision = judge_document(DocumentKind.NOTICE, day, card_presented=True, printed_valid_until=date(2026, 7, 31))
    assert decision.accepted is accepted
    if not accepted:
        assert "新しいお知らせ" in decision.reason_ja
    assert judge_document(DocumentKind.NOTICE, day, card_presented=True).accepted  # nothing printed: no limit


@pytest.mark.parametrize("day,accepted,online", [
    (date(2025, 12, 1), True, False), (date(2025, 12, 2), True, True),
    (date(2026, 3, 31), True, True), (date(2026, 4, 1), False, False)])
def test_the_legacy_card_at_its_dates(day, accepted, online):
    decision = judge_document(DocumentKind.LEGACY_CARD, day, printed_valid_until=date(2027, 3, 31))
    assert (decision.accepted, decision.needs_online) == (accepted, online)


def test_a_patient_card_finds_the_patient_but_is_not_a_document(populated, population_samples):
    _, conn = populated
    valid = population_samples["valid"]
    v = decide(CheckRequest(Method.PATIENT_ID, DocumentKind.PATIENT_CARD, patient_id=valid["patient_id"]),
               store.Lookup(conn), POLICY, NOW)
    assert v.outcome == Outcome.CONFIRM and v.reason == "document_needed" and v.validity == Validity.VALID
    assert "確認OK" not in v.headline_ja and "診察券" in v.headline_ja
    assert "マイナ保険証（スマホ保険証）か資格確認書" in v.next_steps_ja[0]
    assert v.record.patient_id == valid["patient_id"] and v.copay_percent is not None
    lost = decide(CheckRequest(Method.PATIENT_ID, DocumentKind.PATIENT_CARD,
                               patient_id=population_samples["lost"]["patient_id"]), store.Lookup(conn), POLICY, NOW)
    assert lost.outcome == Outcome.NG  # a loss stays a loss


def test_a_prescription_qr_says_which_document_to_show(populated, population_samples):
    _, conn = populated
    sample = population_samples["valid"]
    data = replace(prescription_from_person(SAMPLE_PERSON), insurer_number=sample["insurer_number"],
                   symbol=sample["symbol"], number=sample["number"], branch=sample["branch"],
                   birth_date=date.fromisoformat(sample["birth_date"]))
    scan = classify(build_jahis(data), today=TODAY)
    v = decide(check_request(scan), store.Lookup(conn), POLICY, NOW)
    assert v.outcome == Outcome.CONFIRM and v.reason == "document_needed" and "処方箋" in v.headline_ja
    # Shown with the patient's 資格確認書, the numbers are that document's: a plain answer.
    shown = decide(check_request(scan, DocumentKind.ELIGIBILITY_CERTIFICATE), store.Lookup(conn), POLICY, NOW)
    assert shown.outcome == Outcome.OK


def test_a_scanned_patient_card_is_a_patient_card_not_a_certificate():
    request = check_request(classify(b"00000042"))
    assert (request.method, request.document) == (Method.PATIENT_ID, DocumentKind.PATIENT_CARD)


def test_the_verdict_echoes_the_request_it_checked(populated, population_samples):
    _, conn = populated
    sample = population_samples["not_found"]
    request = CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE, insurer_number=sample["insurer_number"],
                           symbol=sample["symbol"], number=sample["number"], branch=sample["branch"],
                           birth_date=date.fromisoformat(sample["birth_date"]), card_link="secret-hash",
                           public_funds=(PublicFund("12131015", "1234566"),), printed_valid_until=TODAY + timedelta(days=30))
    echoed = decide(request, store.Lookup(conn), POLICY, NOW).to_json()["request"]
    assert echoed["method"] == "numbers" and echoed["document"] == "eligibility_certificate"
    assert (echoed["insurer_number"], echoed["symbol"], echoed["number"], echoed["branch"], echoed["birth_date"]) == (
        sample["insurer_number"], sample["symbol"], sample["number"], sample["branch"], sample["birth_date"])
    assert [(f["payer_number"], f["recipient_number"]) for f in echoed["public_funds"]] == [("12131015", "1234566")]
    assert echoed["card"] is True and "secret-hash" not in str(echoed)  # the link's presence, never its value


def test_no_consent_to_share_the_limit_class_is_said(populated, population_samples):
    _, conn = populated
    sample = population_samples["valid"]
    request = CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE, insurer_number=sample["insurer_number"],
                           symbol=sample["symbol"], number=sample["number"], branch=sample["branch"],
                           birth_date=date.fromisoformat(sample["birth_date"]))
    answer = decide(request, store.Lookup(conn), POLICY, NOW)

    def online(consent: str):
        record = replace(answer.record, consent_limit=consent)
        return lambda _request, _budget: OnlineAnswer(Validity.VALID, (record,), NOW)

    refused = decide(request, store.Lookup(conn), POLICY, NOW, online("0"))
    assert "limit_not_shared" in [w.code for w in refused.warnings]
    assert "limit_not_shared" not in [w.code for w in decide(request, store.Lookup(conn), POLICY, NOW, online("1")).warnings]
