"""The terminal's XML layout: requests as written, answers mapped onto QualificationRecord."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from madoguchi.edge.model import QualificationRecord, Validity
from madoguchi.sync.hub.upstream import oqs_xml
from madoguchi.sync.hub.upstream.base import MalformedAnswer, NumbersQuery, UpstreamError
from madoguchi.sync.hub.upstream.oqs_xml import HostileFile, TerminalRefused

NOW = datetime(2026, 11, 16, 1, 0, tzinfo=timezone.utc)

# Written by hand from the layout in docs/domain.md §5 (not by the code under test).
ANSWER = """<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>
<XmlMsg>
 <MessageHeader>
  <ProcessExecutionTime>20261116093000</ProcessExecutionTime>
  <QualificationConfirmationDate>20261116</QualificationConfirmationDate>
  <MedicalInstitutionCode>1312345678</MedicalInstitutionCode>
  <ReferenceClassification>2</ReferenceClassification>
  <SegmentOfResult>1</SegmentOfResult>
  <CharacterCodeIdentifier>1</CharacterCodeIdentifier>
 </MessageHeader>
 <MessageBody>
  <ProcessingResultStatus>1</ProcessingResultStatus>
  <QualificationValidity>{validity}</QualificationValidity>
  <ResultList>
   <ResultOfQualificationConfirmation>
    <InsuredCardClassification>01</InsuredCardClassification>
    <InsurerNumber>  138016</InsurerNumber>
    <InsuredCardSymbol>国０１２</InsuredCardSymbol>
    <InsuredIdentificationNumber>0001234</InsuredIdentificationNumber>
    <InsuredBranchNumber>01</InsuredBranchNumber>
    <PersonalFamilyClassification>2</PersonalFamilyClassification>
    <Name>髙橋　花子</Name>
    <NameKana>タカハシ　ハナコ</NameKana>
    <Sex1>2</Sex1>
    <Birthdate>19540302</Birthdate>
    <QualificationDate>20200401</QualificationDate>
    <InsuredCardValidDate>20200401</InsuredCardValidDate>
    <InsuredCardExpirationDate>20270731</InsuredCardExpirationDate>
    <InsuredPartialContributionRatio>030</InsuredPartialContributionRatio>
    <InsurerName>練馬区国民健康保険</InsurerName>
    <ElderlyRecipientCertificateInfo>
     <ElderlyRecipientValidStartDate>20260801</ElderlyRecipientValidStartDate>
     <ElderlyRecipientValidEndDate>20270731</ElderlyRecipientValidEndDate>
     <ElderlyRecipientContributionRatio>020</ElderlyRecipientContributionRatio>
    </ElderlyRecipientCertificateInfo>
    <LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>
    <LimitApplicationCertificateRelatedInfo>
     <LimitApplicationCertificateClassification>01</LimitApplicationCertificateClassification>
     <LimitApplicationCertificateClassificationFlag>B05</LimitApplicationCertificateClassificationFlag>
    </LimitApplicationCertificateRelatedInfo>
    <SpecificDiseasesCertificateList>
     <SpecificDiseasesCertificateInfo>
      <SpecificDiseasesDiseaseCategory>1</SpecificDiseasesDiseaseCategory>
     </SpecificDiseasesCertificateInfo>
    </SpecificDiseasesCertificateList>
    <ReferenceNumber>00000042</ReferenceNumber>
   </ResultOfQualificationConfirmation>
  </ResultList>
 </MessageBody>
</XmlMsg>
"""


def answer_bytes(validity: int = 1, encoding: str = "cp932") -> bytes:
    text = ANSWER.format(validity=validity)
    if encoding == "utf-8":
        text = text.replace("Shift_JIS", "UTF-8").replace(
            "<CharacterCodeIdentifier>1<", "<CharacterCodeIdentifier>0<")
    return text.encode(encoding)


@pytest.mark.parametrize("encoding", ["cp932", "utf-8"])
def test_answer_fields_map_onto_the_record(encoding):
    answer = oqs_xml.parse_answer(answer_bytes(encoding=encoding), NOW)
    assert answer.validity == Validity.VALID
    assert answer.as_of == datetime(2026, 11, 16, 0, 30, tzinfo=timezone.utc)  # 09:30 JST
    (r,) = answer.records
    assert (r.insurer_number, r.symbol, r.number, r.branch) == ("138016", "国０１２", "0001234", "01")
    assert (r.name, r.name_kana, r.sex, r.personal_family) == ("髙橋　花子", "タカハシ　ハナコ", 2, 2)
    assert r.birth_date == date(1954, 3, 2) and r.qualification_date == date(2020, 4, 1)
    assert r.valid_until == date(2027, 7, 31)
    assert r.copay_percent == 30 and r.elderly_copay_percent == 20
    assert (r.elderly_valid_from, r.elderly_valid_until) == (date(2026, 8, 1), date(2027, 7, 31))
    assert r.copay_percent_on(date(2026, 11, 16)) == 20  # the elderly certificate's ratio wins
    assert r.limit_class == "B05" and r.specific_diseases == ("人工透析を必要とする慢性腎不全",)
    assert r.patient_id == "00000042" and r.insurer_name == "練馬区国民健康保険"
    # No Address is only that: 不開示 is a status the source states (docs/domain.md §10).
    assert r.address is None and not r.nondisclosure
    assert (r.limit_certificate, r.limit_certificate_ja) == ("01", "限度額適用認定証") and r.consent_limit == "1"


def test_address_is_read():
    data = ANSWER.format(validity=1).replace("<Birthdate>", "<Address>東京都練馬区1丁目</Address><Birthdate>")
    record = oqs_xml.parse_answer(data.encode("cp932"), NOW).records[0]
    assert record.address == "東京都練馬区1丁目" and not record.nondisclosure


@pytest.mark.parametrize("code", [1, 2, 3, 4, 5, 6])
def test_every_validity_code(code):
    assert oqs_xml.parse_answer(answer_bytes(code), NOW).validity == Validity(code)


@pytest.mark.parametrize("code", ["0", "7", "x"])
def test_unknown_validity_is_malformed(code):
    with pytest.raises(MalformedAnswer, match="QualificationValidity"):
        oqs_xml.parse_answer(ANSWER.replace("{validity}", code).encode("cp932"), NOW)


# 医療扶助, written by hand from docs/domain.md §10 (OQSDrug2's and myclinic-ts's element names):
# no insurer numbers, the fund's under PublicExpenseResultList / MedicalTicketInfo.
WELFARE = """<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>
<XmlMsg>
 <MessageHeader>
  <ProcessExecutionTime>20261116093000</ProcessExecutionTime>
  <ReferenceClassification>1</ReferenceClassification>
  <SegmentOfResult>1</SegmentOfResult>
 </MessageHeader>
 <MessageBody>
  <ProcessingResultStatus>1</ProcessingResultStatus>
  <QualificationValidity>{validity}</QualificationValidity>
  <ResultList>
   {insurance}
   <ResultOfQualificationConfirmation>
    <InsuredCardClassification>A1</InsuredCardClassification>
    <Name>山田　一郎</Name>
    <NameKana>ヤマダ　イチロウ</NameKana>
    <Sex1>1</Sex1>
    <Birthdate>19500105</Birthdate>
    <PublicExpenseResultList>
     <MedicalTicketInfo>
      <TicketType>1</TicketType>
      <MedicalTicketValidDate>20261101</MedicalTicketValidDate>
      <MedicalTicketExpirationDate>20261130</MedicalTicketExpirationDate>
      <PublicExpenseNumber>12131017</PublicExpenseNumber>
      <BeneficiaryNumber>1234566</BeneficiaryNumber>
      <WelfareOfficeName>新宿区福祉事務所</WelfareOfficeName>
      {self_pay}
     </MedicalTicketInfo>
    </PublicExpenseResultList>
   </ResultOfQualificationConfirmation>
  </ResultList>
 </MessageBody>
</XmlMsg>
"""


def welfare_answer(validity: int = 6, insurance: str = "", self_pay: str = ""):
    text = WELFARE.format(validity=validity, insurance=insurance, self_pay=self_pay)
    return oqs_xml.parse_answer(text.encode("cp932"), NOW)


@pytest.mark.parametrize("validity", [1, 6])
def test_a_welfare_answer_is_read_not_refused(validity):
    answer = welfare_answer(validity)
    assert answer.validity == Validity(validity) and answer.validity.is_valid
    (r,) = answer.records
    assert r.is_welfare and r.card_classification == "A1" and r.validity == Validity(validity)
    assert (r.insurer_number, r.number, r.welfare_office, r.insurer_name) == (
        "12131017", "1234566", "新宿区福祉事務所", "新宿区福祉事務所")
    assert [(f.payer_number, f.recipient_number, f.source) for f in r.public_funds] == [
        ("12131017", "1234566", "terminal")]
    # a 76-year-old on welfare has no insurance ratio, whatever the age says
    assert r.copay_percent_on(date(2026, 11, 16)) is None and r.validity_on(date(2026, 11, 16)) == Validity(validity)
    assert QualificationRecord.from_json(json.loads(json.dumps(r.to_json()))) == r


def test_a_welfare_tickets_self_pay_is_read():
    (r,) = welfare_answer(1, self_pay="<SelfPayAmount>3000</SelfPayAmount>").records
    assert r.public_funds[0].self_pay_yen == 3000


def test_insurance_and_welfare_together_put_the_fund_on_the_insurance_record():
    insurance = ANSWER.split("<ResultList>")[1].split("</ResultList>")[0]
    answer = welfare_answer(1, insurance=insurance)
    first, second = answer.records
    assert not first.is_welfare and first.insurer_number == "138016" and second.is_welfare
    assert [f.payer_number for f in first.public_funds] == ["12131017"]


def test_a_welfare_number_that_is_not_digits_is_malformed():
    with pytest.raises(MalformedAnswer, match="BeneficiaryNumber"):
        oqs_xml.parse_answer(WELFARE.format(validity=1, insurance="", self_pay="").replace(
            "1234566", "12345").encode("cp932"), NOW)


def test_loss_is_mapped():
    data = ANSWER.format(validity=2).replace(
        "<InsuredCardValidDate>", "<DisqualificationDate>20261031</DisqualificationDate>"
        "<ReasonOfLoss>01</ReasonOfLoss><InsuredCardValidDate>")
    record = oqs_xml.parse_answer(data.encode("cp932"), NOW).records[0]
    assert record.disqualification_date == date(2026, 10, 31) and record.loss_reason == "死亡"
    assert record.validity_on(date(2026, 11, 16)) == Validity.INVALID


@pytest.mark.parametrize("segment", ["9", "3", "0"])  # 9 in hangilc/myclinic-ts, 3 in another public client
def test_error_answers_raise_terminal_refused(segment):
    data = ANSWER.format(validity=1).replace("<SegmentOfResult>1<", f"<SegmentOfResult>{segment}<").replace(
        "</MessageHeader>", "<ErrorCode>E001</ErrorCode><ErrorMessage>入力誤り</ErrorMessage></MessageHeader>")
    with pytest.raises(TerminalRefused, match="E001: 入力誤り"):
        oqs_xml.parse_answer(data.encode("cp932"), NOW)
    with pytest.raises(TerminalRefused):
        oqs_xml.parse_batch_result(data.encode("cp932"), NOW)


def test_single_request_layout():
    query = NumbersQuery("138016", "国０１２", "0001234", date(1954, 3, 2), "01")
    data = oqs_xml.single_request(query, "1312345678", date(2026, 11, 16), "MDG1", "shift_jis")
    text = data.decode("cp932")
    assert text.startswith('<?xml version="1.0" encoding="Shift_JIS"')
    assert "<InsurerNumber>  138016</InsurerNumber>" in text
    assert "<InsuredCardSymbol>国０１２</InsuredCardSymbol>" in text and "<Birthdate>19540302</Birthdate>" in text
    assert "CharacterCodeIdentifier" not in text  # real request templates carry none
    assert "<QualificationConfirmationDate>20261116</QualificationConfirmationDate>" in text
    utf8 = oqs_xml.single_request(query, "1312345678", date(2026, 11, 16), "MDG1", "utf-8").decode("utf-8")
    assert 'encoding="UTF-8"' in utf8 and "CharacterCodeIdentifier" not in utf8


@pytest.mark.parametrize("number,padded", [("138016", "  138016"), ("06139990", "06139990")])
def test_insurer_padding(number, padded):
    assert oqs_xml.padded_insurer(number) == padded


@pytest.mark.parametrize("number", ["1234567", "12345", "", "１３８０１６", "13801a"])
def test_bad_insurer_numbers_are_refused(number):
    with pytest.raises(UpstreamError):
        oqs_xml.padded_insurer(number)


def test_a_name_shift_jis_cannot_hold_is_refused_clearly():
    query = NumbersQuery("138016", "𠮷", "1", date(1954, 3, 2))
    with pytest.raises(UpstreamError, match="cannot be written in Shift_JIS"):
        oqs_xml.single_request(query, "1312345678", date(2026, 11, 16), "MDG1", "shift_jis")


HOSTILE = [
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><XmlMsg>&b;</XmlMsg>',
    b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><XmlMsg>&x;</XmlMsg>',
    b'<!DOCTYPE XmlMsg SYSTEM "http://127.0.0.1:9/evil.dtd"><XmlMsg/>',
    b'<!DOCTYPE a [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x">%p;]><XmlMsg/>',
]


@pytest.mark.parametrize("data", HOSTILE)
def test_hostile_files_are_refused_unexpanded(data):
    with pytest.raises(HostileFile):
        oqs_xml.parse_answer(data, NOW)


@pytest.mark.parametrize("data", [b"", b"<XmlMsg>", b"<Other/>", b"\xff\xfe\x00<", answer_bytes()[:300],
                                  b'<?xml version="1.0" encoding="EBCDIC"?><XmlMsg/>',
                                  answer_bytes().replace(b"19540302", b"19541302"),
                                  answer_bytes().replace(b"20261116093000", b"00010101000000")])
def test_broken_files_are_malformed(data):
    with pytest.raises(MalformedAnswer):
        oqs_xml.parse_answer(data, NOW)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_the_adapters_error(data):
    try:
        oqs_xml.parse_answer(data, NOW)
        oqs_xml.parse_batch_result(data, NOW)
    except UpstreamError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mangled_answers_raise_only_the_adapters_error(data):
    original = bytearray(answer_bytes())
    for _ in range(data.draw(st.integers(1, 5))):
        position = data.draw(st.integers(0, len(original) - 1))
        original[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(original)))
    for parse in (oqs_xml.parse_answer, oqs_xml.parse_batch_result):
        try:
            parse(bytes(original[:cut]), NOW)
        except UpstreamError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["Birthdate", "QualificationDate", "InsuredPartialContributionRatio",
                                        "Sex1", "PersonalFamilyClassification", "ElderlyRecipientContributionRatio",
                                        "ProcessExecutionTime", "QualificationValidity", "InsurerNumber"]),
                       st.one_of(st.text("0123456789 ", max_size=16),
                                 st.text(st.characters(blacklist_categories=("Cs",)), max_size=16)), min_size=1))
def test_any_field_value_raises_only_the_adapters_error(values):
    text = ANSWER.format(validity=1).replace("Shift_JIS", "UTF-8")
    for field, value in values.items():
        escaped = value.replace("&", "&amp;").replace("<", "&lt;")
        text = re.sub(f"<{field}>[^<]*</{field}>", lambda _, f=field, e=escaped: f"<{f}>{e}</{f}>", text)
    try:
        oqs_xml.parse_answer(text.encode("utf-8"), NOW)
    except UpstreamError:
        pass
