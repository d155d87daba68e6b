"""Trust anchors: loading, configuration, the J-LIS roots."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from madoguchi.edge.card import certs
from madoguchi.edge.card.errors import CertificateRejected
from madoguchi.edge.config import Config

from tests.unit import card_helpers

REPO = Path(__file__).resolve().parents[2]
JLIS_ROOTS = REPO.parent / "shared" / "jpki-roots"  # beside the clone, in CI as on the dev machine


@pytest.mark.skipif(not JLIS_ROOTS.is_dir(), reason=f"{JLIS_ROOTS} is not beside this clone")
def test_the_real_jlis_roots_load():
    anchors = certs.load_trust_anchors(JLIS_ROOTS)
    assert len(anchors.certificates) == 4
    auth = [c for c in anchors.certificates if "user authentication" in c.subject.rfc4514_string()]
    assert len(auth) == 2 and auth[0].subject == auth[1].subject  # the 2015 and 2023 generations
    with pytest.raises(CertificateRejected):  # our test card does not chain to J-LIS
        certs.check_certificate(card_helpers.card().certificate_der, anchors)


def test_anchors_come_from_the_configuration_then_the_data_directory(tmp_path):
    configured = Config(tmp_path, raw={"card": {"trust_anchors": "/srv/roots"}})
    assert certs.trust_anchor_dirs(configured) == [Path("/srv/roots"), tmp_path / "trust-anchors"]
    assert certs.trust_anchor_dirs(Config(tmp_path))[0] == certs.DEFAULT_TRUST_ANCHORS


def test_bad_and_foreign_files_are_skipped(tmp_path, caplog):
    (tmp_path / "good.pem").write_bytes(card_helpers.ca().pem)
    (tmp_path / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    (tmp_path / "notes.txt").write_text("ignore me")
    with caplog.at_level(logging.WARNING):
        anchors = certs.load_trust_anchors(tmp_path, tmp_path / "missing")
    assert anchors.certificates == (card_helpers.ca().certificate,)
    assert "broken.pem" in caplog.text
    assert certs.check_certificate(card_helpers.card().certificate_der, anchors)


def test_garbage_instead_of_a_certificate_is_rejected():
    with pytest.raises(CertificateRejected):
        certs.check_certificate(b"\x30\x03\x02\x01\x00", card_helpers.anchors())
