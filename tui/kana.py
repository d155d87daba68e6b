"""Romaji to katakana, typed inside the app: the kiosk (cage + foot) has no input method."""

from __future__ import annotations

_TABLE = {
    "kya": "キャ", "kyu": "キュ", "kyo": "キョ", "sha": "シャ", "shu": "シュ", "sho": "ショ", "shi": "シ",
    "sya": "シャ", "syu": "シュ", "syo": "ショ", "cha": "チャ", "chu": "チュ", "cho": "チョ", "chi": "チ",
    "tya": "チャ", "tyu": "チュ", "tyo": "チョ", "tsu": "ツ", "nya": "ニャ", "nyu": "ニュ", "nyo": "ニョ",
    "hya": "ヒャ", "hyu": "ヒュ", "hyo": "ヒョ", "mya": "ミャ", "myu": "ミュ", "myo": "ミョ", "rya": "リャ",
    "ryu": "リュ", "ryo": "リョ", "gya": "ギャ", "gyu": "ギュ", "gyo": "ギョ", "ja": "ジャ", "ju": "ジュ",
    "jo": "ジョ", "ji": "ジ", "jya": "ジャ", "jyu": "ジュ", "jyo": "ジョ", "bya": "ビャ", "byu": "ビュ",
    "byo": "ビョ", "pya": "ピャ", "pyu": "ピュ", "pyo": "ピョ", "fu": "フ", "tu": "ツ", "ti": "チ", "si": "シ",
    "zi": "ジ", "di": "ヂ", "du": "ヅ", "nn": "ン", "n'": "ン", "-": "ー",
    "a": "ア", "i": "イ", "u": "ウ", "e": "エ", "o": "オ",
}
for _consonant, _row in {
    "k": "カキクケコ", "s": "サシスセソ", "t": "タチツテト", "n": "ナニヌネノ", "h": "ハヒフヘホ",
    "m": "マミムメモ", "y": "ヤイユエヨ", "r": "ラリルレロ", "w": "ワヰウヱヲ", "g": "ガギグゲゴ",
    "z": "ザジズゼゾ", "d": "ダヂヅデド", "b": "バビブベボ", "p": "パピプペポ",
}.items():
    for _vowel, _kana in zip("aiueo", _row, strict=True):
        _TABLE.setdefault(_consonant + _vowel, _kana)
_VOWELS = set("aiueo")


def romaji_to_katakana(text: str) -> str:
    """"satou tarou" becomes "サトウ タロウ"; what is not romaji (kana, kanji, digits) passes through.

    A doubled consonant is ッ ("kk" is ッk), "n" before a consonant or at the end is ン.
    """
    out: list[str] = []
    s = text.lower()
    i = 0
    while i < len(s):
        for size in (3, 2, 1):
            chunk = s[i:i + size]
            if chunk in _TABLE:
                out.append(_TABLE[chunk])
                i += size
                break
        else:
            ch = s[i]
            nxt = s[i + 1] if i + 1 < len(s) else ""
            if ch == "n" and nxt not in _VOWELS and nxt != "y":
                out.append("ン")
            elif ch.isascii() and ch.isalpha() and ch == nxt:
                out.append("ッ")
            else:
                out.append(text[i])
            i += 1
    return "".join(out)
