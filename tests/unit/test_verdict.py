from dataclasses import replace
from datetime import date, timedelta

import pytest
from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.model import DocumentKind, IncomeClass, Validity
from madoguchi.edge.numbers import InputError
from madoguchi.edge.verdict import CheckRequest, Consent, Declaration, Method, Outcome, Source, decide
from madoguchi.sim.national import NationalSystem

from tests.conftest import NOW, TODAY

POLICY = Policy()


def by_numbers(sample: dict, **extra) -> CheckRequest:
    return CheckRequest(Method.NUMBERS, extra.pop("document", DocumentKind.ELIGIBILITY_CERTIFICATE),
                        insurer_number=sample["insurer_number"], symbol=sample["symbol"], number=sample["number"],
                        branch=sample["branch"], birth_date=date.fromisoformat(sample["birth_date"]), **extra)


def test_valid_person_from_a_fresh_cache_is_ok_with_source_and_age(populated, population_samples):
    _, conn = populated
    v = decide(by_numbers(population_samples["valid"]), store.Lookup(conn), POLICY, NOW)
    assert v.outcome == Outcome.OK and v.validity == Validity.VALID and v.source == Source.CACHE
    assert 0 <= v.age_seconds < 72 * 3600 and v.as_of is not None
    assert v.record.name == population_samples["valid"]["name"] and v.copay_percent in (10, 20, 30)


def test_lost_qualification_is_ng_with_the_loss_date(populated, population_samples):
    _, conn = populated
    v = decide(by_numbers(population_samples["lost"]), store.Lookup(conn), POLICY, NOW)
    assert v.outcome == Outcome.NG and v.validity == Validity.INVALID
    lost = v.record.disqualification_date
    assert f"{lost.year}年{lost.month}月{lost.day}日に資格喪失" in v.headline_ja  # as the desk writes dates


def test_unknown_numbers_offline_ask_for_the_fallback_not_a_refusal(populated, population_samples):
    _, conn = populated
    v = decide(by_numbers(population_samples["not_found"]), store.Lookup(conn), POLICY, NOW)
    assert v.outcome == Outcome.CONFIRM and v.reason == "cache_miss"
    # Nobody answered 該当資格なし: the national system's validity is not claimed.
    assert v.validity is None and v.to_json()["validity"] is None and v.to_json()["validity_ja"] is None
    assert any("申立" in step for step in v.next_steps_ja)


def test_stale_cached_data_is_never_ok(populated, population_samples):
    _, conn = populated
    v = decide(by_numbers(population_samples["stale"]), store.Lookup(conn), POLICY, NOW)
    assert v.outcome == Outcome.CONFIRM and v.reason == "stale_data" and v.age_seconds > 72 * 3600
    assert any(w.code == "stale" for w in v.warnings)
    lenient = replace(POLICY, cache_max_age=timedelta(days=365))
    assert decide(by_numbers(population_samples["stale"]), store.Lookup(conn), lenient, NOW).outcome == Outcome.OK


def test_nondisclosure_and_masked_names_warn(populated, population_samples):
    _, conn = populated
    v = decide(by_numbers(population_samples["nondisclosure"]), store.Lookup(conn), POLICY, NOW)
    assert v.record.address is None and "nondisclosure" in [w.code for w in v.warnings]
    v = decide(by_numbers(population_samples["masked_name"]), store.Lookup(conn), POLICY, NOW)
    assert [w.ja for w in v.warnings if w.code == "name_unrepresentable"] == ["券面・書類で氏名を確認"]


def test_same_numbers_two_patients_is_multiple(populated, population_samples):
    _, conn = populated
    sample = population_samples["valid"]
    twin = store.find_by_numbers(conn, sample["insurer_number"], sample["symbol"], sample["number"],
                                 sample["branch"], date.fromisoformat(sample["birth_date"]))[0]
    row = store.record_row({**twin.to_json(), "record_id": 10_000_000, "patient_id": "twin", "branch": "09"})
    with store.transaction(conn):
        store.upsert_records(conn, [row])
    v = decide(by_numbers({**sample, "branch": ""}), store.Lookup(conn), POLICY, NOW)
    assert v.outcome == Outcome.NG and v.validity == Validity.MULTIPLE and v.record is None
    assert decide(by_numbers(sample), store.Lookup(conn), POLICY, NOW).outcome == Outcome.OK


def test_old_record_of_a_patient_with_a_new_one_is_invalid_newer_exists(populated, population_records):
    _, conn = populated
    known = [r for r in population_records if r["registered_on"] <= TODAY.isoformat()]
    by_person = {}
    for r in known:
        by_person.setdefault(r["person_id"], []).append(r)
    old = next(rs[0] for rs in by_person.values() if len(rs) == 2)
    v = decide(by_numbers(old), store.Lookup(conn), POLICY, NOW)
    assert v.validity == Validity.INVALID_NEWER_EXISTS and v.outcome == Outcome.NG
    assert v.newer_record is not None and v.newer_record.insurer_number in v.next_steps_ja[0]


def test_patient_id_finds_the_valid_record(populated, population_samples):
    _, conn = populated
    v = decide(CheckRequest(Method.PATIENT_ID, patient_id=population_samples["valid"]["patient_id"]), store.Lookup(conn), POLICY, NOW)
    assert v.outcome == Outcome.OK


def test_notice_without_the_card_is_refused_before_any_lookup(populated, population_samples):
    _, conn = populated
    v = decide(by_numbers(population_samples["valid"], document=DocumentKind.NOTICE), store.Lookup(conn), POLICY, NOW)
    assert v.outcome == Outcome.CONFIRM and v.reason == "document_refused" and v.record is None


@pytest.mark.parametrize("birth, income, copay", [
    (TODAY.replace(year=TODAY.year - 4), None, 20),
    (TODAY.replace(year=TODAY.year - 40), None, 30),
    (TODAY.replace(year=TODAY.year - 72), None, 20),
    (TODAY.replace(year=TODAY.year - 72), IncomeClass.ACTIVE, 30),
    (TODAY.replace(year=TODAY.year - 80), None, 10),
])
def test_declaration_gets_the_provisional_copay(populated, birth, income, copay):
    _, conn = populated
    request = CheckRequest(Method.DECLARATION, DocumentKind.DECLARATION, card_presented=True,
                           declaration=Declaration("申立　太郎", "モウシタテ　タロウ", birth, income_class=income))
    v = decide(request, store.Lookup(conn), POLICY, NOW)
    assert v.outcome == Outcome.CONFIRM and v.source == Source.DECLARATION
    assert v.copay_percent == copay and v.provisional_copay


def test_revoked_card_is_ng_and_grace_period_warns(populated, population_samples):
    _, conn = populated
    link = store.card_link_for(conn, b"cert")
    conn.execute("UPDATE qualification SET card_link = ? WHERE patient_id = ?",
                 (link, population_samples["valid"]["patient_id"]))
    card = CheckRequest(Method.CARD, card_link=link, certificate_not_after=TODAY - timedelta(days=10))
    v = decide(card, store.Lookup(conn), POLICY, NOW)
    assert v.outcome == Outcome.OK and "certificate_grace" in [w.code for w in v.warnings]
    expired = decide(replace(card, certificate_not_after=TODAY - timedelta(days=120)), store.Lookup(conn), POLICY, NOW)
    assert expired.outcome == Outcome.CONFIRM and expired.reason == "certificate_expired"
    conn.execute("INSERT INTO revoked_certificate VALUES (?, '紛失届')", (link,))
    v = decide(card, store.Lookup(conn), POLICY, NOW)
    assert v.outcome == Outcome.NG and v.reason == "certificate_revoked" and "紛失届" in v.headline_ja


def test_online_answer_wins_within_budget_and_cache_answers_when_cut_or_slow(populated, population_records,
                                                                            population_samples):
    _, conn = populated
    national = NationalSystem(population_records, clock=lambda: NOW)
    online = national.online_source()
    pending = by_numbers(population_samples["job_change_pending"])
    assert decide(pending, store.Lookup(conn), POLICY, NOW, online).source == Source.ONLINE
    national.cut()
    assert decide(pending, store.Lookup(conn), POLICY, NOW, online).source == Source.CACHE
    national.restore()
    national.latency = 0.3
    fast = replace(POLICY, online_budget_seconds=0.1)
    assert decide(pending, store.Lookup(conn), fast, NOW, online).source == Source.CACHE
    online_unknown = decide(by_numbers(population_samples["not_found"]), store.Lookup(conn), POLICY, NOW, online)
    assert online_unknown.outcome == Outcome.NG and online_unknown.reason == "not_found"


def test_run_check_audits_every_check_and_queues_offline_ones(populated, population_samples, population_records):
    _, conn = populated
    online = NationalSystem(population_records, clock=lambda: NOW).online_source()
    offline = run_check(conn, by_numbers(population_samples["valid"]), POLICY, clock=lambda: NOW)
    live = run_check(conn, by_numbers(population_samples["valid"]), POLICY, online, clock=lambda: NOW)
    assert offline.outbox_id is not None and live.outbox_id is None
    assert (offline.audit_id, live.audit_id) == (1, 2)
    assert store.verify_audit(conn) == (2, [])
    logged = conn.execute("SELECT group_concat(inputs_hash || detail) FROM audit").fetchone()[0]
    assert population_samples["valid"]["number"] not in logged.split('"')


@pytest.mark.parametrize("field, limit", [("symbol", 20), ("number", 20), ("insurer_number", 8), ("branch", 2),
                                          ("patient_id", 20)])
def test_a_check_request_is_bounded_like_the_desk_inputs(field, limit):
    from madoguchi.edge.numbers import InputError

    CheckRequest(Method.NUMBERS, **{field: "1" * limit})
    with pytest.raises(InputError) as error:
        CheckRequest(Method.NUMBERS, **{field: "1" * 100_000})
    assert len(str(error.value)) < 200  # the value is not echoed


def test_a_declaration_is_bounded_like_the_desk_inputs():
    from madoguchi.edge.numbers import InputError

    with pytest.raises(InputError):
        Declaration("見" * 41, "ミ", date(1970, 1, 1))


def test_next_steps_name_what_recovers(populated, population_samples):
    _, conn = populated
    request = CheckRequest(Method.DECLARATION, DocumentKind.DECLARATION, card_presented=True,
                           declaration=Declaration("申立　太郎", "モウシタテ　タロウ", date(1970, 1, 1)))
    steps = decide(request, store.Lookup(conn), POLICY, NOW).next_steps_ja
    assert any("ネットワークの回復後に資格を照会" in step for step in steps)
    miss = decide(by_numbers(population_samples["not_found"]), store.Lookup(conn), POLICY, NOW).next_steps_ja
    assert not any("、回復後" in step for step in miss)


def test_the_declaration_is_only_for_a_patient_who_presented_the_card(populated):
    _, conn = populated
    declared = Declaration("申立　太郎", "モウシタテ　タロウ", date(1980, 1, 1))
    for request in (CheckRequest(Method.DECLARATION, DocumentKind.DECLARATION, declaration=declared),
                    CheckRequest(Method.SELF_PAY, DocumentKind.NONE)):
        v = decide(request, store.Lookup(conn), POLICY, NOW)
        assert (v.reason, v.copay_percent, v.source, v.provisional_copay) == ("self_pay", 100, Source.NONE, False)
        assert any("療養費" in step for step in v.next_steps_ja)
        assert not any("申立書" in step for step in v.next_steps_ja)
        assert run_check(conn, request, POLICY, clock=lambda: NOW).outbox_id is None


def test_next_steps_follow_what_the_patient_presented(populated, population_samples):
    _, conn = populated
    lost = population_samples["lost"]
    by_certificate = decide(by_numbers(lost), store.Lookup(conn), POLICY, NOW)
    with_card = decide(by_numbers(lost, document=DocumentKind.NOTICE, card_presented=True), store.Lookup(conn),
                       POLICY, NOW)
    by_card = decide(CheckRequest(Method.CARD, card_link="not-linked"), store.Lookup(conn), POLICY, NOW)
    assert by_certificate.reason == with_card.reason == "invalid" and by_card.reason == "cache_miss"
    assert "10割" in by_certificate.next_steps_ja[-1] and "申立書" not in "".join(by_certificate.next_steps_ja)
    for card_holder in (with_card, by_card):
        steps = "".join(card_holder.next_steps_ja)
        assert "カードと一緒に" in steps and "申立書" in steps and "10割" not in steps
        assert steps.index("マイナポータル") < steps.index("申立書")  # the screen or お知らせ first, then the 申立


@pytest.mark.parametrize("answer, shown, says", [
    ("1", True, None), ("0", False, "限度額情報：同意なし（"), ("3", False, "限度額情報：同意なし（同意取得困難）")])
def test_the_limit_class_is_shown_only_with_consent(populated, population_records, answer, shown, says):
    _, conn = populated
    r = next(r for r in population_records if r["limit_class"] and r["disqualification_date"] is None
             and r["registered_on"] <= TODAY.isoformat())
    request = replace(by_numbers(r), consent=Consent(limit=answer))
    v = decide(request, store.Lookup(conn), POLICY, NOW)  # the cache holds the class
    assert (v.record.limit_class == r["limit_class"]) is shown and (v.record.limit_class == "") is not shown
    warnings = [w.ja for w in v.warnings if w.code == "limit_not_shared"]
    assert warnings == ([] if says is None else [warnings[0]]) and (says is None or warnings[0].startswith(says))
    assert v.request["consent"] == {"limit": answer, "medical": ""}


def test_a_consent_answer_is_one_of_the_terminals_values():
    with pytest.raises(InputError):
        Consent(limit="2")
    assert (Consent("1").limit_flag, Consent("0").limit_flag, Consent("3").limit_flag, Consent().limit_flag) == (
        "1", "0", "0", "0")
