"""Shared by the card unit tests: one CA and one key for the whole session (RSA keys are slow)."""

from __future__ import annotations

from functools import cache

from madoguchi.edge.card.certs import TrustAnchors
from madoguchi.sim import vcard as virtual


@cache
def ca() -> virtual.TestCA:
    return virtual.make_test_ca()


@cache
def key():
    return virtual.new_key()


@cache
def certificate():
    return virtual.issue_auth_certificate(ca(), key())


def card(pin: str = "1234", **options) -> virtual.VirtualJpkiCard:
    return virtual.make_card(ca(), pin, key(), certificate(), **options)


def anchors() -> TrustAnchors:
    return TrustAnchors((ca().certificate,))
