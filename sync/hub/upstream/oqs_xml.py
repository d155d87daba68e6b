"""The XML layout of the 資格確認端末's file interface: requests written, answers read.

RECONSTRUCTED, NOT OFFICIAL: element names and codes come from open-source implementations
(hangilc/myclinic-ts onshi-lib, YUKI-ENT/OQSDrug2 and others citing the official 別紙3-1 layout,
see docs/domain.md §5); the official text, exact field lengths and the batch request's body are not
public. Everything here must be checked against a real terminal at installation.

Layout: ``XmlMsg`` → ``MessageHeader`` (QualificationConfirmationDate, MedicalInstitutionCode,
ArbitraryFileIdentifier, ReferenceClassification 1 card / 2 numbers, SegmentOfResult 1 done /
2 processing / anything else an error (9 in one source, 3 in another), ErrorCode, ErrorMessage,
CharacterCodeIdentifier 0 UTF-8 / 1 Shift_JIS, in answers only) and ``MessageBody``
(ProcessingResultStatus 1 ok / 2 error, ProcessingResultCode/Message, QualificationValidity 1–6,
PrescriptionIssueSelect, ResultList of ResultOfQualificationConfirmation). A 医療扶助 result
(InsuredCardClassification A1, QualificationValidity 6 = 有効（未登録） possible) has no insurer
numbers: its 公費負担者番号 (PublicExpenseNumber, 法別 12), 受給者番号 (BeneficiaryNumber) and
福祉事務所 (WelfareOfficeName) sit under PublicExpenseResultList / MedicalTicketInfo, one per
医療券・調剤券 (docs/domain.md §10); like OQSDrug2 they are read wherever they sit in the result. The batch result
(``OQSmuquc02res_``) holds one ``BulkConfirmUnit`` per person; a batch request identifies each
person by ``ArbitraryIdentifier``. The 照会番号 (our patient id, returned in later reader pushes
as ``ReferenceNumber``) is registered by its own request (``OQSsiimm01req_``, body
``ReferenceNumberRegistrationInfo``).

Every file is parsed with defusedxml with DTDs forbidden (the terminal never sends one), so
entity bombs and external entities are refused before expansion. Anything unreadable raises
`MalformedAnswer`; an answer that is readable but says "error" raises `TerminalRefused`.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import NamedTuple

import defusedxml
import defusedxml.ElementTree as SafeET
from madoguchi.edge.config import JST
from madoguchi.edge.funds import PAYER_DIGITS, RECIPIENT_DIGITS, PublicFund
from madoguchi.edge.model import QualificationRecord, SpecificDiseaseCertificate, Validity
from madoguchi.edge.verdict import OnlineAnswer
from madoguchi.sync.hub.upstream.base import MalformedAnswer, NumbersQuery, UpstreamError, UpstreamRefused

ENCODINGS = {"shift_jis": ("cp932", "Shift_JIS", "1"), "utf-8": ("utf-8", "UTF-8", "0")}
_DECLARED = {
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "windows-31j": "cp932",
    "cp932": "cp932", "ms932": "cp932", "utf-8": "utf-8", "utf8": "utf-8",
}
_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.\-]{1,40})["']""")
_CHARACTER_CODE = re.compile(rb"<CharacterCodeIdentifier>\s*([01])\s*</CharacterCodeIdentifier>")
_DECLARATION_TEXT = re.compile(r"^\s*<\?xml[^>]*\?>")

# 喪失事由 and 特定疾病 codes (OQSCD tables as the open-source implementations give them).
LOSS_REASONS = {"01": "死亡", "02": "生活保護受給開始", "03": "医療保険等の資格取得", "99": "その他"}
SPECIFIC_DISEASES = {
    "1": "人工透析を必要とする慢性腎不全",
    "2": "先天性血液凝固因子障害（第VIII因子、第IX因子）",
    "3": "血液凝固因子製剤の投与に起因するHIV感染症",
}


class TerminalRefused(UpstreamRefused):
    """The terminal answered, with an error (its ErrorCode / ProcessingResultCode and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"terminal error {code or '-'}: {message or '(no message)'}")
        self.code = code
        self.message = message


class HostileFile(MalformedAnswer):
    """The file tried a DTD, an entity or an external reference: refused without expanding it."""


# ---- requests --------------------------------------------------------------------------------

def padded_insurer(insurer_number: str) -> str:
    """InsurerNumber as the terminal expects it: 8 characters, a 6-digit 国保 number left-padded
    with spaces."""
    digits = insurer_number.strip()
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (6, 8):
        raise UpstreamError(f"insurer number must be 6 or 8 digits, got {insurer_number!r}")
    return digits.rjust(8)


def _search_info(parent: ET.Element, query: NumbersQuery, identifier: str = "") -> None:
    info = ET.SubElement(parent, "QualificationConfirmSearchInfo")
    ET.SubElement(info, "InsurerNumber").text = padded_insurer(query.insurer_number)
    if query.symbol:
        ET.SubElement(info, "InsuredCardSymbol").text = query.symbol
    ET.SubElement(info, "InsuredIdentificationNumber").text = query.number
    if query.branch:
        ET.SubElement(info, "InsuredBranchNumber").text = query.branch
    ET.SubElement(info, "Birthdate").text = query.birth_date.strftime("%Y%m%d")
    ET.SubElement(info, "LimitApplicationCertificateRelatedConsFlg").text = query.limit_consent
    if identifier:
        ET.SubElement(info, "ArbitraryIdentifier").text = identifier


def _message(header: dict[str, str], encoding: str) -> tuple[ET.Element, ET.Element]:
    root = ET.Element("XmlMsg")
    head = ET.SubElement(root, "MessageHeader")
    for name, value in header.items():
        ET.SubElement(head, name).text = value
    return root, ET.SubElement(root, "MessageBody")


def _serialize(root: ET.Element, encoding: str) -> bytes:
    codec, declared, _ = ENCODINGS[encoding]
    text = f'<?xml version="1.0" encoding="{declared}" standalone="no"?>\r\n' + ET.tostring(root, "unicode")
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        raise UpstreamError(f"{text[exc.start:exc.end]!r} cannot be written in {declared}") from None


def single_request(query: NumbersQuery, institution_code: str, day: date, file_id: str, encoding: str) -> bytes:
    """OQSsiquc01req_: check one person by numbers."""
    root, body = _message({"QualificationConfirmationDate": day.strftime("%Y%m%d"),
                           "MedicalInstitutionCode": institution_code, "ArbitraryFileIdentifier": file_id}, encoding)
    _search_info(body, query)
    return _serialize(root, encoding)


def batch_upload_request(queries: Sequence[NumbersQuery], institution_code: str, day: date, file_id: str,
                         encoding: str) -> bytes:
    """OQSmuquc01req_: the list to pre-check; each person carries an ArbitraryIdentifier (its
    position in the list, 1-based) that the result echoes back."""
    root, body = _message({"QualificationConfirmationDate": day.strftime("%Y%m%d"),
                           "MedicalInstitutionCode": institution_code, "ArbitraryFileIdentifier": file_id}, encoding)
    for index, query in enumerate(queries, 1):
        _search_info(body, query, identifier=str(index))
    return _serialize(root, encoding)


def reference_request(query: NumbersQuery, institution_code: str, file_id: str, encoding: str) -> bytes:
    """OQSsiimm01req_: register the facility's patient id as this person's 照会番号, so that later
    reader pushes carry it (body ReferenceNumberRegistrationInfo, as a public ReceptionAgent
    specification for OQSDrug2-based desks writes it; docs/domain.md §5)."""
    if not query.reference_number:
        raise UpstreamError("a 照会番号 registration needs the patient id")
    root, body = _message({"MedicalInstitutionCode": institution_code, "ArbitraryFileIdentifier": file_id}, encoding)
    info = ET.SubElement(body, "ReferenceNumberRegistrationInfo")
    ET.SubElement(info, "ReferenceNumber").text = query.reference_number
    ET.SubElement(info, "InsurerNumber").text = padded_insurer(query.insurer_number)
    if query.symbol:
        ET.SubElement(info, "InsuredCardSymbol").text = query.symbol
    ET.SubElement(info, "InsuredIdentificationNumber").text = query.number
    if query.branch:
        ET.SubElement(info, "InsuredBranchNumber").text = query.branch
    return _serialize(root, encoding)


def batch_download_request(reception_number: str, institution_code: str, encoding: str) -> bytes:
    """OQSmuquc02req_: ask for the result of an uploaded batch by its ReceptionNumber."""
    root, body = _message({"MedicalInstitutionCode": institution_code}, encoding)
    ET.SubElement(body, "ReceptionNumber").text = reception_number
    return _serialize(root, encoding)


# ---- parsing ---------------------------------------------------------------------------------

def decode(data: bytes) -> tuple[str, str]:
    """(text, codec): from the XML declaration, else CharacterCodeIdentifier, else UTF-8 if it
    decodes, else Shift_JIS (cp932, as the Windows terminal writes it)."""
    if data.startswith(b"\xef\xbb\xbf"):
        codec, data = "utf-8", data[3:]
    elif match := _DECLARATION.match(data[:300]):
        name = match.group(1).decode("ascii").lower()
        if name not in _DECLARED:
            raise MalformedAnswer(f"unsupported encoding {name!r}")
        codec = _DECLARED[name]
    elif match := _CHARACTER_CODE.search(data[:4000]):
        codec = "cp932" if match.group(1) == b"1" else "utf-8"
    else:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            codec = "cp932"
    try:
        return data.decode(codec), codec
    except UnicodeDecodeError as exc:
        raise MalformedAnswer(f"not valid {codec} at byte {exc.start}") from None


class Message(NamedTuple):
    root: ET.Element  # XmlMsg
    header: ET.Element  # MessageHeader
    body: ET.Element  # MessageBody


def parse_xml(data: bytes) -> Message:
    """The message's root element and its parts; raises HostileFile or MalformedAnswer, nothing else."""
    text, _ = decode(data)
    text = _DECLARATION_TEXT.sub("", text, count=1)
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise HostileFile(f"refused: {type(exc).__name__}") from None
    except (ET.ParseError, ValueError) as exc:
        raise MalformedAnswer(f"not well-formed XML: {exc}") from None
    header, body = root.find("MessageHeader"), root.find("MessageBody")
    if root.tag != "XmlMsg" or header is None or body is None:
        raise MalformedAnswer(f"not a terminal message (root <{root.tag}>)")
    return Message(root, header, body)


def _text(parent: ET.Element | None, name: str) -> str | None:
    element = parent.find(name) if parent is not None else None
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _date(value: str | None, field: str) -> date | None:
    return None if value is None else _day(value, field)


def _day(value: str, field: str) -> date:
    if len(value) == 8 and value.isascii() and value.isdigit():
        try:
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))  # strptime costs 10 µs a date
        except ValueError:
            pass
    raise MalformedAnswer(f"{field}: {value[:20]!r} is not a yyyyMMdd date")


def _required(parent: ET.Element, name: str) -> str:
    value = _text(parent, name)
    if value is None:
        raise MalformedAnswer(f"{name} is missing")
    return value


def _ratio(value: str | None, field: str) -> int | None:
    """負担割合 as the terminal writes it: "030" is 3割, i.e. 30 percent."""
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or not 0 <= int(value) <= 100:
        raise MalformedAnswer(f"{field}: {value[:20]!r} is not a ratio")
    return int(value)


def _code(value: str | None, allowed: Sequence[str], field: str) -> str | None:
    if value is not None and value not in allowed:
        raise MalformedAnswer(f"{field}: unknown code {value[:20]!r}")
    return value


def _as_of(header: ET.Element, now: datetime) -> datetime:
    value = _text(header, "ProcessExecutionTime")
    if value is None:
        return now
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=JST).astimezone(timezone.utc)
    except (ValueError, OverflowError):  # 0001-01-01 in JST is before the first UTC day
        raise MalformedAnswer(f"ProcessExecutionTime: {value[:20]!r} is not yyyyMMddHHmmss") from None


def _record_id(*parts: str) -> int:
    """The terminal gives no id: a stable one from the numbers and the qualification date."""
    return int.from_bytes(hashlib.blake2b("\x1f".join(parts).encode(), digest_size=7).digest(), "big")


def _sex(result: ET.Element, name: str) -> int:
    value = _code(_text(result, name), ("1", "2", "3"), name)
    return int(value) if value else 0


def _yen(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise MalformedAnswer(f"{field}: {value[:20]!r} is not an amount")
    return int(value)


def _flag(result: ET.Element, name: str) -> str:
    value = _text(result, name)
    if value is not None and (len(value) != 1 or not value.isdigit()):
        raise MalformedAnswer(f"{name}: {value[:20]!r} is not a flag")
    return value or ""


def _disease_certificates(result: ET.Element) -> tuple[SpecificDiseaseCertificate, ...]:
    certificates = []
    for info in result.iterfind("SpecificDiseasesCertificateList/SpecificDiseasesCertificateInfo"):
        category = _text(info, "SpecificDiseasesDiseaseCategory")
        if not category:
            continue
        certificates.append(SpecificDiseaseCertificate(
            SPECIFIC_DISEASES.get(category.lstrip("0"), category),
            issued_on=_date(_text(info, "SpecificDiseasesCertificateDate"), "SpecificDiseasesCertificateDate"),
            valid_from=_date(_text(info, "SpecificDiseasesValidStartDate"), "SpecificDiseasesValidStartDate"),
            valid_until=_date(_text(info, "SpecificDiseasesValidEndDate"), "SpecificDiseasesValidEndDate"),
            self_pay_yen=_yen(_text(info, "SpecificDiseasesSelfPay"), "SpecificDiseasesSelfPay")))
    return tuple(certificates)


def _anywhere(result: ET.Element, name: str) -> str | None:
    """The first non-empty `name` under the result, however deep (医療扶助 fields)."""
    return next((e.text.strip() for e in result.iter(name) if e.text and e.text.strip()), None)


def _welfare_fund(result: ET.Element) -> PublicFund | None:
    """医療扶助's 公費負担者番号 and 受給者番号, with the 医療券's 本人支払額 if one is set."""
    payer = _anywhere(result, "PublicExpenseNumber")
    if payer is None:
        return None
    recipient = _anywhere(result, "BeneficiaryNumber") or ""
    for value, length, name in ((payer, PAYER_DIGITS, "PublicExpenseNumber"),
                                (recipient, RECIPIENT_DIGITS, "BeneficiaryNumber")):
        if value and not (len(value) == length and value.isascii() and value.isdigit()):
            raise MalformedAnswer(f"{name}: not {length} digits")
    self_pay = _yen(_anywhere(result, "SelfPayAmount"), "SelfPayAmount")
    return PublicFund(payer, recipient, self_pay_yen=self_pay or None, source="terminal")


def parse_record(result: ET.Element, as_of: datetime, validity: Validity,
                 reference_number: str | None = None, prescription_issue: str = "") -> QualificationRecord:
    """ResultOfQualificationConfirmation → QualificationRecord (docs/domain.md §5).

    QualificationDate and DisqualificationDate are optional (older terminals never write them):
    the start of cover falls back to the card's validity start, else stays unknown. 不開示 is
    never inferred: the layout has no element for it, and a missing Address is only that.
    """
    welfare = _welfare_fund(result)
    # 医療扶助: the fund's numbers stand in the insurer's (as OQSDrug2 stores them), so the
    # record is kept and found like any other.
    insurer = (_text(result, "InsurerNumber") or "").strip() or (welfare.payer_number if welfare else "")
    symbol = _text(result, "InsuredCardSymbol") or ""
    number = _text(result, "InsuredIdentificationNumber") or (welfare.recipient_number if welfare else "")
    office = _anywhere(result, "WelfareOfficeName") or ""
    branch = _text(result, "InsuredBranchNumber") or ""
    birth = _day(_required(result, "Birthdate"), "Birthdate")
    valid_from = _date(_text(result, "InsuredCardValidDate"), "InsuredCardValidDate")
    qualified = _date(_text(result, "QualificationDate"), "QualificationDate") or valid_from
    family = _code(_text(result, "PersonalFamilyClassification"), ("1", "2"), "PersonalFamilyClassification")
    loss = _text(result, "ReasonOfLoss")
    elderly = result.find("ElderlyRecipientCertificateInfo")
    limit = result.find("LimitApplicationCertificateRelatedInfo")
    certificates = _disease_certificates(result)
    disqualified = _date(_text(result, "DisqualificationDate"), "DisqualificationDate")
    issue = _code(_text(result, "PrescriptionIssueSelect"), ("1", "2"), "PrescriptionIssueSelect")
    return QualificationRecord(
        record_id=_record_id(insurer, symbol, number, branch, qualified.isoformat() if qualified else ""),
        insurer_number=insurer,
        insurer_name=_text(result, "InsurerName") or office,
        symbol=symbol,
        number=number,
        branch=branch,
        personal_family=int(family) if family else 0,
        name=_required(result, "Name"),
        name_kana=_text(result, "NameKana") or "",
        name_other=_text(result, "NameOfOther") or "",
        name_other_kana=_text(result, "NameOfOtherKana") or "",
        birth_date=birth,
        sex=_sex(result, "Sex1"),
        sex2=_sex(result, "Sex2"),
        qualification_date=qualified,
        as_of=as_of,
        address=_text(result, "Address"),
        post_number=_text(result, "PostNumber"),
        disqualification_date=disqualified,
        loss_reason=LOSS_REASONS.get(loss, loss) if loss else "",
        card_classification=_text(result, "InsuredCardClassification") or "",
        certificate_issued_on=_date(_text(result, "InsuredCertificateIssuanceDate"), "InsuredCertificateIssuanceDate"),
        valid_from=valid_from,
        valid_until=_date(_text(result, "InsuredCardExpirationDate"), "InsuredCardExpirationDate"),
        copay_percent=_ratio(_text(result, "InsuredPartialContributionRatio"), "InsuredPartialContributionRatio"),
        preschool=_text(result, "PreschoolClassification") == "1",
        elderly_copay_percent=_ratio(_text(elderly, "ElderlyRecipientContributionRatio"),
                                     "ElderlyRecipientContributionRatio"),
        elderly_valid_from=_date(_text(elderly, "ElderlyRecipientValidStartDate"), "ElderlyRecipientValidStartDate"),
        elderly_valid_until=_date(_text(elderly, "ElderlyRecipientValidEndDate"), "ElderlyRecipientValidEndDate"),
        limit_class=_text(limit, "LimitApplicationCertificateClassificationFlag") or "",
        limit_certificate=_text(limit, "LimitApplicationCertificateClassification") or "",
        limit_issued_on=_date(_text(limit, "LimitApplicationCertificateDate"), "LimitApplicationCertificateDate"),
        limit_valid_from=_date(_text(limit, "LimitApplicationCertificateValidStartDate"),
                               "LimitApplicationCertificateValidStartDate"),
        limit_valid_until=_date(_text(limit, "LimitApplicationCertificateValidEndDate"),
                                "LimitApplicationCertificateValidEndDate"),
        limit_long_term_from=_date(_text(limit, "LimitApplicationCertificateLongTermDate"),
                                   "LimitApplicationCertificateLongTermDate"),
        limit_certificate_changed=_text(result, "LimitApplicationCertificateChanged") == "1",
        specific_diseases=tuple(c.disease for c in certificates),
        specific_disease_certificates=certificates,
        consent_limit=_flag(result, "LimitApplicationCertificateRelatedConsFlg"),
        consent_specific_diseases=_flag(result, "SpecificDiseasesCertificateRelatedConsFlg"),
        consent_checkups=_flag(result, "SpecificHealthCheckupsInfoConsFlg"),
        consent_medication=_flag(result, "PharmacistsInfoConsFlg") or _flag(result, "PharmaceuticalInfoConsFlg"),
        consent_diagnosis=_flag(result, "DiagnosisInfoConsFlg"),
        consent_operation=_flag(result, "OperationInfoConsFlg"),
        prescription_issue=issue or prescription_issue,
        public_funds=(welfare,) if welfare else (),
        welfare_office=office,
        validity=Validity.INVALID if disqualified and validity.is_valid else validity,
        patient_id=reference_number or _text(result, "ReferenceNumber") or "",
    )


def _validity(value: str | None) -> Validity:
    if value is None or not value.isdigit() or int(value) not in {v.value for v in Validity}:
        raise MalformedAnswer(f"QualificationValidity: {value!r} is not 1-6")
    return Validity(int(value))


def _refused(header: ET.Element) -> None:
    """Anything but 1 (done) or 2 (processing) is an error: 9 in one source, 3 in another."""
    segment = _text(header, "SegmentOfResult")
    if segment is not None and segment not in ("1", "2"):
        raise TerminalRefused(_text(header, "ErrorCode") or segment, _text(header, "ErrorMessage") or "")


def _answer(container: ET.Element, results: list[ET.Element], as_of: datetime,
            reference_number: str | None = None) -> OnlineAnswer:
    if _text(container, "ProcessingResultStatus") == "2":
        raise TerminalRefused(_text(container, "ProcessingResultCode") or "",
                              _text(container, "ProcessingResultMessage") or "")
    validity = _validity(_text(container, "QualificationValidity"))
    # 処方箋発行形態 sits in the body in one source, in the result in another.
    issue = _code(_text(container, "PrescriptionIssueSelect"), ("1", "2"), "PrescriptionIssueSelect") or ""
    records = []
    for index, result in enumerate(results):
        # Only the first result carries the answer's validity; others stand for themselves.
        own = validity if index == 0 and validity != Validity.MULTIPLE else Validity.VALID
        records.append(parse_record(result, as_of, own, reference_number, issue))
    if records and not records[0].is_welfare:
        # Insurance and 医療扶助 together (併用): the insurance record carries the welfare fund.
        welfare = [fund for record in records[1:] if record.is_welfare for fund in record.funds]
        if welfare:
            records[0] = replace(records[0], public_funds=records[0].public_funds + tuple(welfare))
    return OnlineAnswer(validity, tuple(records), as_of)


def parse_answer(data: bytes, now: datetime) -> OnlineAnswer:
    """A single check's result (OQSsiquc01res_) or a reader push (OQSsiquc01res_face_)."""
    _, header, body = parse_xml(data)
    _refused(header)
    return _answer(body, body.findall("ResultList/ResultOfQualificationConfirmation"), _as_of(header, now))


def parse_reception(data: bytes) -> str:
    """The ReceptionNumber from a batch upload's answer (OQSmuquc01res_)."""
    message = parse_xml(data)
    _refused(message.header)
    for element in message.root.iter("ReceptionNumber"):
        if element.text and element.text.strip():
            return element.text.strip()
    raise MalformedAnswer("no ReceptionNumber in the batch upload's answer")


def parse_registration(data: bytes) -> str:
    """The answer to a 照会番号 registration (OQSsiimm01res_): the number registered, or
    TerminalRefused when the terminal says it failed."""
    _, header, body = parse_xml(data)
    _refused(header)
    if _text(body, "ProcessingResultStatus") == "2":
        raise TerminalRefused(_text(body, "ProcessingResultCode") or "", _text(body, "ProcessingResultMessage") or "")
    return next((e.text.strip() for e in body.iter("ReferenceNumber") if e.text and e.text.strip()), "")


@dataclass(frozen=True)
class BatchUnit:
    """One person of a batch result: what was asked (as the terminal echoes it) and the answer."""

    insurer_number: str
    symbol: str
    number: str
    branch: str
    birth_date: date | None
    reference_number: str  # 照会番号, if one was registered
    answer: OnlineAnswer | UpstreamError
    identifier: str = ""  # the ArbitraryIdentifier the request gave this person


def parse_batch_result(data: bytes, now: datetime) -> list[BatchUnit] | None:
    """A batch result (OQSmuquc02res_); None while the terminal is still processing it."""
    _, header, body = parse_xml(data)
    _refused(header)
    if _text(header, "SegmentOfResult") == "2":
        return None
    as_of = _as_of(header, now)
    units = []
    for unit in body.iterfind("BulkConfirmUnit"):
        asked = unit.find("QualificationConfirmSearchInfo")
        results = unit.findall("ResultOfQualificationConfirmation") + unit.findall(
            "ResultList/ResultOfQualificationConfirmation")
        reference = _text(unit, "ReferenceNumber") or next(
            (r for r in (_text(result, "ReferenceNumber") for result in results) if r), "")
        try:
            answer: OnlineAnswer | UpstreamError = _answer(unit, results, as_of, reference or None)
        except TerminalRefused as exc:
            answer = exc
        units.append(BatchUnit((_text(asked, "InsurerNumber") or "").strip(), _text(asked, "InsuredCardSymbol") or "",
                               _text(asked, "InsuredIdentificationNumber") or "",
                               _text(asked, "InsuredBranchNumber") or "",
                               _date(_text(asked, "Birthdate"), "Birthdate"), reference, answer,
                               _text(asked, "ArbitraryIdentifier") or ""))
    return units
