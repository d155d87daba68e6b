"""What can go wrong with a card, each with the message the desk shows (Japanese)."""

from __future__ import annotations


class CardError(Exception):
    """A card problem the desk can recover from; `message_ja` is shown on the screen."""

    message_ja = "カードを読み取れませんでした。もう一度カードを置いてください"

    def __init__(self, message: str = "", message_ja: str | None = None) -> None:
        super().__init__(message or self.__class__.__name__)
        if message_ja is not None:
            self.message_ja = message_ja


class ReaderUnavailable(CardError):
    message_ja = "カードリーダーが見つかりません。接続を確認してください"


class CardRemoved(CardError):
    message_ja = "カードが外されました。もう一度カードを置いてください"


class CardTimeout(CardError):
    message_ja = "カードが応答しません。カードを置き直してください"


class NotJpkiCard(CardError):
    message_ja = "マイナンバーカードとして読み取れませんでした。カードの向きと種類を確認してください"


class CertificateRejected(CardError):
    message_ja = "カードの電子証明書を確認できませんでした。資格確認書などで受け付けてください"


class CardLocked(CardError):
    message_ja = ("暗証番号がロックされています。市区町村窓口でロック解除の手続きをするようお伝えください。"
                  "今回は目視確認か、資格確認書などで受け付けてください")


class WrongPin(CardError):
    def __init__(self, tries_left: int) -> None:
        self.tries_left = tries_left
        ja = f"暗証番号が違います（残り{tries_left}回）"
        if tries_left == 1:
            ja += "。あと1回間違えるとロックされます。目視確認か資格確認書などでの受付をおすすめします"
        super().__init__(f"wrong PIN: {tries_left} tries left", ja)
