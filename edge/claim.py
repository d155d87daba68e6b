"""What the レセコン claims for a 申立 (docs/domain.md §3; MHLW 事務連絡 2023-07-19).

In order: the new numbers the re-check found or the patient reported; else the old (旧資格)
numbers staff decided on; else a claim with the numbers unknown (不詳): the insurer and insured
number fields filled with "7" to their width, and the 申立書's address and contact in 摘要.

The widths, explicitly: 保険者番号 is the claim's 8-digit field ("77777777"; a 6-digit 国保
number is written in the same field). For a レセコン that refuses a number failing the check
digit, the 2023-09-15 revision of the 事務連絡 gives "77777779" (reported by shaho.co.jp).
被保険者証等の記号 and 番号 are variable-length text fields in the claim (up to 38 bytes each):
we fill each with eight "7" (the width of the one fixed-width insured number, 後期高齢者's
被保険者番号); 枝番 stays empty. Confirm with your レセコン's vendor before the first claim.
"""

from __future__ import annotations

from dataclasses import dataclass

from madoguchi.edge.verdict import Declaration

UNKNOWN_INSURER = "77777777"
UNKNOWN_INSURER_CHECK_DIGIT = "77777779"
UNKNOWN_SYMBOL = "77777777"
UNKNOWN_NUMBER = "77777777"


@dataclass(frozen=True)
class Claim:
    basis: str  # new_numbers | old_numbers | unknown (不詳)
    insurer_number: str
    symbol: str
    number: str
    branch: str
    remarks_ja: str  # 摘要: only for a claim with the numbers unknown


def remarks_ja(form: Declaration) -> str:
    """摘要 of a 不詳 claim: what the 申立書 says about where to reach the patient."""
    parts = ["被保険者資格申立書による請求（保険者番号等不詳）",
             f"住所：{form.address or form.card_address or '記載なし'}",
             f"連絡先：{form.phone or '記載なし'}"]
    if form.workplace:
        parts.append(f"勤務先：{form.workplace}")
    if form.insurer:
        parts.append(f"保険者（申立）：{form.insurer}")
    return "　".join(parts)


def claim_for(state: str, form: Declaration, insurer_number: str | None, symbol: str | None, number: str | None,
              branch: str | None) -> Claim:
    """The claim of a 申立 in `state` (edge/store/declarations.py states), with the numbers it
    was resolved to, if any. Open and unresolved ones are claimed 不詳."""
    if state in ("resolved_new", "resolved_old") and insurer_number and number:
        return Claim("new_numbers" if state == "resolved_new" else "old_numbers", insurer_number, symbol or "",
                     number, branch or "", "")
    return Claim("unknown", UNKNOWN_INSURER, UNKNOWN_SYMBOL, UNKNOWN_NUMBER, "", remarks_ja(form))
