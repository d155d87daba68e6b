"""qrcode → image → zxing-cpp: generated codes decode back to the same fields (camera extra)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

pytest.importorskip("zxingcpp")

from madoguchi.edge.qr import ScanKind, ScanSource, classify  # noqa: E402
from madoguchi.edge.qr.camera import decode_image  # noqa: E402
from madoguchi.edge.qr.jahis import build_jahis, parse_jahis  # noqa: E402
from madoguchi.edge.qr.split import SymbolPart, join_in_order, parity_of  # noqa: E402
from madoguchi.sim.documents import (  # noqa: E402
    SAMPLE_PERSON,
    check_slip,
    jahis_symbols,
    notice_sheet,
    prescription_from_person,
    prescription_sheet,
    qr_symbol,
    side_by_side,
)

TODAY = date(2026, 11, 16)
PERSON = prescription_from_person({**SAMPLE_PERSON, "name": "髙橋　葵", "name_kana": "タカハシ　アオイ"})


def decoded_payload(images) -> bytes:
    parts = []
    for image in images:
        found = decode_image(image)
        assert len(found) == 1
        parts.append(found[0])
    return join_in_order(parts)


@pytest.mark.parametrize("version", range(2, 11))
@pytest.mark.parametrize("split", [1, 3])
def test_every_version_through_an_image(version, split):
    payload = build_jahis(PERSON, version, eof=True)
    result = classify(decoded_payload(jahis_symbols(payload, split)), ScanSource.CAMERA, today=TODAY)
    assert result.kind == ScanKind.PRESCRIPTION
    assert result.prescription == parse_jahis(payload, TODAY)[0]


def test_symbols_cut_inside_a_shift_jis_character():
    payload = build_jahis(PERSON, 10)
    offsets, position = [], 0
    for ch in payload.decode("cp932"):
        size = len(ch.encode("cp932"))
        if size == 2:
            offsets.append(position + 1)  # between the lead and the trail byte
        position += size
    offsets = offsets[:6]
    assert offsets
    for offset in offsets:
        parity = parity_of(payload)
        images = [qr_symbol(SymbolPart(payload[:offset], 0, 2, parity)),
                  qr_symbol(SymbolPart(payload[offset:], 1, 2, parity))]
        assert decoded_payload(images) == payload
        with pytest.raises(UnicodeDecodeError):
            decode_image(images[0])[0].data.decode("cp932")


def test_a_split_code_printed_in_one_row_is_read_in_order():
    payload = build_jahis(PERSON, 10)
    sheet = prescription_sheet(PERSON, jahis_symbols(payload, 4))
    parts = decode_image(sheet)
    assert len(parts) == 4 and join_in_order(parts) == payload
    assert join_in_order(decode_image(side_by_side(jahis_symbols(payload, 2)))) == payload


def test_notice_sheet_code_is_a_portal_link():
    (part,) = decode_image(notice_sheet(SAMPLE_PERSON))
    assert classify(part.data).kind == ScanKind.PORTAL_LINK


def test_check_slip_code():
    (part,) = decode_image(check_slip(42, datetime(2026, 11, 16, 10, 0)))
    result = classify(part.data)
    assert result.kind == ScanKind.CHECK_SLIP and result.check_id == 42
