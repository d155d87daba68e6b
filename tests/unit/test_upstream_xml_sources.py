"""Terminal answers and requests rebuilt element by element as public implementations write them.

Each answer below was written by hand from the element names, nesting and order of one public
client of the 資格確認端末 (docs/domain.md §5); the values are made up. None of their code is
used. The sources:

- MYCLINIC: hangilc/myclinic-ts, packages/onshi-lib (onshi-search.js element lists; the
  onshi-result codes): PrescriptionIssueSelect in the MessageBody, QualificationDate present,
  SegmentOfResult 9 = error.
- SMARTKARTE: a SmartKarte-style C# serializer (Domain.Models.Online.ResultOfQualificationConfirmation,
  2023): no QualificationDate nor DisqualificationDate at all, PrescriptionIssueSelect inside the
  result, consent flags with their times.
- OQSDRUG2: YUKI-ENT/OQSDrug2 (QualificationImportModels.cs and its batch models, 2025–26): the
  batch's BulkConfirmUnit echoes QualificationConfirmSearchInfo with ArbitraryIdentifier; the
  ResultOfQualificationConfirmation sits directly in the unit and holds ReferenceNumber and
  LimitApplicationCertificateChanged.
- A public Node.js res-folder watcher: SegmentOfResult 3 = 異常終了.
- A public ReceptionAgent specification for OQSDrug2-based desks: OQSsiimm01req_ with
  ReferenceNumberRegistrationInfo (ReferenceNumber, InsurerNumber, InsuredCardSymbol,
  InsuredIdentificationNumber, InsuredBranchNumber).
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from madoguchi.edge.model import QualificationRecord, SpecificDiseaseCertificate, Validity
from madoguchi.sync.hub.upstream import oqs_xml
from madoguchi.sync.hub.upstream.base import NumbersQuery, UpstreamError
from madoguchi.sync.hub.upstream.oqs_xml import TerminalRefused
from madoguchi.sync.hub.upstream.terminal import match_units

NOW = datetime(2026, 11, 16, 1, 0, tzinfo=timezone.utc)

# MYCLINIC: header, body and result in the order of onshi-search.js's element lists.
MYCLINIC = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<XmlMsg>
<MessageHeader>
<ProcessExecutionTime>20261116093512</ProcessExecutionTime>
<QualificationConfirmationDate>20261116</QualificationConfirmationDate>
<MedicalInstitutionCode>1312345678</MedicalInstitutionCode>
<ArbitraryFileIdentifier>MDG0001</ArbitraryFileIdentifier>
<ReferenceClassification>1</ReferenceClassification>
<SegmentOfResult>1</SegmentOfResult>
<CharacterCodeIdentifier>0</CharacterCodeIdentifier>
</MessageHeader>
<MessageBody>
<PrescriptionIssueSelect>1</PrescriptionIssueSelect>
<ProcessingResultStatus>1</ProcessingResultStatus>
<QualificationValidity>1</QualificationValidity>
<ResultList>
<ResultOfQualificationConfirmation>
<InsuredCardClassification>01</InsuredCardClassification>
<InsurerNumber>06139990</InsurerNumber>
<InsuredCardSymbol>１２３</InsuredCardSymbol>
<InsuredIdentificationNumber>4567</InsuredIdentificationNumber>
<InsuredBranchNumber>00</InsuredBranchNumber>
<PersonalFamilyClassification>1</PersonalFamilyClassification>
<InsuredName>佐藤　一郎</InsuredName>
<Name>佐藤　一郎</Name>
<NameOfOther>佐藤　イチ</NameOfOther>
<NameKana>サトウ　イチロウ</NameKana>
<NameOfOtherKana>サトウ　イチ</NameOfOtherKana>
<Sex1>1</Sex1>
<Sex2>2</Sex2>
<Birthdate>19560707</Birthdate>
<Address>東京都新宿区西新宿2-8-1</Address>
<PostNumber>163-8001</PostNumber>
<QualificationDate>20190401</QualificationDate>
<InsuredCertificateIssuanceDate>20250801</InsuredCertificateIssuanceDate>
<InsuredCardValidDate>20250801</InsuredCardValidDate>
<InsuredCardExpirationDate>20280731</InsuredCardExpirationDate>
<InsuredPartialContributionRatio>030</InsuredPartialContributionRatio>
<InsurerName>新宿健康保険組合</InsurerName>
<ElderlyRecipientCertificateInfo>
<ElderlyRecipientCertificateDate>20260701</ElderlyRecipientCertificateDate>
<ElderlyRecipientValidStartDate>20260801</ElderlyRecipientValidStartDate>
<ElderlyRecipientValidEndDate>20270731</ElderlyRecipientValidEndDate>
<ElderlyRecipientContributionRatio>020</ElderlyRecipientContributionRatio>
</ElderlyRecipientCertificateInfo>
<LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>
<LimitApplicationCertificateRelatedConsTime>20261116093500</LimitApplicationCertificateRelatedConsTime>
<LimitApplicationCertificateRelatedInfo>
<LimitApplicationCertificateClassification>02</LimitApplicationCertificateClassification>
<LimitApplicationCertificateClassificationFlag>B05</LimitApplicationCertificateClassificationFlag>
<LimitApplicationCertificateDate>20260725</LimitApplicationCertificateDate>
<LimitApplicationCertificateValidStartDate>20260801</LimitApplicationCertificateValidStartDate>
<LimitApplicationCertificateValidEndDate>20270731</LimitApplicationCertificateValidEndDate>
<LimitApplicationCertificateLongTermDate>20261101</LimitApplicationCertificateLongTermDate>
</LimitApplicationCertificateRelatedInfo>
<SpecificDiseasesCertificateRelatedConsFlg>1</SpecificDiseasesCertificateRelatedConsFlg>
<SpecificDiseasesCertificateRelatedConsTime>20261116093500</SpecificDiseasesCertificateRelatedConsTime>
<SpecificDiseasesCertificateList>
<SpecificDiseasesCertificateInfo>
<SpecificDiseasesDiseaseCategory>01</SpecificDiseasesDiseaseCategory>
<SpecificDiseasesCertificateDate>20240315</SpecificDiseasesCertificateDate>
<SpecificDiseasesValidStartDate>20240401</SpecificDiseasesValidStartDate>
<SpecificDiseasesValidEndDate>20290331</SpecificDiseasesValidEndDate>
<SpecificDiseasesSelfPay>10000</SpecificDiseasesSelfPay>
</SpecificDiseasesCertificateInfo>
</SpecificDiseasesCertificateList>
<SpecificHealthCheckupsInfoConsFlg>0</SpecificHealthCheckupsInfoConsFlg>
<SpecificHealthCheckupsInfoConsTime>20261116093500</SpecificHealthCheckupsInfoConsTime>
<SpecificHealthCheckupsInfoAvailableTime>20261216093500</SpecificHealthCheckupsInfoAvailableTime>
<PharmacistsInfoConsFlg>1</PharmacistsInfoConsFlg>
<PharmacistsInfoConsTime>20261116093500</PharmacistsInfoConsTime>
<PharmacistsInfoAvailableTime>20261216093500</PharmacistsInfoAvailableTime>
<DiagnosisInfoConsFlg>1</DiagnosisInfoConsFlg>
<DiagnosisInfoConsTime>20261116093500</DiagnosisInfoConsTime>
<DiagnosisInfoAvailableTime>20261216093500</DiagnosisInfoAvailableTime>
<OperationInfoConsFlg>3</OperationInfoConsFlg>
<OperationInfoConsTime>20261116093500</OperationInfoConsTime>
<OperationInfoAvailableTime>20261216093500</OperationInfoAvailableTime>
</ResultOfQualificationConfirmation>
</ResultList>
</MessageBody>
</XmlMsg>
"""

# SMARTKARTE: the C# serializer's property order; Shift_JIS; no QualificationDate, no
# DisqualificationDate; PrescriptionIssueSelect last in the result; the 照会番号 inside.
SMARTKARTE = """<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>
<XmlMsg>
<MessageHeader>
<ProcessExecutionTime>20261116101500</ProcessExecutionTime>
<QualificationConfirmationDate>20261116</QualificationConfirmationDate>
<MedicalInstitutionCode>1312345678</MedicalInstitutionCode>
<ReferenceClassification>1</ReferenceClassification>
<SegmentOfResult>1</SegmentOfResult>
<CharacterCodeIdentifier>1</CharacterCodeIdentifier>
</MessageHeader>
<MessageBody>
<ProcessingResultStatus>1</ProcessingResultStatus>
<QualificationValidity>1</QualificationValidity>
<ResultList>
<ResultOfQualificationConfirmation>
<InsuredCardClassification>01</InsuredCardClassification>
<InsurerNumber>  138016</InsurerNumber>
<InsuredCardSymbol>練馬</InsuredCardSymbol>
<InsuredIdentificationNumber>0012345</InsuredIdentificationNumber>
<InsuredBranchNumber>02</InsuredBranchNumber>
<PersonalFamilyClassification>2</PersonalFamilyClassification>
<InsuredName>鈴木　太郎</InsuredName>
<Name>鈴木　花</Name>
<NameKana>スズキ　ハナ</NameKana>
<Sex1>2</Sex1>
<Birthdate>20180505</Birthdate>
<PostNumber>176-8501</PostNumber>
{valid_from}<InsuredCardExpirationDate>20270731</InsuredCardExpirationDate>
<InsuredPartialContributionRatio>020</InsuredPartialContributionRatio>
<PreschoolClassification>1</PreschoolClassification>
<InsurerName>練馬区</InsurerName>
<LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>
<LimitApplicationCertificateRelatedConsTime>20261116101400</LimitApplicationCertificateRelatedConsTime>
<SpecificHealthCheckupsInfoConsFlg>0</SpecificHealthCheckupsInfoConsFlg>
<PharmacistsInfoConsFlg>1</PharmacistsInfoConsFlg>
<PharmacistsInfoConsTime>20261116101400</PharmacistsInfoConsTime>
<PharmacistsInfoAvailableTime>20261216101400</PharmacistsInfoAvailableTime>
<ReferenceNumber>00012345</ReferenceNumber>
<DiagnosisInfoConsFlg>0</DiagnosisInfoConsFlg>
<OperationInfoConsFlg>0</OperationInfoConsFlg>
<PrescriptionIssueSelect>2</PrescriptionIssueSelect>
</ResultOfQualificationConfirmation>
</ResultList>
</MessageBody>
</XmlMsg>
"""
SMARTKARTE_VALID_FROM = "<InsuredCardValidDate>20250801</InsuredCardValidDate>\n"

# OQSDRUG2: a batch result (OQSmuquc02res_) with two units.
OQSDRUG2_BATCH = """<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>
<XmlMsg>
<MessageHeader>
<ProcessExecutionTime>20261116020000</ProcessExecutionTime>
<QualificationConfirmationDate>20261116</QualificationConfirmationDate>
<MedicalInstitutionCode>1312345678</MedicalInstitutionCode>
<ArbitraryFileIdentifier>MDG0002</ArbitraryFileIdentifier>
<SegmentOfResult>1</SegmentOfResult>
<CharacterCodeIdentifier>1</CharacterCodeIdentifier>
<ReceptionNumber>R000000009</ReceptionNumber>
</MessageHeader>
<MessageBody>
<BulkConfirmUnit>
<QualificationConfirmSearchInfo>
<InsurerNumber>06139990</InsurerNumber>
<InsuredCardSymbol>１２３</InsuredCardSymbol>
<InsuredIdentificationNumber>4567</InsuredIdentificationNumber>
<InsuredBranchNumber>00</InsuredBranchNumber>
<Birthdate>19560707</Birthdate>
<LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>
<ArbitraryIdentifier>2</ArbitraryIdentifier>
</QualificationConfirmSearchInfo>
<ProcessingResultStatus>1</ProcessingResultStatus>
<QualificationValidity>1</QualificationValidity>
<ResultOfQualificationConfirmation>
<InsuredCardClassification>01</InsuredCardClassification>
<InsurerNumber>06139990</InsurerNumber>
<InsuredCardSymbol>１２３</InsuredCardSymbol>
<InsuredIdentificationNumber>4567</InsuredIdentificationNumber>
<InsuredBranchNumber>00</InsuredBranchNumber>
<PersonalFamilyClassification>1</PersonalFamilyClassification>
<Name>佐藤　一郎</Name>
<NameKana>サトウ　イチロウ</NameKana>
<Sex1>1</Sex1>
<Birthdate>19560707</Birthdate>
<QualificationDate>20190401</QualificationDate>
<InsuredCertificateIssuanceDate>20250801</InsuredCertificateIssuanceDate>
<InsuredCardValidDate>20250801</InsuredCardValidDate>
<InsuredCardExpirationDate>20280731</InsuredCardExpirationDate>
<InsuredPartialContributionRatio>030</InsuredPartialContributionRatio>
<InsurerName>新宿健康保険組合</InsurerName>
<LimitApplicationCertificateChanged>1</LimitApplicationCertificateChanged>
<ReferenceNumber>P0002</ReferenceNumber>
</ResultOfQualificationConfirmation>
</BulkConfirmUnit>
<BulkConfirmUnit>
<QualificationConfirmSearchInfo>
<InsurerNumber>  138016</InsurerNumber>
<InsuredIdentificationNumber>9999</InsuredIdentificationNumber>
<Birthdate>19800101</Birthdate>
<LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>
<ArbitraryIdentifier>1</ArbitraryIdentifier>
</QualificationConfirmSearchInfo>
<ProcessingResultStatus>1</ProcessingResultStatus>
<QualificationValidity>4</QualificationValidity>
</BulkConfirmUnit>
</MessageBody>
</XmlMsg>
"""


def test_myclinic_answer_every_field():
    answer = oqs_xml.parse_answer(MYCLINIC.encode("utf-8"), NOW)
    (r,) = answer.records
    assert answer.validity == Validity.VALID and r.qualification_date == date(2019, 4, 1)
    assert (r.name_other, r.name_other_kana, r.sex, r.sex2) == ("佐藤　イチ", "サトウ　イチ", 1, 2)
    assert r.certificate_issued_on == date(2025, 8, 1)
    assert (r.prescription_issue, r.prescription_issue_ja) == ("1", "電子処方箋")  # from the MessageBody
    assert (r.limit_certificate, r.limit_certificate_ja, r.limit_class_ja) == (
        "02", "限度額適用・標準負担額減額認定証", "低所得Ⅱ")
    assert (r.limit_issued_on, r.limit_valid_from, r.limit_valid_until, r.limit_long_term_from) == (
        date(2026, 7, 25), date(2026, 8, 1), date(2027, 7, 31), date(2026, 11, 1))
    assert r.specific_disease_certificates == (SpecificDiseaseCertificate(
        "人工透析を必要とする慢性腎不全", date(2024, 3, 15), date(2024, 4, 1), date(2029, 3, 31), 10000),)
    assert r.specific_diseases == ("人工透析を必要とする慢性腎不全",)
    assert (r.consent_limit, r.consent_specific_diseases, r.consent_checkups, r.consent_medication,
            r.consent_diagnosis, r.consent_operation) == ("1", "1", "0", "1", "1", "3")
    assert r.address == "東京都新宿区西新宿2-8-1" and not r.nondisclosure
    assert QualificationRecord.from_json(r.to_json()) == r  # the new fields survive JSON (hub, verdict)


def test_myclinic_answer_without_optional_fields():
    bare = MYCLINIC
    for tag in ("PrescriptionIssueSelect", "NameOfOtherKana", "Sex2", "InsuredCertificateIssuanceDate",
                "PharmacistsInfoConsFlg", "OperationInfoConsFlg"):
        start, end = bare.index(f"<{tag}>"), bare.index(f"</{tag}>") + len(tag) + 3
        bare = bare[:start] + bare[end:]
    start = bare.index("<LimitApplicationCertificateRelatedInfo>")
    end = bare.index("</SpecificDiseasesCertificateList>") + len("</SpecificDiseasesCertificateList>")
    r = oqs_xml.parse_answer((bare[:start] + bare[end:]).encode("utf-8"), NOW).records[0]
    assert (r.prescription_issue, r.name_other_kana, r.sex2, r.certificate_issued_on) == ("", "", 0, None)
    assert (r.limit_certificate, r.limit_class, r.specific_disease_certificates) == ("", "", ())
    assert (r.consent_medication, r.consent_operation) == ("", "")


@pytest.mark.parametrize("valid_from", [SMARTKARTE_VALID_FROM, ""])
def test_smartkarte_answer_without_qualification_dates_is_still_an_answer(valid_from):
    answer = oqs_xml.parse_answer(SMARTKARTE.format(valid_from=valid_from).encode("cp932"), NOW)
    (r,) = answer.records
    assert answer.validity == Validity.VALID
    # The start of cover is the card's validity start when there is one, else unknown.
    assert r.qualification_date == (date(2025, 8, 1) if valid_from else None)
    assert r.disqualification_date is None and r.validity_on(date(2026, 11, 16)) == Validity.VALID
    assert (r.prescription_issue, r.prescription_issue_ja) == ("2", "紙の処方箋")  # inside the result
    assert (r.patient_id, r.consent_limit, r.consent_medication, r.preschool) == ("00012345", "0", "1", True)
    assert r.address is None and r.post_number == "176-8501" and not r.nondisclosure
    assert QualificationRecord.from_json(r.to_json()) == r


def test_oqsdrug2_batch_units_are_matched_by_arbitrary_identifier():
    units = oqs_xml.parse_batch_result(OQSDRUG2_BATCH.encode("cp932"), NOW)
    assert [u.identifier for u in units] == ["2", "1"]
    assert units[0].reference_number == "P0002"  # the 照会番号 inside the result
    record = units[0].answer.records[0]
    assert record.limit_certificate_changed and record.certificate_issued_on == date(2025, 8, 1)
    queries = [NumbersQuery("138016", "", "9999", date(1980, 1, 1)),
               NumbersQuery("06139990", "１２３", "4567", date(1956, 7, 7), "00")]
    first, second = match_units(queries, units)
    assert first.validity == Validity.NOT_FOUND and second.records[0].number == "4567"


def test_batch_upload_carries_arbitrary_identifiers_not_reference_numbers():
    queries = [NumbersQuery("06139990", "１２３", "4567", date(1956, 7, 7), "00", reference_number="P1"),
               NumbersQuery("138016", "", "9999", date(1980, 1, 1), reference_number="P2")]
    text = oqs_xml.batch_upload_request(queries, "1312345678", date(2026, 11, 16), "MDG3", "shift_jis").decode("cp932")
    assert text.count("<ArbitraryIdentifier>") == 2 and "<ArbitraryIdentifier>2</ArbitraryIdentifier>" in text
    assert "ReferenceNumber" not in text and "CharacterCodeIdentifier" not in text


def test_reference_registration_request_and_answer():
    query = NumbersQuery("138016", "練馬", "0012345", date(2018, 5, 5), "02", reference_number="00012345")
    text = oqs_xml.reference_request(query, "1312345678", "MDG4", "shift_jis").decode("cp932")
    assert ("<MessageBody><ReferenceNumberRegistrationInfo><ReferenceNumber>00012345</ReferenceNumber>"
            "<InsurerNumber>  138016</InsurerNumber><InsuredCardSymbol>練馬</InsuredCardSymbol>"
            "<InsuredIdentificationNumber>0012345</InsuredIdentificationNumber>"
            "<InsuredBranchNumber>02</InsuredBranchNumber></ReferenceNumberRegistrationInfo>") in text
    assert "<ArbitraryFileIdentifier>MDG4</ArbitraryFileIdentifier>" in text
    with pytest.raises(UpstreamError):
        oqs_xml.reference_request(NumbersQuery("138016", "", "1", date(2018, 5, 5)), "1312345678", "M", "utf-8")
    ok = ('<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader><SegmentOfResult>1</SegmentOfResult>'
          "</MessageHeader><MessageBody><ProcessingResultStatus>1</ProcessingResultStatus>"
          "<ReferenceNumber>00012345</ReferenceNumber></MessageBody></XmlMsg>")
    assert oqs_xml.parse_registration(ok.encode()) == "00012345"
    refused = ok.replace("<ProcessingResultStatus>1<", "<ProcessingResultStatus>2<").replace(
        "</MessageBody>", "<ProcessingResultCode>E1</ProcessingResultCode></MessageBody>")
    with pytest.raises(TerminalRefused, match="E1"):
        oqs_xml.parse_registration(refused.encode())
