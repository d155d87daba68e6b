"""Split symbols: bytes joined in sequence order before Shift_JIS decoding, any order, timeouts."""

from __future__ import annotations

import itertools
import random
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from madoguchi.edge.qr.jahis import build_jahis, parse_jahis
from madoguchi.edge.qr.split import SplitError, SplitJoiner, SymbolPart, join_in_order, parity_of, split_payload
from madoguchi.sim.documents import SAMPLE_PERSON, prescription_from_person

TODAY = date(2026, 11, 16)
PAYLOAD = build_jahis(prescription_from_person({**SAMPLE_PERSON, "name": "髙橋　葵"}), 10)
EXPECTED = parse_jahis(PAYLOAD, TODAY)


def two_parts(data: bytes, offset: int) -> list[SymbolPart]:
    parity = parity_of(data)
    return [SymbolPart(data[:offset], 0, 2, parity), SymbolPart(data[offset:], 1, 2, parity)]


def test_payload_has_multibyte_characters_to_cut():
    assert any(b >= 0x80 for b in PAYLOAD)


def test_shift_jis_split_at_every_byte_offset_in_either_order():
    for offset in range(1, len(PAYLOAD)):
        first, second = two_parts(PAYLOAD, offset)
        for order in ((first, second), (second, first)):
            joiner = SplitJoiner()
            assert joiner.add(order[0], 0.0) is None
            assert joiner.pending == (1, 2)
            joined = joiner.add(order[1], 1.0)
            assert joined == PAYLOAD, offset
            assert parse_jahis(joined, TODAY) == EXPECTED


@pytest.mark.parametrize("total", [3, 4, 16])
def test_many_symbols_in_any_order(total):
    parts = split_payload(PAYLOAD, total)
    orders = itertools.permutations(parts) if total <= 4 else (random.Random(total).sample(parts, total) for _ in range(20))
    for order in orders:
        joiner = SplitJoiner()
        results = [joiner.add(part, float(i)) for i, part in enumerate(order)]
        assert results[:-1] == [None] * (total - 1) and results[-1] == PAYLOAD


def test_join_in_order_uses_positions_or_the_order_given():
    parts = split_payload(PAYLOAD, 3)
    assert join_in_order(list(reversed(parts))) == PAYLOAD
    assert join_in_order([SymbolPart(p.data) for p in parts]) == PAYLOAD
    with pytest.raises(SplitError, match="3 枚中 2 枚"):
        join_in_order(parts[:2])


def test_an_incomplete_set_times_out_with_a_clear_message():
    joiner = SplitJoiner(timeout=10)
    parts = split_payload(PAYLOAD, 3)
    joiner.add(parts[0], 100.0)
    joiner.add(parts[2], 105.0)
    assert "2枚目" in joiner.missing_message()
    assert joiner.expire(109.0) is None
    message = joiner.expire(110.5)
    assert "時間切れ" in message and "3 枚中 2 枚" in message
    assert joiner.pending == (0, 0) and joiner.expire(200.0) is None


def test_symbols_of_two_codes_do_not_mix():
    joiner = SplitJoiner()
    joiner.add(split_payload(PAYLOAD, 2)[0], 0.0)
    other = split_payload(PAYLOAD + b"13,19800402\r\n", 2)[1]
    with pytest.raises(SplitError, match="混ざりました"):
        joiner.add(other, 1.0)
    assert joiner.pending == (0, 0)


def test_a_corrupted_set_fails_its_parity():
    parts = split_payload(PAYLOAD, 2)
    broken = SymbolPart(parts[1].data[:-1] + b"X", 1, 2, parts[1].parity)
    joiner = SplitJoiner()
    joiner.add(parts[0], 0.0)
    with pytest.raises(SplitError, match="パリティ"):
        joiner.add(broken, 0.1)


def test_a_single_symbol_passes_straight_through_but_not_mid_set():
    joiner = SplitJoiner()
    assert joiner.add(SymbolPart(b"00000001"), 0.0) == b"00000001"
    joiner.add(split_payload(PAYLOAD, 2)[0], 0.0)
    with pytest.raises(SplitError, match="別のコード"):
        joiner.add(SymbolPart(b"00000001"), 0.1)


def test_symbol_repr_never_shows_the_bytes():
    assert "983205673214" not in repr(SymbolPart(b"983205673214"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=20), st.one_of(st.none(), st.integers(-2, 20)),
                          st.one_of(st.none(), st.integers(-1, 20)), st.one_of(st.none(), st.integers(0, 255))),
                max_size=20))
def test_fuzz_joiner_raises_only_split_error(parts):
    joiner = SplitJoiner(timeout=1.0)
    for i, (data, index, total, parity) in enumerate(parts):
        try:
            result = joiner.add(SymbolPart(data, index, total, parity), i * 0.3)
        except SplitError:
            continue
        assert result is None or isinstance(result, bytes)
        joiner.expire(i * 0.3)
