"""A fake 資格確認端末 for tests: a thread watching ``req`` and answering in ``res``.

It answers from `edge.national.NationalSystem` (the simulator's data) and writes its XML itself,
independently of the adapter's parser, so a mistake on one side is not mirrored on the other.
It can be told to stay silent, answer late, answer with broken, truncated or hostile XML or with
an error, keep a batch "processing" for a while, and push reader results into ``face``.
"""

from __future__ import annotations

import os
import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import defusedxml.ElementTree as SafeET
from madoguchi.edge.config import JST
from madoguchi.edge.model import QualificationRecord
from madoguchi.edge.verdict import CheckRequest, Method, OnlineAnswer
from madoguchi.sim.national import NationalSystem

PREFIXES = ("OQSsiquc01req_", "OQSmuquc01req_", "OQSmuquc02req_", "OQSsiimm01req_")
ENTITY_BOMB = (b'<?xml version="1.0"?>\n<!DOCTYPE XmlMsg [<!ENTITY a "aaaaaaaaaa">'
               + b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10)
                          for i in range(8))
               + b']>\n<XmlMsg><MessageHeader/><MessageBody>&i;</MessageBody></XmlMsg>')
EXTERNAL_ENTITY = (b'<?xml version="1.0"?>\n<!DOCTYPE XmlMsg [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                   b"<XmlMsg><MessageHeader/><MessageBody>&x;</MessageBody></XmlMsg>")
BROKEN = b'<?xml version="1.0" encoding="UTF-8"?>\n<XmlMsg><MessageHeader><SegmentOfResult>1</Segm'
DISEASE_CODES = {"人工透析を要する慢性腎不全": "1", "血友病": "2"}


class FakeTerminal(threading.Thread):
    def __init__(self, share: Path, national: NationalSystem, encoding: str = "shift_jis") -> None:
        super().__init__(daemon=True, name="fake-terminal")
        self.share = share
        self.national = national
        self.encoding = encoding
        for folder in ("req", "res", "face"):
            (share / folder).mkdir(parents=True, exist_ok=True)
        # answer | silent | late | raw | broken | truncated | hostile | external | fifo | error
        self.mode = "answer"
        self.delay = 0.0  # for "late"
        self.raw = b""  # for "raw": these bytes as every answer
        self.processing_rounds = 0  # batch downloads answered "still processing" before the result
        self.seen: list[dict] = []  # every request read: its name and fields as written
        self._batches: dict[str, list[dict]] = {}
        # 照会番号 registered (insurer, symbol, number, branch → number); None: every patient is
        # registered under its own patient id, as at a facility that registered them long ago.
        self.references: dict[tuple, str] | None = None
        self._stop_event = threading.Event()
        self._faces = 0

    def __enter__(self) -> FakeTerminal:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def run(self) -> None:
        while not self._stop_event.is_set():
            for name in sorted(os.listdir(self.share / "req")):
                if name.startswith(PREFIXES) and name.endswith(".xml") and self.mode != "silent":
                    self._handle(name)
            time.sleep(0.005)

    # ---- requests --------------------------------------------------------------------------

    def _handle(self, name: str) -> None:
        path = self.share / "req" / name
        try:
            data = path.read_bytes()
            path.unlink()
        except FileNotFoundError:  # the adapter withdrew it
            return
        text = data.decode("cp932" if b"Shift_JIS" in data[:100] else "utf-8")
        root = SafeET.fromstring(re.sub(r"^<\?xml[^>]*\?>", "", text), forbid_dtd=True)
        header = {e.tag: e.text or "" for e in root.find("MessageHeader")}
        infos = [{e.tag: e.text or "" for e in info} for info in root.iter("QualificationConfirmSearchInfo")]
        self.seen.append({"name": name, "header": header, "infos": infos,
                          "reception": root.findtext("MessageBody/ReceptionNumber")})
        self._answering = header.get("ArbitraryFileIdentifier")  # echoed, as the real terminal does
        if name.startswith("OQSsiquc01req_"):
            response = self.single_response(infos[0])
        elif name.startswith("OQSsiimm01req_"):
            info = {e.tag: e.text or "" for e in root.find("MessageBody/ReferenceNumberRegistrationInfo")}
            self.seen[-1]["registration"] = info
            if self.references is None:
                self.references = {}
            self.references[(info["InsurerNumber"].strip(), info.get("InsuredCardSymbol", ""),
                             info["InsuredIdentificationNumber"], info.get("InsuredBranchNumber", ""))] = \
                info["ReferenceNumber"]
            response = self._xml(self._header(SegmentOfResult="1"),
                                 [("ProcessingResultStatus", "1"), ("ReferenceNumber", info["ReferenceNumber"])])
        elif name.startswith("OQSmuquc01req_"):
            reception = f"R{len(self._batches) + 1:09d}"
            self._batches[reception] = infos
            response = self._xml(self._header(SegmentOfResult="1", ReceptionNumber=reception), [])
        else:
            response = self._batch_result(root.findtext("MessageBody/ReceptionNumber") or "")
        self._answering = None
        self._write_answer(self.share / "res" / name.replace("req_", "res_", 1), response)

    def _write_answer(self, target: Path, response: bytes) -> None:
        mode = self.mode
        if mode == "late":
            threading.Timer(self.delay, target.write_bytes, (response,)).start()
        elif mode == "broken":
            target.write_bytes(BROKEN)
        elif mode == "truncated":
            target.write_bytes(response[: len(response) // 2])
        elif mode == "hostile":
            target.write_bytes(ENTITY_BOMB)
        elif mode == "external":
            target.write_bytes(EXTERNAL_ENTITY)
        elif mode == "raw":
            target.write_bytes(self.raw)
        elif mode == "fifo":
            os.mkfifo(target)
        elif mode == "error":
            target.write_bytes(self._xml(self._header(SegmentOfResult="9", ErrorCode="EOQS0001",
                                                      ErrorMessage="システムエラー"), []))
        else:
            target.write_bytes(response)

    def answer_numbers(self, info: dict) -> OnlineAnswer:
        return self.national.answer(CheckRequest(
            Method.NUMBERS, insurer_number=info.get("InsurerNumber", "").strip(),
            symbol=info.get("InsuredCardSymbol", ""), number=info.get("InsuredIdentificationNumber", ""),
            branch=info.get("InsuredBranchNumber", ""),
            birth_date=datetime.strptime(info["Birthdate"], "%Y%m%d").date()))

    def single_response(self, info: dict, reference_classification: str = "2") -> bytes:
        answer = self.answer_numbers(info)
        records = answer.records
        if info.get("LimitApplicationCertificateRelatedConsFlg") != "1":  # no consent: no 限度額 information
            records = tuple(replace(r, limit_class="", limit_certificate="", limit_issued_on=None,
                                    limit_valid_from=None, limit_valid_until=None,
                                    consent_limit="0" if r.consent_limit else "") for r in records)
        body = [("ProcessingResultStatus", "1"), ("QualificationValidity", str(int(answer.validity))),
                ("ResultList", [("ResultOfQualificationConfirmation", self._result(r)) for r in records])]
        return self._xml(self._header(ReferenceClassification=reference_classification, SegmentOfResult="1"), body)

    def _batch_result(self, reception: str) -> bytes:
        if self.processing_rounds > 0:
            self.processing_rounds -= 1
            return self._xml(self._header(SegmentOfResult="2", ReceptionNumber=reception), [])
        units = []
        for info in self._batches.get(reception, []):
            answer = self.answer_numbers(info)
            # As OQSDrug2's and the SmartKarte-style batch models have it: the request echoed
            # (with its ArbitraryIdentifier), then the result with the 照会番号 inside it.
            unit = [("QualificationConfirmSearchInfo", list(info.items())),
                    ("ProcessingResultStatus", "1"), ("QualificationValidity", str(int(answer.validity)))]
            unit += [("ResultOfQualificationConfirmation", self._result(r)) for r in answer.records[:1]]
            units.append(("BulkConfirmUnit", unit))
        return self._xml(self._header(SegmentOfResult="1", ReceptionNumber=reception,
                                      NumberOfProcessingResult=str(len(units))), units)

    # ---- reader pushes ---------------------------------------------------------------------

    def push_face(self, patient_id: str = "", card_link: str = "") -> Path:
        """A patient checked in on the terminal's card reader: its result lands in ``face``."""
        if card_link:
            answer = self.national.answer(CheckRequest(Method.CARD, card_link=card_link))
        else:
            answer = self.national.answer(CheckRequest(Method.PATIENT_ID, patient_id=patient_id))
        body = [("ProcessingResultStatus", "1"), ("QualificationValidity", str(int(answer.validity))),
                ("ResultList", [("ResultOfQualificationConfirmation", self._result(r)) for r in answer.records[:1]])]
        return self.write_face(self._xml(self._header(ReferenceClassification="1", SegmentOfResult="1"), body))

    def write_face(self, data: bytes) -> Path:
        self._faces += 1
        path = self.share / "face" / f"OQSsiquc01res_face_1312345678800{self._faces:017d}_20261116100000.xml"
        path.write_bytes(data)
        return path

    # ---- XML -------------------------------------------------------------------------------

    def _result(self, r: QualificationRecord) -> list[tuple]:
        if self.references is None:
            return _result(r, r.patient_id)
        return _result(r, self.references.get((r.insurer_number, r.symbol, r.number, r.branch), ""))

    def _header(self, **fields: str) -> list[tuple]:
        now = self.national.clock().astimezone(JST)
        head = [("ProcessExecutionTime", now.strftime("%Y%m%d%H%M%S")),
                ("QualificationConfirmationDate", now.strftime("%Y%m%d")),
                ("MedicalInstitutionCode", "1312345678")]
        head += list(fields.items())
        if getattr(self, "_answering", None):
            head.append(("ArbitraryFileIdentifier", self._answering))
        head.append(("CharacterCodeIdentifier", "1" if self.encoding == "shift_jis" else "0"))
        return head

    def _xml(self, header: list[tuple], body: list[tuple]) -> bytes:
        root = ET.Element("XmlMsg")
        _fill(ET.SubElement(root, "MessageHeader"), header)
        _fill(ET.SubElement(root, "MessageBody"), body)
        declared, codec = ("Shift_JIS", "cp932") if self.encoding == "shift_jis" else ("UTF-8", "utf-8")
        text = f'<?xml version="1.0" encoding="{declared}" standalone="no"?>\r\n' + ET.tostring(root, "unicode")
        # As the real system does, a character the encoding cannot hold (𠮷) is shown as ●.
        return "".join(c if c.encode(codec, "ignore") else "●" for c in text).encode(codec)


def _fill(parent: ET.Element, children: list[tuple]) -> None:
    for tag, value in children:
        element = ET.SubElement(parent, tag)
        if isinstance(value, list):
            _fill(element, value)
        else:
            element.text = value


def _day(value) -> str:
    return value.strftime("%Y%m%d")


def _result(r: QualificationRecord, reference: str) -> list[tuple]:
    """A record as ResultOfQualificationConfirmation elements (optional ones left out when empty)."""
    fields: list[tuple] = [("InsuredCardClassification", r.card_classification or "01")]
    if not r.is_welfare:  # 医療扶助: the fund's numbers, under PublicExpenseResultList below
        fields.append(("InsurerNumber", r.insurer_number.rjust(8)))
    if r.symbol:
        fields.append(("InsuredCardSymbol", r.symbol))
    if not r.is_welfare:
        fields.append(("InsuredIdentificationNumber", r.number))
    if r.branch:
        fields.append(("InsuredBranchNumber", r.branch))
    fields += [("PersonalFamilyClassification", str(r.personal_family)), ("Name", r.name),
               ("NameKana", r.name_kana), ("Sex1", str(r.sex)), ("Birthdate", _day(r.birth_date))]
    if r.address:
        fields.append(("Address", r.address))
        if r.post_number:
            fields.append(("PostNumber", r.post_number))
    if r.qualification_date:
        fields.append(("QualificationDate", _day(r.qualification_date)))
    if r.disqualification_date:
        fields.append(("DisqualificationDate", _day(r.disqualification_date)))
        fields.append(("ReasonOfLoss", "01" if r.loss_reason == "死亡" else "99"))
    if r.valid_from:
        fields.append(("InsuredCardValidDate", _day(r.valid_from)))
    if r.valid_until:
        fields.append(("InsuredCardExpirationDate", _day(r.valid_until)))
    if r.copay_percent is not None:
        fields.append(("InsuredPartialContributionRatio", f"{r.copay_percent:03d}"))
    if r.preschool:
        fields.append(("PreschoolClassification", "1"))
    if not r.is_welfare:
        fields.append(("InsurerName", r.insurer_name))
    if r.elderly_copay_percent is not None:
        elderly = [("ElderlyRecipientContributionRatio", f"{r.elderly_copay_percent:03d}")]
        if r.elderly_valid_from:
            elderly.insert(0, ("ElderlyRecipientValidStartDate", _day(r.elderly_valid_from)))
        if r.elderly_valid_until:
            elderly.insert(1, ("ElderlyRecipientValidEndDate", _day(r.elderly_valid_until)))
        fields.append(("ElderlyRecipientCertificateInfo", elderly))
    if r.consent_limit:
        fields.append(("LimitApplicationCertificateRelatedConsFlg", r.consent_limit))
    if r.limit_class:
        limit = [("LimitApplicationCertificateClassification", r.limit_certificate or "01"),
                 ("LimitApplicationCertificateClassificationFlag", r.limit_class)]
        if r.limit_valid_from:
            limit.append(("LimitApplicationCertificateValidStartDate", _day(r.limit_valid_from)))
        if r.limit_valid_until:
            limit.append(("LimitApplicationCertificateValidEndDate", _day(r.limit_valid_until)))
        fields.append(("LimitApplicationCertificateRelatedInfo", limit))
    if r.specific_disease_certificates:
        fields.append(("SpecificDiseasesCertificateList",
                       [("SpecificDiseasesCertificateInfo",
                         [("SpecificDiseasesDiseaseCategory", DISEASE_CODES.get(c.disease, "1"))]
                         + ([("SpecificDiseasesValidStartDate", _day(c.valid_from))] if c.valid_from else [])
                         + ([("SpecificDiseasesSelfPay", str(c.self_pay_yen))] if c.self_pay_yen else []))
                        for c in r.specific_disease_certificates]))
    if r.is_welfare:
        fields.append(("PublicExpenseResultList", [("MedicalTicketInfo", [
            ("TicketType", "1"), ("PublicExpenseNumber", r.insurer_number), ("BeneficiaryNumber", r.number),
            ("WelfareOfficeName", r.welfare_office or r.insurer_name)])]))
    if r.consent_medication:
        fields.append(("PharmacistsInfoConsFlg", r.consent_medication))
    if reference:
        fields.append(("ReferenceNumber", reference))
    if r.prescription_issue:  # as the SmartKarte-style serializer places it: last in the result
        fields.append(("PrescriptionIssueSelect", r.prescription_issue))
    return fields
