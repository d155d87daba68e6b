"""What a scanned code is, in one call: `classify(payload) -> ScanResult`.

Kinds (docs/domain.md §7): a JAHIS 院外処方箋 code, a 電子処方箋 控え code, a 資格情報のお知らせ /
マイナポータル / マイナ在宅受付Web link (no patient data: ask for the printed numbers and the
card), the facility's own 診察券 barcode, this appliance's 受付票 (check slip), a My Number
(refused: never stored, logged or kept), or anything else ("unrecognised": shown, not stored).

`classify` never raises. It never logs a payload, and no value it returns contains a
My Number-shaped number: such a field is dropped with a warning.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, fields, replace
from datetime import date
from enum import Enum
from urllib.parse import urlsplit

from madoguchi.edge.funds import MAX_FUNDS, PublicFund
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.numbers import (
    InputError,
    normalize_branch,
    normalize_symbol,
    parse_birth_date,
    parse_insurer_number,
    parse_year_month,
)
from madoguchi.edge.qr.jahis import (
    SELF_PAY,
    JahisError,
    PrescriptionData,
    ScanError,
    looks_like_jahis,
    parse_jahis,
    parse_jahis_text,
)
from madoguchi.edge.qr.mynumber import contains_my_number, is_my_number_code
from madoguchi.edge.verdict import CheckRequest, Method, by_medical_ticket

log = logging.getLogger(__name__)

E_PRESCRIPTION_COPY = "e_prescription_copy"
CHECK_SLIP_PREFIX = "MADOGUCHI-CHECK:"
DEFAULT_PATIENT_CARD_PATTERN = r"[0-9]{8}"
# マイナポータル is on myna.go.jp; the notice's QR opens it. The hosts of マイナ在宅受付Web
# are per facility and not confirmed here: add them in [scanner] portal_hosts.
DEFAULT_PORTAL_HOSTS = ("myna.go.jp", "digital.go.jp")


class ScanKind(str, Enum):
    PRESCRIPTION = "prescription"  # JAHIS 院外処方箋
    E_PRESCRIPTION_COPY = "e_prescription_copy"  # 電子処方箋 処方内容（控え）
    PORTAL_LINK = "portal_link"  # 資格情報のお知らせ / マイナポータル / マイナ在宅受付Web
    PATIENT_CARD = "patient_card"  # 診察券
    CHECK_SLIP = "check_slip"  # 受付票 printed by this appliance
    MY_NUMBER = "my_number"  # refused
    UNRECOGNISED = "unrecognised"


class ScanSource(str, Enum):
    SERIAL = "serial"  # USB-COM: raw bytes
    WEDGE = "wedge"  # keyboard mode: typed characters, no kanji
    CAMERA = "camera"
    FILE = "file"


@dataclass(frozen=True)
class CodeSettings:
    """The parts of [scanner] configuration that classification uses."""

    patient_card_pattern: str = DEFAULT_PATIENT_CARD_PATTERN
    portal_hosts: tuple[str, ...] = DEFAULT_PORTAL_HOSTS


@dataclass(frozen=True)
class ScanResult:
    kind: ScanKind
    message_ja: str
    prescription: PrescriptionData | None = None
    patient_id: str = ""  # 診察券 (PATIENT_CARD)
    check_id: int | None = None  # 受付票 (CHECK_SLIP): the audit id
    link_host: str = ""  # PORTAL_LINK
    warnings: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return self.kind == ScanKind.MY_NUMBER

    @property
    def has_numbers(self) -> bool:
        return self.prescription is not None

    def to_json(self) -> dict:
        return {
            "kind": self.kind.value, "message_ja": self.message_ja,
            "prescription": self.prescription.to_json() if self.prescription else None,
            "patient_id": self.patient_id, "check_id": self.check_id, "link_host": self.link_host,
            "warnings": list(self.warnings),
        }


_REFUSED = ScanResult(
    ScanKind.MY_NUMBER,
    "マイナンバー（個人番号）のQRコードです。読み取り・保存はできません。"
    "カード裏面ではなく、カードリーダーか書類の番号で確認してください",
)


def classify(payload: bytes | str, source: ScanSource = ScanSource.SERIAL,
             settings: CodeSettings = CodeSettings(), today: date | None = None) -> ScanResult:
    """Recognise one complete scanned payload (split symbols already joined)."""
    try:
        result = _classify(payload, source, settings, today)
    except Exception as exc:  # a bad code must never crash the desk
        # Only the type: an exception's text may quote the payload.
        log.error("scan classification failed (%s, %d bytes): %s", source.value, len(payload), type(exc).__name__)
        result = ScanResult(ScanKind.UNRECOGNISED, "読み取れないコードです（内部エラー）")
    log.info("scan from %s: %s", source.value, result.kind.value)
    return result


def _classify(payload: bytes | str, source: ScanSource, settings: CodeSettings, today: date | None) -> ScanResult:
    raw = payload.encode("utf-8") if isinstance(payload, str) else payload
    if looks_like_jahis(raw):
        return _prescription(payload, source, today)
    text = _decode_simple(raw).strip().rstrip("\x1a").strip()
    if is_my_number_code(text):
        return _REFUSED
    if (copy := _e_prescription_copy(text, today)) is not None:
        return _scrubbed(copy)
    if contains_my_number(text):  # the other codes are short: refuse the whole code
        return _REFUSED
    if text.startswith(CHECK_SLIP_PREFIX) and text[len(CHECK_SLIP_PREFIX):].isdigit():
        check_id = int(text[len(CHECK_SLIP_PREFIX):])
        return ScanResult(ScanKind.CHECK_SLIP, f"受付票（確認番号 {check_id}）です", check_id=check_id)
    if re.match(r"(?i)https?://", text):
        return _link(text, settings)
    if (m := re.fullmatch(settings.patient_card_pattern, text)) is not None:
        patient_id = m[1] if m.groups() and m[1] else m[0]
        return ScanResult(ScanKind.PATIENT_CARD, f"診察券（患者番号 {patient_id}）です", patient_id=patient_id)
    return _unrecognised(source, raw)


def _decode_simple(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def _prescription(payload: bytes | str, source: ScanSource, today: date | None) -> ScanResult:
    """A JAHIS code: bytes as a serial scanner or a camera gives them, or text as a keyboard
    wedge types it (already characters: not decoded again)."""
    try:
        data, warnings = parse_jahis_text(payload, today) if isinstance(payload, str) else parse_jahis(payload, today)
    except JahisError:
        return _unrecognised(source, payload.encode("utf-8") if isinstance(payload, str) else payload)
    garbled = not data.name or "\ufffd" in data.name or any("文字化け" in w or "レコード番号" in w for w in warnings)
    if source == ScanSource.WEDGE and garbled:
        warnings.insert(0, "キーボードモードのスキャナは漢字を送れません。氏名は書類で確認してください"
                           "（スキャナをUSB-COMモードにすると読めます）")
    message = "院外処方箋のQRコードです"
    if source == ScanSource.WEDGE and garbled:
        message = ("院外処方箋のQRですが、キーボードモードで読んだため文字化けしています。"
                   "番号は書類で確認するか、スキャナをUSB-COMモードにしてください")
    return _scrubbed(ScanResult(ScanKind.PRESCRIPTION, message, prescription=data, warnings=tuple(warnings)))


def _e_prescription_copy(text: str, today: date | None) -> ScanResult | None:
    """電子処方箋 処方内容（控え）: `保険者番号,記号,番号,枝番,生年月日,引換番号` as one open-source
    generator writes it. The official layout is NOT confirmed, so this is liberal: 5 or more
    fields, the first an insurer number (6 or 8 digits), the fifth a birth date."""
    values = [v.strip() for v in re.split(r"[,，、]", unicodedata.normalize("NFKC", text))]
    if len(values) < 5 or not re.fullmatch(r"[0-9]{6}|[0-9]{8}", values[0]):
        return None
    warnings: list[str] = []
    birth_date, year_month = None, None
    try:
        if values[4].isdigit() and len(values[4]) in (5, 6):
            year_month = parse_year_month(values[4])
            warnings.append("生年月日が年月のみです。日は書類で確認してください")
        else:
            birth_date = parse_birth_date(values[4], today)
    except InputError:
        return None
    try:
        parse_insurer_number(values[0])
        valid = True
    except InputError:
        valid = False
        warnings.append("保険者番号が規則に合いません（検証番号・法別番号）。書類の番号と照合してください")
    try:
        branch = normalize_branch(values[3])
    except InputError:
        branch = ""
        warnings.append("枝番が2桁の数字ではありません")
    if len(values) > 6:
        warnings.append("控えのQRに想定外の項目があります（レイアウト未確認）。番号を書類と照合してください")
    data = PrescriptionData(
        E_PRESCRIPTION_COPY, insurer_number=values[0], insurer_number_valid=valid,
        symbol=normalize_symbol(values[1]), number=normalize_symbol(values[2]), branch=branch,
        birth_date=birth_date, birth_year_month=year_month,
        exchange_number=normalize_symbol(values[5]) if len(values) > 5 else "",
    )
    return ScanResult(ScanKind.E_PRESCRIPTION_COPY, "電子処方箋（控え）のQRコードです", prescription=data,
                      warnings=tuple(warnings))


def _link(text: str, settings: CodeSettings) -> ScanResult:
    try:
        host = (urlsplit(text).hostname or "").lower()
    except ValueError:
        host = ""
    if any(host == h or host.endswith("." + h) for h in settings.portal_hosts):
        return ScanResult(
            ScanKind.PORTAL_LINK,
            "マイナポータル等へのリンクです（患者さんの情報は入っていません）。"
            "お知らせに印字された番号（マイナポータルは画面に表示された番号）を入力し、マイナンバーカードも提示してもらってください",
            link_host=host)
    return ScanResult(ScanKind.UNRECOGNISED, "保険の情報ではないURLのQRコードです（保存しません）")


def _unrecognised(source: ScanSource, raw: bytes) -> ScanResult:
    if source == ScanSource.WEDGE and any(b >= 0x80 for b in raw):
        return ScanResult(ScanKind.UNRECOGNISED, "読み取れないコードです。キーボードモードでは日本語を送れないため、"
                                                 "スキャナをUSB-COMモードにしてください")
    return ScanResult(ScanKind.UNRECOGNISED, "読み取れないコードです（保険・処方箋・診察券のコードではありません）")


_DROPPED = "マイナンバーと同じ形の番号を含む項目があったため、その項目を破棄しました"


def _scrubbed(result: ScanResult) -> ScanResult:
    """Drop every field holding a My Number-shaped number (never let one out of the parser)."""
    dropped = False
    data = result.prescription
    if data is not None:
        changes: dict[str, object] = {}
        for f in fields(data):
            value = getattr(data, f.name)
            if isinstance(value, str) and contains_my_number(value):
                changes[f.name] = ""
        funds = tuple(fund for fund in data.public_funds
                      if not contains_my_number(fund.payer_number + "," + fund.recipient_number))
        if funds != data.public_funds:
            changes["public_funds"] = funds
        if changes:
            dropped = True
            data = replace(data, **changes)  # type: ignore[arg-type]  # field names from fields(data)
    warnings = [w for w in result.warnings if not contains_my_number(w)]
    if dropped:
        warnings.append(_DROPPED)
    return replace(result, prescription=data, warnings=tuple(warnings))


# ---- from a scan to a check ---------------------------------------------------------

def check_request(result: ScanResult, document: DocumentKind | None = None,
                  card_presented: bool = False) -> CheckRequest:
    """The CheckRequest for a scan that identifies a patient; InputError (with the scan's
    message) for one that does not, or that lacks what a check needs."""
    if result.kind == ScanKind.PATIENT_CARD:
        return CheckRequest(Method.PATIENT_ID, document or DocumentKind.PATIENT_CARD,
                            patient_id=result.patient_id, card_presented=card_presented)
    data = result.prescription
    if data is None:
        raise ScanError(f"{result.message_ja} (scan kind: {result.kind.value})")
    funds = tuple(PublicFund(f.payer_number, f.recipient_number, source="qr") for f in data.public_funds
                  if f.payer_number)[:MAX_FUNDS]
    welfare = next((f for f in funds if f.is_welfare and f.recipient_number and f.problem is None), None)
    if not data.insurer_number and welfare is not None and data.birth_date:
        # 医療扶助 alone: the 公費負担者番号 and 受給者番号 find the patient (docs/domain.md §10).
        return by_medical_ticket(welfare, data.birth_date, funds, Method.QR, document or DocumentKind.PRESCRIPTION,
                                 card_presented=card_presented, input_warnings=result.warnings)
    if data.insurance_kind == SELF_PAY:
        raise ScanError("自費の処方箋です（保険の番号はありません）。保険で受ける場合はマイナ保険証か資格確認書で"
                        "確認してください (a self-pay prescription: no insurance numbers)")
    if len(data.insurer_number) == 4:
        raise ScanError("QRの保険者番号は4桁の旧番号です（2008年に廃止）。現在の保険者番号を書類で確認してください "
                        "(an obsolete 4-digit insurer number)")
    missing = [label for label, present in (("保険者番号 insurer number", data.insurer_number),
                                            ("番号 number", data.number),
                                            ("生年月日 birth date", data.birth_date)) if not present]
    if missing:
        hint = ""
        if data.birth_year_month and not data.birth_date:
            hint = f"（生年月日は年月のみ：{data.birth_year_month[0]}年{data.birth_year_month[1]}月。日を本人か書類で確認）"
        elif data.birth_year and not data.birth_date:
            hint = f"（生年月日は年のみ：{data.birth_year}年。月日を本人か書類で確認）"
        raise ScanError(f"QRに確認に必要な項目がありません{hint}: {', '.join(missing)}。書類の番号で確認してください")
    return CheckRequest(
        Method.QR, document or DocumentKind.PRESCRIPTION,
        insurer_number=data.insurer_number, symbol=data.symbol, number=data.number, branch=data.branch,
        birth_date=data.birth_date, card_presented=card_presented, input_warnings=result.warnings,
        public_funds=funds,
    )
