"""Decoding codes from an image with zxing-cpp (the optional `camera` extra).

zxing-cpp's Python binding (3.1) gives each symbol's raw bytes but not its structured-append
header, so the symbols of a split code found in one image are returned in reading order
(rows from the top, left to right in a row: how prescriptions print them). Where a binding
reports the sequence (`sequence_index` / `sequence_size`), it is used instead.
"""

from __future__ import annotations

from pathlib import Path

from madoguchi.edge.qr.jahis import ScanError
from madoguchi.edge.qr.split import SymbolPart

IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"GIF8")


class CameraUnavailable(ScanError):
    """zxing-cpp or Pillow is not installed (install the `camera` extra)."""


def is_image(data: bytes) -> bool:
    return data.startswith(IMAGE_MAGIC)


def decode_image(image) -> list[SymbolPart]:
    """Every code in a PIL image or an image file, as symbol parts in reading order."""
    try:
        import zxingcpp
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise CameraUnavailable("画像の読み取りには camera 追加機能（zxing-cpp）が必要です "
                                "(install the camera extra)") from None
    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as opened:
                image = opened.convert("L")
        except (OSError, UnidentifiedImageError):
            raise ScanError(f"画像を開けません: {Path(image).name} (cannot open the image)") from None
    barcodes = [b for b in zxingcpp.read_barcodes(image) if b.valid]
    return [_part(b) for b in sorted(barcodes, key=_reading_order(barcodes))]


def _part(barcode) -> SymbolPart:
    index = getattr(barcode, "sequence_index", -1)
    size = getattr(barcode, "sequence_size", -1)
    if index is not None and size is not None and index >= 0 and size > 1:
        return SymbolPart(barcode.bytes, index, size)
    return SymbolPart(barcode.bytes)


def _reading_order(barcodes):
    """Sort key: symbols whose vertical extents overlap share a row; rows top to bottom."""
    boxes = {}
    for b in barcodes:
        p = b.position
        ys = [p.top_left.y, p.top_right.y, p.bottom_left.y, p.bottom_right.y]
        xs = [p.top_left.x, p.top_right.x, p.bottom_left.x, p.bottom_right.x]
        boxes[id(b)] = (min(ys), max(ys), min(xs))
    rows: list[tuple[int, int]] = []  # (top, bottom) of each row
    row_of = {}
    for key, (top, bottom, _) in sorted(boxes.items(), key=lambda item: item[1][0]):
        for i, (row_top, row_bottom) in enumerate(rows):
            if top <= row_bottom and bottom >= row_top:
                row_of[key] = i
                break
        else:
            rows.append((top, bottom))
            row_of[key] = len(rows) - 1
    return lambda b: (row_of[id(b)], boxes[id(b)][2])
