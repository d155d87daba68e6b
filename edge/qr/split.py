"""Split symbols (QR structured append, up to 16 symbols): join the raw bytes, then decode.

A Shift_JIS character can be cut between two symbols, so the parts are joined as bytes in
sequence order before any decoding. Parts may arrive in any order when their position is
known; a set that stays incomplete is dropped after a timeout with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass

from madoguchi.edge.qr.jahis import ScanError

MAX_SYMBOLS = 16
DEFAULT_TIMEOUT_SECONDS = 20.0


class SplitError(ScanError):
    """Parts that do not make one set (mixed codes, bad positions, timeout)."""


@dataclass(frozen=True)
class SymbolPart:
    """One decoded QR symbol. `index` (0-based) and `total` are None when the reader does not
    report the structured-append header; `parity` is the header's XOR of the whole data."""

    data: bytes
    index: int | None = None
    total: int | None = None
    parity: int | None = None

    def __repr__(self) -> str:  # never show scanned bytes in a log or a traceback
        return f"SymbolPart(<{len(self.data)} bytes>, index={self.index}, total={self.total})"


def parity_of(data: bytes) -> int:
    """The structured-append parity: XOR of every byte of the whole (joined) data."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def split_payload(data: bytes, total: int) -> list[SymbolPart]:
    """Cut `data` into `total` parts of nearly equal byte length (for samples and tests)."""
    if not 1 <= total <= MAX_SYMBOLS:
        raise ValueError(f"a structured-append set has 1 to {MAX_SYMBOLS} symbols")
    size, extra = divmod(len(data), total)
    parts, start = [], 0
    for i in range(total):
        end = start + size + (1 if i < extra else 0)
        parts.append(SymbolPart(data[start:end], i, total, parity_of(data)))
        start = end
    return parts


def join_in_order(parts: list[SymbolPart]) -> bytes:
    """Join a complete set: by position when every part has one, else in the order given."""
    if not parts:
        raise SplitError("QRコードがありません (no symbols)")
    if all(p.index is not None for p in parts):
        joiner = SplitJoiner()
        for part in parts:
            result = joiner.add(part, 0.0)
        if result is None:
            raise SplitError(joiner.missing_message())
        return result
    return b"".join(p.data for p in parts)


class SplitJoiner:
    """Collects the symbols of one set as they are scanned.

    `add()` returns the joined bytes when the set is complete (at once for a single symbol),
    else None; `expire(now)` drops a set that has waited longer than `timeout` and returns
    the message to show. Times are monotonic seconds supplied by the caller.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        self._parts: dict[int, bytes] = {}
        self._total = 0
        self._parity: int | None = None
        self._started = 0.0

    @property
    def pending(self) -> tuple[int, int]:
        """(symbols read, symbols in the set); (0, 0) when no set is open."""
        return len(self._parts), self._total

    def reset(self) -> None:
        self._parts, self._total, self._parity = {}, 0, None

    def add(self, part: SymbolPart, now: float) -> bytes | None:
        if part.index is None or part.total is None or part.total == 1:
            if self._parts:
                self.reset()
                raise SplitError("分割QRの途中で別のコードが読まれました。分割QRを最初から読み直してください "
                                 "(another code arrived in the middle of a split set)")
            return part.data
        if not 1 < part.total <= MAX_SYMBOLS or not 0 <= part.index < part.total:
            self.reset()
            raise SplitError(f"分割QRの番号が不正です ({part.index + 1}/{part.total})")
        if self._parts and (part.total != self._total or part.parity != self._parity):
            self.reset()
            raise SplitError("別の処方箋のQRコードが混ざりました。分割QRを最初から読み直してください "
                             "(symbols of two different sets)")
        if not self._parts:
            self._total, self._parity, self._started = part.total, part.parity, now
        known = self._parts.get(part.index)
        if known is not None and known != part.data:
            self.reset()
            raise SplitError("同じ位置の分割QRが2種類読まれました。最初から読み直してください")
        self._parts[part.index] = part.data
        if len(self._parts) < self._total:
            return None
        data = b"".join(self._parts[i] for i in range(self._total))
        parity = self._parity
        self.reset()
        if parity is not None and parity_of(data) != parity:
            raise SplitError("分割QRのデータが壊れています（パリティ不一致）。最初から読み直してください")
        return data

    def missing_message(self) -> str:
        have, total = self.pending
        missing = [str(i + 1) for i in range(total) if i not in self._parts]
        return (f"分割QRの {total} 枚中 {have} 枚を読みました。残り（{'・'.join(missing)}枚目）を読み取ってください "
                f"({have} of {total} symbols read)")

    def expire(self, now: float) -> str | None:
        if not self._parts or now - self._started <= self.timeout:
            return None
        have, total = self.pending
        self.reset()
        return (f"時間切れ：分割QRの {total} 枚中 {have} 枚しか読めませんでした。最初の1枚から読み直してください "
                f"(split set timed out with {have} of {total} symbols)")
