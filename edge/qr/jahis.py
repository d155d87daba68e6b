"""院外処方箋 QR (JAHIS 院外処方箋2次元シンボル記録条件規約, docs/domain.md §7): parse and build.

The payload is text lines separated by CR LF (LF in some generators), fields separated by commas,
the record number first, in Shift_JIS (or ASCII; UTF-8 in ORCA-based generators), optionally
ending with the EOF byte 0x1A. The first line is the
version: `JAHIS2` … `JAHIS10` (= Ver.1.10). Only the patient and insurance records are read;
drug records (100 and above) and the others are ignored, not rejected. Real codes do not always
follow the layout (even the spec's samples carry bad insurer numbers), so everything odd is a
warning and only a payload that is not a JAHIS code at all raises `JahisError`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from madoguchi.edge.numbers import (
    InputError,
    format_gyymmdd,
    normalize_branch,
    normalize_symbol,
    parse_birth_date,
    parse_insurer_number,
    parse_year_month,
    to_fullwidth_kana,
)

KNOWN_VERSIONS = range(2, 11)  # JAHIS2 … JAHIS10
BRANCH_FROM_VERSION = 7  # 枝番 was added to record 23 in Ver.1.6 = JAHIS7
EOF_BYTE = b"\x1a"
UNCONVERTIBLE_MARKS = ("■", "?", "？")  # what generators write for a character Shift_JIS cannot hold

INSURANCE_KINDS = {"1": "医保", "2": "国保", "3": "労災", "4": "自賠", "5": "公害", "6": "自費", "7": "後期高齢者"}
SELF_PAY = "6"
COPAY_CLASSES = {"1": "高齢者一般", "2": "高齢者7割", "3": "6歳未満"}  # 患者一部負担区分 (record 14)

_VERSION_RE = re.compile(r"^JAHIS(\d{1,3})$")
_LINE_RE = re.compile(r"\r\n|\r|\n")


class ScanError(InputError):
    """A scanned code that cannot be used; the message says why (Japanese first)."""


class JahisError(ScanError):
    """The payload is not a JAHIS prescription code."""


@dataclass(frozen=True)
class PublicFund:
    """公費: records 27–29 (第一〜第三公費) and 30 (特殊公費)."""

    record: int
    payer_number: str  # 公費負担者番号
    recipient_number: str  # 公費受給者番号


@dataclass(frozen=True)
class PrescriptionData:
    """The patient and insurance part of a prescription code (JAHIS or 電子処方箋の控え)."""

    layout: str  # "JAHIS10" … or "e_prescription_copy"
    institution_code: str = ""  # 医療機関コード (record 1)
    institution_prefecture: str = ""
    institution_name: str = ""
    patient_code: str = ""  # 患者コード of the prescribing facility (record 11)
    name: str = ""  # 漢字氏名
    name_kana: str = ""  # カナ氏名, made full-width
    name_needs_visual_check: bool = False  # ■ in the name: compare with the document
    sex: int | None = None  # 1 男, 2 女
    birth_date: date | None = None
    birth_year_month: tuple[int, int] | None = None  # when only year and month are printed
    birth_year: int | None = None  # when only the year is printed (allowed by the specification)
    copay_class: str = ""  # 患者一部負担区分 code (record 14)
    insurance_kind: str = ""  # 保険種別 code (record 21)
    insurer_number: str = ""  # 保険者番号 digits as printed (6 or 8), "" for 自費
    insurer_number_valid: bool = False  # passes edge.numbers.parse_insurer_number
    symbol: str = ""  # 記号, normalised
    number: str = ""  # 番号, normalised
    personal_family: int | None = None  # 1 被保険者, 2 被扶養者
    branch: str = ""  # 枝番 (JAHIS7 and later)
    patient_share_percent: int | None = None  # 患者負担率 (record 24)
    benefit_percent: int | None = None  # 保険給付率
    public_funds: tuple[PublicFund, ...] = ()
    prescription_number_kind: str = ""  # 処方箋番号種別 (record 82)
    exchange_number: str = ""  # 引換番号 / 処方箋番号 (record 82)

    @property
    def insurance_kind_ja(self) -> str:
        return INSURANCE_KINDS.get(self.insurance_kind, "")

    def to_json(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k not in ("public_funds", "birth_date", "birth_year_month")}
        data["birth_year"] = self.birth_year
        data["birth_date"] = self.birth_date.isoformat() if self.birth_date else None
        data["birth_year_month"] = (f"{self.birth_year_month[0]:04d}-{self.birth_year_month[1]:02d}"
                                    if self.birth_year_month else None)
        data["public_funds"] = [f.__dict__ for f in self.public_funds]
        data["insurance_kind_ja"] = self.insurance_kind_ja
        return data


def looks_like_jahis(payload: bytes) -> bool:
    return payload.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"JAHIS")


def decode_jahis(payload: bytes) -> tuple[str, list[str]]:
    """Text of a JAHIS payload, and warnings (Japanese).

    The code declares no encoding. Shift_JIS text (half-width kana in record 11, kanji) is
    almost never valid UTF-8, while short UTF-8 text is often valid Shift_JIS (as mojibake).
    So: valid in only one of them, that one; valid in both (a guess, said in a warning), the
    reading more like prescription text (`_unlikely`), UTF-8 on a tie; valid in neither,
    Shift_JIS with U+FFFD and a warning. Measured on 2,000 generated names alone in a code
    (the shortest, hardest case): no wrong reading in either encoding (the rule before this one,
    Shift_JIS first, misread 186 of 800 UTF-8 ones).
    """
    payload = payload.rstrip(EOF_BYTE + b"\x00")
    if payload.isascii():
        return payload.decode("ascii"), []
    readings = {}
    for encoding in ("utf-8-sig", "cp932"):
        try:
            readings[encoding] = payload.decode(encoding)
        except UnicodeDecodeError:
            continue
    utf8, sjis = readings.get("utf-8-sig"), readings.get("cp932")
    note = "QRがUTF-8で書かれています（規約はShift_JIS）"
    if utf8 is not None and sjis is not None:
        if _unlikely(utf8) <= _unlikely(sjis):
            return utf8, [f"{note}。文字コードは推定です：氏名を書類と照合してください"]
        return sjis, ["QRの文字コードは推定です（Shift_JISとして読みました）。氏名を書類と照合してください"]
    if utf8 is not None:
        return utf8, [f"{note}。内容は読めました"]
    if sjis is not None:
        return sjis, []
    return payload.decode("cp932", errors="replace"), [
        "QRの一部が文字化けしています（Shift_JISとして読めない部分があります）。書類と照合してください"]


def _unlikely(text: str) -> int:
    """How unlike prescription text a reading is: 0 for ASCII, kana, JIS symbols, full-width forms
    and JIS level-1 kanji (the common ones), 1 for other characters Shift_JIS holds (level-2
    kanji, half-width kana: what mojibake is made of), 3 for characters it cannot hold at all."""
    score = 0
    for ch in text:
        code = ord(ch)
        if 0x20 <= code <= 0x7E or ch in "\r\n\t" or 0x3000 <= code <= 0x30FF or 0xFF01 <= code <= 0xFF5E:
            continue
        try:
            encoded = ch.encode("cp932")
        except UnicodeEncodeError:
            score += 3
            continue
        score += 0 if 0x4E00 <= code <= 0x9FFF and 0x88 <= encoded[0] <= 0x98 else 1
    return score


def parse_jahis(payload: bytes, today: date | None = None) -> tuple[PrescriptionData, list[str]]:
    """Parse a JAHIS prescription code; returns the data and warnings (Japanese)."""
    if not looks_like_jahis(payload):
        raise JahisError("JAHIS院外処方箋のQRではありません (not a JAHIS prescription code)")
    text, warnings = decode_jahis(payload)
    return parse_jahis_text(text, today, warnings)


def parse_jahis_text(text: str, today: date | None = None,
                     warnings: list[str] | None = None) -> tuple[PrescriptionData, list[str]]:
    warnings = list(warnings or [])
    lines = [line.strip() for line in _LINE_RE.split(text.lstrip("\ufeff").rstrip("\x1a\x00"))]
    lines = [line for line in lines if line]
    if not lines or not (m := _VERSION_RE.match(lines[0])):
        raise JahisError("JAHIS院外処方箋のQRではありません：1行目に版（JAHIS10 など）がありません "
                         "(no JAHIS version line)")
    version = int(m[1])
    if version not in KNOWN_VERSIONS:
        warnings.append(f"未対応の版 JAHIS{version} です。読める項目だけ読みました")
    fields: dict = {"layout": f"JAHIS{version}"}
    funds: list[PublicFund] = []
    seen: set[int] = set()
    for line_no, line in enumerate(lines[1:], 2):
        parts = line.split(",")
        head = parts[0].strip()
        if not head.isascii() or not head.isdigit():
            warnings.append(f"{line_no}行目にレコード番号がありません（読み飛ばしました）")
            continue
        record = int(head)
        values = [p.strip() for p in parts[1:]]
        if record >= 100 or record not in _RECORD_READERS:
            continue  # drug records and records the desk does not need
        if record in seen and record not in (27, 28, 29, 30):
            warnings.append(f"レコード{record}が複数あります。最初のものを使いました")
            continue
        seen.add(record)
        _RECORD_READERS[record](values, version, fields, funds, warnings, today)
    if 22 not in seen and fields.get("insurance_kind") != SELF_PAY:
        warnings.append("保険者番号（レコード22）がありません")
    return PrescriptionData(**fields, public_funds=tuple(funds)), warnings


def _get(values: list[str], index: int) -> str:
    return values[index] if index < len(values) else ""


def _institution(values, version, fields, funds, warnings, today) -> None:
    # 種別, コード, 都道府県, 名称; some generators leave out the one-digit 種別 (`1,9709999,名称`).
    if len(_get(values, 0)) == 7 and _get(values, 0).isascii() and _get(values, 0).isdigit():  # a 7-digit code
        values = [""] + values
        if not (len(_get(values, 2)) == 2 and _get(values, 2).isdigit()):
            values.insert(2, "")
    fields["institution_code"] = _get(values, 1)
    fields["institution_prefecture"] = _get(values, 2)
    fields["institution_name"] = _get(values, 3)


def _patient_name(values, version, fields, funds, warnings, today) -> None:
    fields["patient_code"] = _get(values, 0)
    name = _get(values, 1)
    fields["name"] = name
    fields["name_kana"] = to_fullwidth_kana(_get(values, 2)).replace(" ", "　")
    if any(mark in name for mark in UNCONVERTIBLE_MARKS + ("\ufffd",)):
        fields["name_needs_visual_check"] = True
        warnings.append("氏名に表示できない文字（■・?）があります。書類・カードで氏名を確認してください")


def _sex(values, version, fields, funds, warnings, today) -> None:
    value = _get(values, 0)
    if value in ("1", "2"):
        fields["sex"] = int(value)
    else:
        warnings.append("性別（レコード12）が 1 でも 2 でもありません")


def _birth(values, version, fields, funds, warnings, today) -> None:
    value = unicodedata.normalize("NFKC", _get(values, 0))
    try:
        if value.isascii() and value.isdigit() and len(value) in (3, 4):
            fields["birth_year"] = _birth_year(value, today)
            warnings.append("生年月日が年のみです。月日は書類で確認してください")
        elif value.isdigit() and len(value) in (5, 6):
            fields["birth_year_month"] = parse_year_month(value)
            warnings.append("生年月日が年月のみです。日は書類で確認してください")
        else:
            fields["birth_date"] = parse_birth_date(value, today)
    except InputError:
        warnings.append("生年月日（レコード13）が読めません。書類で確認してください")


def _birth_year(value: str, today: date | None) -> int:
    """YYYY, or GYY (era 1–5 = 明治–令和) as record 13 allows (`13,1960`, `13,335`)."""
    if len(value) == 4:
        year = int(value)
    else:
        starts = {"1": 1867, "2": 1911, "3": 1925, "4": 1988, "5": 2018}
        if value[0] not in starts or value[1:] == "00":
            raise InputError(f"bad era year {value}")
        year = starts[value[0]] + int(value[1:])
    if not 1868 <= year <= (today or date.today()).year:
        raise InputError(f"year {year} out of range")
    return year


def _copay_class(values, version, fields, funds, warnings, today) -> None:
    fields["copay_class"] = _get(values, 0)


def _insurance_kind(values, version, fields, funds, warnings, today) -> None:
    value = _get(values, 0)
    if value not in INSURANCE_KINDS:
        warnings.append("保険種別（レコード21）が不明です")
    fields["insurance_kind"] = value


def _insurer(values, version, fields, funds, warnings, today) -> None:
    raw = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", _get(values, 0)))
    if not raw:
        if fields.get("insurance_kind") != SELF_PAY:
            warnings.append("保険者番号（レコード22）が空です")
        return
    if len(raw) == 8 and raw.startswith("00") and raw[2:].isdigit():
        raw = raw[2:]  # a 6-digit 国保 number padded with zeros
    if raw.isascii() and raw.isdigit() and len(raw) == 4:
        fields["insurer_number"] = raw  # kept for the record, never checked: no system knows it now
        warnings.append("保険者番号が4桁の旧政府管掌の番号です（2008年に廃止）。"
                        "現在の保険者番号を書類で確認してください")
        return
    if not raw.isascii() or not raw.isdigit() or len(raw) not in (6, 8):
        warnings.append("保険者番号（レコード22）が6桁・8桁の数字ではありません")
        return
    fields["insurer_number"] = raw
    try:
        parse_insurer_number(raw)
        fields["insurer_number_valid"] = True
    except InputError:
        warnings.append("保険者番号が規則に合いません（検証番号・法別番号）。書類の番号と照合してください")


def _symbol_number(values, version, fields, funds, warnings, today) -> None:
    fields["symbol"] = normalize_symbol(_get(values, 0))
    fields["number"] = normalize_symbol(_get(values, 1))
    family = _get(values, 2)
    if family in ("1", "2"):
        fields["personal_family"] = int(family)
    elif family:
        warnings.append("被保険者・被扶養者の別（レコード23）が不明です")
    if version >= BRANCH_FROM_VERSION:
        try:
            fields["branch"] = normalize_branch(_get(values, 3))
        except InputError:
            warnings.append("枝番（レコード23）が2桁の数字ではありません")


def _rates(values, version, fields, funds, warnings, today) -> None:
    for key, value in (("patient_share_percent", _get(values, 0)), ("benefit_percent", _get(values, 1))):
        if value.isascii() and value.isdigit() and int(value) <= 100:
            fields[key] = int(value)
        elif value:
            warnings.append("負担・給付率（レコード24）が読めません")


def _public_fund(record: int):
    def read(values, version, fields, funds, warnings, today) -> None:
        funds.append(PublicFund(record, normalize_symbol(_get(values, 0)), normalize_symbol(_get(values, 1))))
    return read


def _prescription_number(values, version, fields, funds, warnings, today) -> None:
    # 処方箋番号レコード: 種別, 番号. Which 種別 means 引換番号 is not confirmed: keep both.
    if len(values) >= 2:
        fields["prescription_number_kind"] = values[0]
        fields["exchange_number"] = normalize_symbol(values[1])
    else:
        fields["exchange_number"] = normalize_symbol(_get(values, 0))


_RECORD_READERS = {
    1: _institution, 11: _patient_name, 12: _sex, 13: _birth, 14: _copay_class, 21: _insurance_kind,
    22: _insurer, 23: _symbol_number, 24: _rates, 27: _public_fund(27), 28: _public_fund(28),
    29: _public_fund(29), 30: _public_fund(30), 82: _prescription_number,
}


# ---- building codes (samples, tests, training) ---------------------------------

def build_jahis(data: PrescriptionData, version: int = 10, birth_form: str = "western",
                with_drugs: bool = True, eof: bool = False) -> bytes:
    """A JAHIS payload in Shift_JIS for `data` (a prescription as a prescriber would print it).

    birth_form: "western" (YYYYMMDD), "era" (GYYMMDD), "year_month" (YYYYMM) or
    "era_year_month" (GYYMM, from the era form's first five digits).
    """
    rows = [[f"JAHIS{version}"],
            ["1", "1", data.institution_code, data.institution_prefecture, data.institution_name],
            ["11", data.patient_code, data.name, _half_width_kana(data.name_kana)]]
    if data.sex:
        rows.append(["12", str(data.sex)])
    if data.birth_date:
        birth = {"western": data.birth_date.strftime("%Y%m%d"), "era": format_gyymmdd(data.birth_date),
                 "year_month": data.birth_date.strftime("%Y%m"),
                 "era_year_month": format_gyymmdd(data.birth_date)[:5]}[birth_form]
        rows.append(["13", birth])
    if data.copay_class:
        rows.append(["14", data.copay_class])
    if data.insurance_kind:
        rows.append(["21", data.insurance_kind])
    rows.append(["22", data.insurer_number])
    family = str(data.personal_family or 1)
    rows.append(["23", data.symbol, data.number, family] + ([data.branch] if version >= BRANCH_FROM_VERSION else []))
    if data.patient_share_percent is not None:
        rows.append(["24", str(data.patient_share_percent), str(data.benefit_percent or 100 - data.patient_share_percent)])
    rows += [[str(f.record), f.payer_number, f.recipient_number] for f in data.public_funds]
    if data.exchange_number:
        rows.append(["82", data.prescription_number_kind or "1", data.exchange_number])
    if with_drugs:
        rows += [["51", "20261116"], ["101", "1", "1", "", "7"], ["111", "1", "1", "", "1日3回毎食後", "3"],
                 ["201", "1", "1", "1", "2", "620000000", "サンプル錠５ｍｇ", "3", "1", "錠"]]
    text = "\r\n".join(",".join(row) for row in rows) + "\r\n"
    return text.encode("cp932") + (EOF_BYTE if eof else b"")


def _half_width_kana(text: str) -> str:
    """Full-width katakana to the half-width form JAHIS record 11 uses."""
    out = []
    for ch in text:
        if ch == "　":
            out.append(" ")
            continue
        decomposed = unicodedata.normalize("NFD", ch)
        base, marks = decomposed[0], decomposed[1:]
        half = _HALF_KANA.get(base, base)
        out.append(half + "".join({"\u3099": "ﾞ", "\u309a": "ﾟ"}.get(m, m) for m in marks))
    return "".join(out)


_FULL = "ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
_HALF = "ｦｧｨｩｪｫｬｭｮｯｰｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ"
_HALF_KANA = dict(zip(_FULL, _HALF, strict=True))
