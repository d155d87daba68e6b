"""The 資格確認端末 file-interface adapter against a fake terminal: real files, real threads."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.model import DocumentKind, Validity
from madoguchi.edge.verdict import CheckRequest, Consent, Method, Outcome, Source, decide
from madoguchi.sim.national import NationalSystem
from madoguchi.sync.hub.upstream.base import (
    MalformedAnswer,
    NumbersQuery,
    UpstreamError,
    UpstreamTimeout,
    online_source,
)
from madoguchi.sync.hub.upstream.oqs_xml import HostileFile, TerminalRefused
from madoguchi.sync.hub.upstream.terminal import BatchPending, FileTerminal

from tests.conftest import NOW, TODAY
from tests.integration.fake_terminal import BROKEN, ENTITY_BOMB, EXTERNAL_ENTITY, FakeTerminal

TIMEOUT = 3.0


@pytest.fixture
def national(population_records):
    return NationalSystem(population_records, clock=lambda: NOW)


@pytest.fixture
def share(tmp_path):
    return tmp_path / "share"


@pytest.fixture
def terminal(share, national):
    with FakeTerminal(share, national) as fake:
        yield fake


@pytest.fixture
def adapter(share, tmp_path, terminal):
    return FileTerminal(share, tmp_path / "quarantine", "1312345678", settle=0.1, batch_retry=0.05,
                        clock=lambda: NOW)


def query(sample: dict, branch: bool = True, reference: str = "", limit_consent: str = "0") -> NumbersQuery:
    return NumbersQuery(sample["insurer_number"], sample["symbol"], sample["number"],
                        date.fromisoformat(sample["birth_date"]), sample["branch"] if branch else "", reference,
                        limit_consent)


def quarantined(adapter: FileTerminal) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(adapter.quarantine.glob("*.reason"))]


def leftovers(share) -> list[str]:
    return sorted(os.listdir(share / "req")) + sorted(os.listdir(share / "res"))


# ---- single checks -----------------------------------------------------------------------------

def test_valid_patient_round_trip(adapter, terminal, share, population_samples):
    sample = population_samples["valid"]
    answer = adapter.check(query(sample), TIMEOUT)
    assert answer.validity == Validity.VALID
    (record,) = answer.records
    assert (record.insurer_number, record.symbol, record.number, record.branch) == (
        sample["insurer_number"], sample["symbol"], sample["number"], sample["branch"])
    assert record.name == sample["name"] and record.patient_id == sample["patient_id"]
    assert record.copay_percent in (10, 20, 30) and record.address and not record.nondisclosure
    assert answer.as_of == NOW
    request = terminal.seen[0]
    assert "CharacterCodeIdentifier" not in request["header"]  # real request templates have none
    assert request["name"] == f"OQSsiquc01req_{request['header']['ArbitraryFileIdentifier']}.xml"
    assert leftovers(share) == [] and quarantined(adapter) == []


def test_lost_qualification(adapter, population_samples):
    answer = adapter.check(query(population_samples["lost"]), TIMEOUT)
    assert answer.validity == Validity.INVALID
    assert answer.records[0].disqualification_date is not None
    assert answer.records[0].loss_reason in ("死亡", "その他")


def test_not_found(adapter, population_samples):
    answer = adapter.check(query(population_samples["not_found"]), TIMEOUT)
    assert answer.validity == Validity.NOT_FOUND and answer.records == ()


def test_several_match_without_branch(adapter, national, population_samples):
    sample = population_samples["valid"]
    national.add_twin(sample["patient_id"], "T0000001")
    answer = adapter.check(query(sample, branch=False), TIMEOUT)
    assert answer.validity == Validity.MULTIPLE
    assert {r.patient_id for r in answer.records} == {sample["patient_id"], "T0000001"}
    assert adapter.check(query(sample), TIMEOUT).validity == Validity.VALID  # the 枝番 settles it


def test_a_record_without_an_address_is_not_called_nondisclosure(adapter, population_samples):
    # The terminal's layout has no 不開示 element: a missing Address is only a missing address.
    answer = adapter.check(query(population_samples["nondisclosure"]), TIMEOUT)
    assert answer.validity == Validity.VALID
    assert answer.records[0].address is None and not answer.records[0].nondisclosure


def test_elderly_and_kouki_fields(adapter, population_samples):
    elderly = adapter.check(query(population_samples["elderly_70_74"]), TIMEOUT).records[0]
    assert elderly.elderly_copay_percent in (20, 30) and elderly.elderly_valid_until is not None
    kouki = adapter.check(query(population_samples["kouki"]), TIMEOUT).records[0]
    assert kouki.insurer_number.startswith("39") and kouki.symbol == ""


@pytest.mark.parametrize("validity", [1, 6])
def test_a_welfare_patient_through_the_terminal_pays_nothing(adapter, share, tmp_path, population_records, validity):
    # 医療扶助: the terminal answers A1 (validity 6 for some) with the fund under
    # PublicExpenseResultList; the hub reads it and the desk charges nothing (docs/domain.md §10).
    record = next(r for r in population_records if r["card_classification"] == "A1" and r["validity"] == validity
                  and r["registered_on"] <= TODAY.isoformat() and r["birth_date"] < "1950-01-01")
    answer = adapter.check(query(record), TIMEOUT)
    assert answer.validity == Validity(validity)
    (r,) = answer.records
    assert r.is_welfare and r.welfare_office == record["welfare_office"]
    assert [(f.payer_number, f.recipient_number) for f in r.public_funds] == [(record["insurer_number"], record["number"])]
    conn = store.open_database(tmp_path / "desk", create=True)
    request = CheckRequest(Method.NUMBERS, DocumentKind.MEDICAL_TICKET, insurer_number=record["insurer_number"],
                           number=record["number"], birth_date=date.fromisoformat(record["birth_date"]))
    verdict = decide(request, store.Lookup(conn), Policy(), NOW, online_source(adapter))
    assert (verdict.outcome, verdict.source, verdict.copay_percent) == (Outcome.OK, Source.ONLINE, None)
    assert verdict.charge is not None and verdict.charge.percent == 0 and "医療扶助" in verdict.headline_ja
    assert ("valid_unregistered" in [w.code for w in verdict.warnings]) == (validity == 6)


def test_six_digit_insurer_is_padded_with_spaces(adapter, terminal, population_records):
    record = next(r for r in population_records if len(r["insurer_number"]) == 6
                  and r["registered_on"] <= TODAY.isoformat() and r["disqualification_date"] is None)
    answer = adapter.check(query(record), TIMEOUT)
    assert terminal.seen[0]["infos"][0]["InsurerNumber"] == "  " + record["insurer_number"]
    assert answer.validity == Validity.VALID and answer.records[0].insurer_number == record["insurer_number"]


@pytest.mark.parametrize("ours,theirs", [("utf-8", "utf-8"), ("shift_jis", "utf-8"), ("utf-8", "shift_jis")])
def test_encodings(share, tmp_path, national, population_samples, ours, theirs):
    sample = population_samples["masked_name"]  # kanji and ● through both encodings
    with FakeTerminal(share, national, encoding=theirs) as fake:
        adapter = FileTerminal(share, tmp_path / "q", "1312345678", encoding=ours, clock=lambda: NOW)
        answer = adapter.check(query(sample), TIMEOUT)
    assert answer.records[0].name == sample["name"]
    assert fake.seen[0]["header"] == {k: fake.seen[0]["header"][k] for k in (
        "QualificationConfirmationDate", "MedicalInstitutionCode", "ArbitraryFileIdentifier")}


# ---- the batch's two steps ---------------------------------------------------------------------

def test_batch_two_steps(adapter, terminal, population_samples):
    kinds = ["valid", "lost", "not_found", "family_member", "kouki"]
    queries = [query(population_samples[k], reference=f"P{i:03d}") for i, k in enumerate(kinds)]
    terminal.references = {}  # nobody registered yet
    terminal.processing_rounds = 2
    answers = adapter.batch_check(queries, TIMEOUT)
    assert [a.validity for a in answers] == [Validity.VALID, Validity.INVALID, Validity.NOT_FOUND,
                                             Validity.VALID, Validity.VALID]
    assert answers[0].records[0].patient_id == "P000"  # matched to its query by ArbitraryIdentifier
    names = [s["name"][:14] for s in terminal.seen]
    assert names == ["OQSmuquc01req_"] + ["OQSmuquc02req_"] * 3 + ["OQSsiimm01req_"] * 3
    assert terminal.seen[1]["reception"] == terminal.seen[3]["reception"] == "R000000001"
    upload = terminal.seen[0]["infos"]
    assert [i["ArbitraryIdentifier"] for i in upload] == ["1", "2", "3", "4", "5"]
    assert all("ReferenceNumber" not in i for i in upload)  # 照会番号 is registered apart
    # The valid ones got their 照会番号 registered under the numbers of the answer ...
    assert [s["registration"]["ReferenceNumber"] for s in terminal.seen[4:]] == ["P000", "P003", "P004"]
    # ... so that the reader's next push names our patient.
    terminal.push_face(patient_id=population_samples["valid"]["patient_id"])
    assert adapter.pushes(TIMEOUT)[0].records[0].patient_id == "P000"
    # Registered people are not registered again.
    terminal.seen.clear()
    adapter.batch_check(queries[:1], TIMEOUT)
    assert [s["name"][:14] for s in terminal.seen] == ["OQSmuquc01req_", "OQSmuquc02req_"]


def test_a_registration_the_terminal_refuses_is_reported(adapter, terminal, population_samples):
    terminal.mode = "error"
    with pytest.raises(TerminalRefused):
        adapter.register_reference(query(population_samples["valid"], reference="P1"), TIMEOUT)


def test_batch_still_processing_can_be_downloaded_later(adapter, terminal, population_samples):
    queries = [query(population_samples["valid"])]
    terminal.processing_rounds = 10**6
    with pytest.raises(BatchPending) as caught:
        adapter.batch_check(queries, 0.5)
    terminal.processing_rounds = 0
    units = adapter.batch_download(caught.value.reception_number, TIMEOUT)
    assert units[0].answer.validity == Validity.VALID


@pytest.mark.parametrize("mode", ["hostile", "broken"])
def test_bad_batch_answers_are_quarantined(adapter, terminal, share, population_samples, mode):
    terminal.mode = mode
    with pytest.raises(MalformedAnswer):
        adapter.batch_check([query(population_samples["valid"])], TIMEOUT)
    terminal.mode = "answer"
    reception = adapter.batch_upload([query(population_samples["valid"])], TIMEOUT)
    terminal.mode = mode
    with pytest.raises(MalformedAnswer):
        adapter.batch_download(reception, TIMEOUT)
    assert [q["file"][:14] for q in quarantined(adapter)] == ["OQSmuquc01res_", "OQSmuquc02res_"]
    assert leftovers(share) == []


# ---- reader pushes -----------------------------------------------------------------------------

def test_face_pushes_are_ingested(adapter, terminal, national, share, population_samples):
    national.link_card("card-link-1", population_samples["valid"]["patient_id"])
    terminal.push_face(card_link="card-link-1")
    terminal.push_face(patient_id=population_samples["lost"]["patient_id"])
    answers = adapter.pushes(TIMEOUT)
    assert [(a.validity, a.records[0].patient_id) for a in answers] == [
        (Validity.VALID, population_samples["valid"]["patient_id"]),
        (Validity.INVALID, population_samples["lost"]["patient_id"])]
    assert os.listdir(share / "face") == []
    assert adapter.pushes(0.05) == []


def test_bad_face_files_are_quarantined_and_good_ones_kept(adapter, terminal, share, population_samples):
    bad = [terminal.write_face(ENTITY_BOMB), terminal.write_face(EXTERNAL_ENTITY), terminal.write_face(BROKEN),
           terminal.write_face(b"\x00\xff\xfe garbage"), terminal.write_face(b"")]
    good = terminal.push_face(patient_id=population_samples["valid"]["patient_id"])
    foreign = share / "face" / "notes.txt"
    foreign.write_text("not ours")
    old = time.time() - 5
    for path in bad:
        os.utime(path, (old, old))
    answers = adapter.pushes(TIMEOUT)
    assert [a.records[0].patient_id for a in answers] == [population_samples["valid"]["patient_id"]]
    reasons = quarantined(adapter)
    assert sorted(r["file"] for r in reasons) == sorted(p.name for p in bad)
    assert all(r["folder"] == "face" and r["reason"] for r in reasons)
    assert sum(1 for r in reasons if r["reason"].startswith("refused")) == 2
    assert not good.exists() and foreign.exists()


def test_a_face_file_still_being_written_waits(adapter, terminal, share, population_samples):
    complete = terminal.push_face(patient_id=population_samples["valid"]["patient_id"])
    data = complete.read_bytes()
    complete.write_bytes(data[:50])  # the terminal is still writing it
    assert adapter.pushes(0.05) == [] and complete.exists()
    complete.write_bytes(data)
    assert len(adapter.pushes(TIMEOUT)) == 1 and quarantined(adapter) == []


# ---- hostile, broken, silent, late, refusing terminals -------------------------------------------

@pytest.mark.parametrize("mode,error", [("hostile", HostileFile), ("external", HostileFile),
                                        ("broken", MalformedAnswer), ("truncated", MalformedAnswer)])
def test_bad_answers_are_quarantined_and_the_next_check_works(adapter, terminal, share, population_samples,
                                                              mode, error):
    terminal.mode = mode
    started = time.monotonic()
    with pytest.raises(error):
        adapter.check(query(population_samples["valid"]), TIMEOUT)
    assert time.monotonic() - started < TIMEOUT / 2  # refused at once, not timed out
    (reason,) = quarantined(adapter)
    assert reason["folder"] == "res" and reason["file"].startswith("OQSsiquc01res_")
    terminal.mode = "answer"
    assert adapter.check(query(population_samples["lost"]), TIMEOUT).validity == Validity.INVALID
    assert leftovers(share) == []


def test_a_terminal_that_never_answers(adapter, terminal, share, population_samples):
    terminal.mode = "silent"
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match="no answer from the terminal within 0.3 s"):
        adapter.check(query(population_samples["valid"]), 0.3)
    assert 0.3 <= time.monotonic() - started < 1.5
    assert leftovers(share) == []  # the request was withdrawn


def test_a_late_answer_is_discarded_and_never_mixed_up(adapter, terminal, share, population_samples):
    terminal.mode, terminal.delay = "late", 0.5
    with pytest.raises(UpstreamTimeout):
        adapter.check(query(population_samples["valid"]), 0.2)
    terminal.mode = "answer"
    answer = adapter.check(query(population_samples["lost"]), TIMEOUT)
    assert answer.records[0].patient_id == population_samples["lost"]["patient_id"]
    deadline = time.monotonic() + TIMEOUT
    while not os.listdir(share / "res") and time.monotonic() < deadline:
        time.sleep(0.02)  # the late answer lands
    assert len(os.listdir(share / "res")) == 1
    answer = adapter.check(query(population_samples["kouki"]), TIMEOUT)
    assert answer.records[0].patient_id == population_samples["kouki"]["patient_id"]
    assert leftovers(share) == [] and quarantined(adapter) == []


def test_a_terminal_error_is_reported(adapter, terminal, share, population_samples):
    terminal.mode = "error"
    with pytest.raises(TerminalRefused, match="EOQS0001"):
        adapter.check(query(population_samples["valid"]), TIMEOUT)
    assert leftovers(share) == [] and quarantined(adapter) == []


def test_files_of_another_client_are_left_alone(adapter, share, population_samples):
    foreign = share / "res" / "OQSsiquc01res_OTHER0001.xml"
    foreign.write_bytes(BROKEN)
    os.utime(foreign, (time.time() - 3600, time.time() - 3600))
    adapter.check(query(population_samples["valid"]), TIMEOUT)
    assert foreign.exists() and quarantined(adapter) == []


def test_the_terminal_resolves_no_certificate_outside_its_reader(adapter):
    assert adapter.resolve_card("card-link-1", TIMEOUT) is None


def test_errors_are_upstream_errors():
    for error in (HostileFile, MalformedAnswer, TerminalRefused, UpstreamTimeout, BatchPending):
        assert issubclass(error, UpstreamError)


def test_special_and_oversized_files_never_block_or_load(share, tmp_path, terminal, population_samples):
    adapter = FileTerminal(share, tmp_path / "quarantine", "1312345678", settle=0.1, max_bytes=100_000,
                           clock=lambda: NOW)
    os.mkfifo(share / "face" / "OQSsiquc01res_face_fifo.xml")
    (share / "face" / "OQSsiquc01res_face_link.xml").symlink_to("/etc/passwd")
    (share / "face" / "OQSsiquc01res_face_huge.xml").write_bytes(b"<XmlMsg>" + b" " * 200_000)
    terminal.push_face(patient_id=population_samples["valid"]["patient_id"])
    assert len(adapter.pushes(TIMEOUT)) == 1
    assert sorted(r["reason"] for r in quarantined(adapter)) == [
        "not a regular file", "not a regular file", "too large: 200008 bytes"]
    terminal.mode = "fifo"
    with pytest.raises(MalformedAnswer, match="not a regular file"):
        adapter.check(query(population_samples["valid"]), TIMEOUT)


def test_a_share_that_hangs_cannot_hold_the_caller(adapter):
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match="does not respond"):
        adapter._bounded(time.sleep, time.monotonic() + 0.1, 2.0)  # stands in for a hung file server
    assert time.monotonic() - started < 1.8


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=3000), st.sampled_from([ENTITY_BOMB, EXTERNAL_ENTITY, BROKEN])))
def test_any_bytes_as_an_answer_raise_only_the_adapters_error(adapter, share, terminal, population_samples, data):
    adapter.settle = 0.0  # each file is complete when it appears
    terminal.mode, terminal.raw = "raw", data
    try:
        adapter.check(query(population_samples["valid"]), TIMEOUT)
    except UpstreamError as exc:
        assert not isinstance(exc, UpstreamTimeout)
    assert leftovers(share) == []


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "madoguchi", "upstream", *args], capture_output=True, text=True,
                          timeout=60)


def test_the_check_and_pushes_commands(share, tmp_path, terminal, population_samples):
    sample = population_samples["nondisclosure"]
    common = ["--share", str(share), "--quarantine", str(tmp_path / "q"), "--timeout", "5"]
    done = run_cli("check", *common, "--insurer", sample["insurer_number"], "--symbol", sample["symbol"],
                   "--number", sample["number"], "--branch", sample["branch"], "--birth", sample["birth_date"])
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["validity"] == 1 and answer["records"][0]["address"] is None
    terminal.mode = "silent"
    done = run_cli("check", *common, "--timeout", "0.2", "--insurer", sample["insurer_number"],
                   "--number", sample["number"], "--birth", sample["birth_date"])
    assert done.returncode == 1 and "no answer from the terminal" in done.stderr
    done = run_cli("check", *common, "--insurer", "06139991", "--number", "1", "--birth", "1980-01-01")
    assert done.returncode == 2 and "check digit" in done.stderr
    terminal.push_face(patient_id=sample["patient_id"])
    done = run_cli("pushes", *common)
    assert done.returncode == 0 and json.loads(done.stdout)[0]["records"][0]["patient_id"] == sample["patient_id"]


def test_a_character_shift_jis_cannot_hold_comes_back_as_a_mark(adapter, population_records):
    record = next(r for r in population_records if r["name"].startswith("𠮷")
                  and r["registered_on"] <= TODAY.isoformat())
    answer = adapter.check(query(record), TIMEOUT)
    assert answer.records[0].name == "●" + record["name"][1:]


def test_concurrent_checks_each_get_their_own_answer(adapter, share, population_samples):
    kinds = ["valid", "lost", "family_member", "kouki", "elderly_70_74", "nondisclosure", "preschool", "not_found"]
    expected = {k: population_samples[k]["patient_id"] for k in kinds}

    def check(kind: str) -> tuple[str, str]:
        answer = adapter.check(query(population_samples[kind]), TIMEOUT)
        return kind, answer.records[0].patient_id if answer.records else ""

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(check, kinds * 4))
    assert all(patient == expected[kind] for kind, patient in results)
    assert leftovers(share) == []


def test_answers_left_by_a_previous_run_are_cleaned(share, tmp_path, terminal, population_samples):
    stale = share / "res" / "OQSsiquc01res_MDG2026111500000000000000001abcd.xml"
    stale.write_bytes(b"<XmlMsg/>")
    os.utime(stale, (time.time() - 700, time.time() - 700))
    adapter = FileTerminal(share, tmp_path / "quarantine", "1312345678", clock=lambda: NOW)
    adapter.check(query(population_samples["valid"]), TIMEOUT)
    assert not stale.exists()


def test_the_desk_decides_through_the_terminal(adapter, terminal, populated, population_samples):
    _, conn = populated
    sample = population_samples["lost"]
    request = CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE, sample["insurer_number"],
                           sample["symbol"], sample["number"], sample["branch"],
                           date.fromisoformat(sample["birth_date"]))
    verdict = decide(request, store.Lookup(conn), Policy(), NOW, online_source(adapter))
    assert (verdict.source, verdict.outcome, verdict.validity) == (Source.ONLINE, Outcome.NG, Validity.INVALID)
    terminal.mode = "hostile"
    verdict = decide(request, store.Lookup(conn), Policy(), NOW, online_source(adapter))
    assert verdict.source == Source.CACHE  # a bad answer counts as no answer
    card = CheckRequest(Method.CARD, card_link="card-link-1")
    assert decide(card, store.Lookup(conn), Policy(), NOW, online_source(adapter)).source == Source.CACHE


def test_newer_result_fields_round_trip(adapter, population_records):
    # The simulator's records carry 処方箋発行形態, the 限度額 certificate with its dates and consent
    # flags; the fake terminal writes them as the public clients place them (tests/unit/
    # test_upstream_xml_sources.py) and the adapter reads them back.
    def current(r: dict) -> bool:
        return r["registered_on"] <= TODAY.isoformat() and r["disqualification_date"] is None

    limited = next(r for r in population_records if current(r) and r.get("limit_certificate")
                   and r.get("prescription_issue"))
    record = adapter.check(query(limited, limit_consent="1"), TIMEOUT).records[0]
    assert (record.limit_class, record.limit_certificate) == (limited["limit_class"], limited["limit_certificate"])
    assert record.limit_valid_until == date.fromisoformat(limited["limit_valid_until"])
    assert (record.prescription_issue, record.consent_limit) == (limited["prescription_issue"], limited["consent_limit"])
    plain = next(r for r in population_records if current(r) and not r.get("prescription_issue"))
    record = adapter.check(query(plain), TIMEOUT).records[0]
    assert (record.prescription_issue, record.consent_limit, record.limit_certificate) == ("", "", "")


def test_the_terminal_request_carries_the_patients_consent(adapter, terminal, populated, population_records):
    """LimitApplicationCertificateRelatedConsFlg is the patient's answer, never a constant: "1"
    only when the patient said yes; not asked, no, or 同意取得困難 send "0"; the verdict shows the
    限度額 class only with consent and says so otherwise."""
    _, conn = populated
    limited = next(r for r in population_records if r["registered_on"] <= TODAY.isoformat()
                   and r["disqualification_date"] is None and r.get("limit_class"))
    request = CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE, limited["insurer_number"],
                           limited["symbol"], limited["number"], limited["branch"],
                           date.fromisoformat(limited["birth_date"]))
    flags = {}
    for answer in ("1", "0", "3", ""):
        verdict = decide(replace(request, consent=Consent(limit=answer)), store.Lookup(conn), Policy(), NOW,
                         online_source(adapter))
        flags[answer] = terminal.seen[-1]["infos"][0]["LimitApplicationCertificateRelatedConsFlg"]
        assert verdict.source == Source.ONLINE
        if answer == "1":
            assert verdict.record.limit_class == limited["limit_class"]
            assert "limit_not_shared" not in [w.code for w in verdict.warnings]
        else:
            assert verdict.record.limit_class == ""
            assert any(w.ja.startswith("限度額情報：同意なし") for w in verdict.warnings)
    assert flags == {"1": "1", "0": "0", "3": "0", "": "0"}
