"""Test documents as PNG images (qrcode + Pillow): a JAHIS prescription code, whole or split
into structured-append symbols, a notice-like sheet, and the printable 受付票 (check slip).

For demos, tests and technician training only: every sheet says 見本 (sample) and the
people come from the synthetic population or are invented.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import qrcode
from madoguchi.edge.qr.codes import CHECK_SLIP_PREFIX
from madoguchi.edge.qr.jahis import PrescriptionData
from madoguchi.edge.qr.split import SymbolPart, split_payload
from PIL import Image, ImageDraw, ImageFont
from qrcode import base, constants, util

_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/ipafont-gothic/ipagp.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
)
_LATIN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

SAMPLE_PERSON = {  # invented; insurer 01130012 is 協会けんぽ 東京 with a valid check digit
    "patient_id": "00000001", "name": "見本　花子", "name_kana": "ミホン　ハナコ", "insurer_number": "01130012",
    "symbol": "1234567", "number": "89", "branch": "00", "birth_date": "1980-04-01",
}


def qr_symbol(part: SymbolPart, box_size: int = 4, error_correction: int = constants.ERROR_CORRECT_M) -> Image.Image:
    """One QR symbol holding `part.data` in byte mode, with the structured-append header when
    the part belongs to a set (qrcode cannot write that header itself, so the data codewords
    are built here and handed to it)."""
    buffer, blocks, version = None, None, 0
    for version in range(1, 41):
        buffer = util.BitBuffer()
        if part.total and part.total > 1:
            buffer.put(0b0011, 4)  # structured append: position, last position, parity
            buffer.put(part.index, 4)
            buffer.put(part.total - 1, 4)
            buffer.put(part.parity or 0, 8)
        buffer.put(util.MODE_8BIT_BYTE, 4)
        buffer.put(len(part.data), util.length_in_bits(util.MODE_8BIT_BYTE, version))
        for byte in part.data:
            buffer.put(byte, 8)
        blocks = base.rs_blocks(version, error_correction)
        limit = sum(block.data_count * 8 for block in blocks)
        if len(buffer) <= limit:
            break
    else:
        raise ValueError(f"{len(part.data)} bytes do not fit in one QR symbol: split them")
    for _ in range(min(limit - len(buffer), 4)):  # terminator
        buffer.put_bit(False)
    while len(buffer) % 8:
        buffer.put_bit(False)
    for i in range((limit - len(buffer)) // 8):
        buffer.put(util.PAD0 if i % 2 == 0 else util.PAD1, 8)
    code = qrcode.QRCode(version=version, error_correction=error_correction, box_size=box_size, border=4)
    code.data_cache = util.create_bytes(buffer, blocks)
    code.make(fit=False)
    return code.make_image().get_image().convert("L")


def jahis_symbols(payload: bytes, split: int = 1, box_size: int = 4) -> list[Image.Image]:
    """The symbol images of a JAHIS payload, cut into `split` structured-append symbols."""
    return [qr_symbol(part, box_size) for part in split_payload(payload, split)]


def side_by_side(images: list[Image.Image], gap: int = 24) -> Image.Image:
    """Symbols in one row, as a prescription prints a split code."""
    width = sum(i.width for i in images) + gap * (len(images) - 1)
    sheet = Image.new("L", (width, max(i.height for i in images)), 255)
    x = 0
    for image in images:
        sheet.paste(image, (x, 0))
        x += image.width + gap
    return sheet


def _font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    """A font and whether it can draw Japanese."""
    for path in _CJK_FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size), True
    if Path(_LATIN_FONT).exists():
        return ImageFont.truetype(_LATIN_FONT, size), False
    return ImageFont.load_default(), False


def _sheet(lines: list[tuple[str, str]], code: Image.Image, width: int = 900) -> Image.Image:
    """A sheet: (Japanese, English) lines at the top (English when no Japanese font is
    installed), then the code."""
    font, japanese = _font(26)
    height = 60 + 40 * len(lines) + code.height + 40
    sheet = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(sheet)
    y = 30
    for ja, en in lines:
        draw.text((40, y), ja if japanese else en, fill=0, font=font)
        y += 40
    sheet.paste(code, (40, y + 10))
    return sheet


def notice_sheet(person: dict, url: str = "https://myna.go.jp/") -> Image.Image:
    """A sheet shaped like the 資格情報のお知らせ: printed numbers and a QR that only links to
    マイナポータル (the real notice's QR carries no patient data either)."""
    link = qrcode.QRCode(box_size=5, border=4)
    link.add_data(url)
    code = link.make_image().get_image().convert("L")
    branch = person.get("branch") or "-"
    lines = [
        ("資格情報のお知らせ（見本・研修用）", "Qualification notice (SAMPLE, training only)"),
        (f"氏名 {person['name']}（{person['name_kana']}）", f"Name: (person {person.get('patient_id', '')})"),
        (f"保険者番号 {person['insurer_number']}", f"Insurer number {person['insurer_number']}"),
        (f"記号 {person['symbol'] or '-'}  番号 {person['number']}  枝番 {branch}",
         f"Symbol {person['symbol'] or '-'}  Number {person['number']}  Branch {branch}"),
        (f"生年月日 {person['birth_date']}", f"Birth date {person['birth_date']}"),
        ("マイナンバーカードと一緒に提示してください", "Valid only together with the My Number Card"),
    ]
    return _sheet(lines, code)


def prescription_sheet(data: PrescriptionData, symbols: list[Image.Image]) -> Image.Image:
    count = f"（分割 {len(symbols)} 枚）" if len(symbols) > 1 else ""
    lines = [
        (f"院外処方箋（見本・研修用） {data.layout}{count}", f"Prescription (SAMPLE) {data.layout} {len(symbols)} symbol(s)"),
        (f"保険者番号 {data.insurer_number}  記号 {data.symbol or '-'}  番号 {data.number}",
         f"Insurer {data.insurer_number}  Symbol {data.symbol or '-'}  Number {data.number}"),
    ]
    return _sheet(lines, side_by_side(symbols), width=max(900, 80 + sum(s.width + 24 for s in symbols)))


def check_slip(check_id: int, at: datetime, headline_ja: str = "") -> Image.Image:
    """受付票: the check (audit) id as a QR, for the patient file or the pharmacy counter."""
    code = qr_symbol(SymbolPart(f"{CHECK_SLIP_PREFIX}{check_id}".encode("ascii")), box_size=5)
    lines = [("受付票", "Check slip"), (f"確認番号 {check_id}", f"Check id {check_id}"),
             (f"{at:%Y-%m-%d %H:%M}", f"{at:%Y-%m-%d %H:%M}")]
    if headline_ja:
        lines.append((headline_ja, ""))
    return _sheet(lines, code, width=600)


def prescription_from_person(person: dict, patient_code: str = "") -> PrescriptionData:
    """A prescription as a prescriber would print it for a population sample person."""
    kind = "7" if person["insurer_number"].startswith("39") else ("2" if len(person["insurer_number"]) == 6 else "1")
    return PrescriptionData(
        "JAHIS10", institution_code="1234567", institution_prefecture="13", institution_name="見本クリニック",
        patient_code=patient_code or person.get("patient_id", ""), name=person["name"], name_kana=person["name_kana"],
        sex=person.get("sex", 1), birth_date=date.fromisoformat(person["birth_date"]), insurance_kind=kind,
        insurer_number=person["insurer_number"], symbol=person["symbol"], number=person["number"],
        personal_family=person.get("personal_family", 1), branch=person.get("branch", ""),
        patient_share_percent=30, benefit_percent=70,
    )
