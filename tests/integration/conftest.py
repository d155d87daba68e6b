"""Integration fixtures: the real PC/SC stack (pcscd + vpcd + virtual cards)."""

from tests.integration.pcscd_fixture import card_ca, inserted, pcscd  # noqa: F401
