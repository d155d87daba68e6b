"""The card: proof of the card holder with the My Number Card's JPKI auth certificate.

Never touches the My Number: the only application ever selected is the JPKI AP (an allowlist
enforced at the transport, `edge.card.jpki.guard`). API for the desk (call it from worker
threads; every call may block up to its timeout)::

    from madoguchi.edge.card import (CardSession, HolderProof, request_for, CardError, CardRemoved,
                           CardTimeout, CardLocked, WrongPin, NotJpkiCard, CertificateRejected)

    session = CardSession(transport, anchors)   # one inserted card (transport: pcsc or in-process)
    session.pin_tries_left() -> int             # no try used; show it before entry
    session.prove_holder(pin) -> HolderProof    # VERIFY once with the PIN just typed, sign a fresh
                                                # challenge, check signature + chain, re-select the AP
    session.read_for_visual_check() -> HolderProof  # 目視確認: certificate only, no PIN
    request_for(proof, card_link) -> CheckRequest   # Method.CARD / VISUAL, DocumentKind.MYNA_CARD
    card_link = edge.store.card_link_for(conn, proof.certificate_der)

    Every failure is a `CardError` with `message_ja` for the screen:
      CardRemoved, CardTimeout (recoverable: wait for the next insertion), CardLocked (fallback:
      市区町村窓口でロック解除), WrongPin(tries_left), jpki.WrongPinFormat (not 4 digits: nothing
      was sent, no try used), NotJpkiCard, CertificateRejected, ReaderUnavailable.
    `advice_ja(tries_left)` says what to tell the patient before PIN entry (1 try: 目視確認).

    Readers and events (edge.card.transport):
      PcscReaders(reader_name=None).open() -> PcscTransport   # the card in the named reader (or any)
      PcscMonitor(on_insert, on_remove, reader_name=None).start() / .stop()
      InProcessReader: .insert(card) / .remove(); .open() -> transport; .monitor(on_insert, on_remove)
      on_insert(reader_name) / on_remove(reader_name) are called from the monitor's thread
      (for the in-process reader: from the thread calling insert() / remove()).

    The virtual My Number Card (demo, tests, training): `virtual.make_test_ca()`,
    `virtual.make_card(ca, pin, **options)`; in process through InProcessReader, or through pcscd
    with `vpcd.VpcdCard(card).insert()` / `.remove()` (`madoguchi vcard --person ID`).

    Trust anchors: `load_trust_anchors(*trust_anchor_dirs(config))` (directories of PEM files:
    `[card] trust_anchors` in the configuration, then `<data_dir>/trust-anchors`).
"""

from madoguchi.edge.card.certs import TrustAnchors, load_trust_anchors, trust_anchor_dirs
from madoguchi.edge.card.errors import (
    CardError,
    CardLocked,
    CardRemoved,
    CardTimeout,
    CertificateRejected,
    NotJpkiCard,
    ReaderUnavailable,
    WrongPin,
)
from madoguchi.edge.card.session import CardSession, HolderProof, advice_ja, request_for

__all__ = [
    "CardError", "CardLocked", "CardRemoved", "CardTimeout", "CertificateRejected", "NotJpkiCard",
    "ReaderUnavailable", "WrongPin", "TrustAnchors", "load_trust_anchors", "trust_anchor_dirs",
    "CardSession", "HolderProof", "advice_ja", "request_for",
]
