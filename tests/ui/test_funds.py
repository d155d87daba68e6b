"""公費 and 医療扶助 at the desk (Pilot, the demo world): typed funds checked as they are typed,
the verdict showing each fund and the charge (issue 14)."""

from __future__ import annotations

import pytest
from madoguchi.edge.numbers import check_digit
from madoguchi.edge.verdict import Outcome
from madoguchi.tui import messages
from madoguchi.tui.screens.numbers import NumbersScreen
from madoguchi.tui.screens.result import ResultScreen
from textual.widgets import Input, Label, Static

from tests.ui.conftest import SIZE, answer_consent, plain, settle
from tests.ui.test_flows import person, type_numbers

pytestmark = pytest.mark.asyncio

RECIPIENT = "765432" + check_digit("765432")
NANBYOU = "5413201" + check_digit("5413201")


async def type_fund(pilot, app, row: int, payer: str, recipient: str = "", cap: str = "") -> None:
    for part, value in (("payer", payer), ("recipient", recipient), ("cap", cap)):
        app.screen.query_one(f"#fund{row}-{part}", Input).value = value
    await pilot.pause()


def details(app) -> str:
    return plain(app.screen.query_one("#verdict-details Static", Static))


async def test_a_welfare_patient_from_the_medical_ticket_pays_nothing(desk, collected):
    p = person(desk, "welfare_75")
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await pilot.press("f2")
        await type_fund(pilot, desk, 1, p["insurer_number"], p["number"])
        assert str(desk.screen.query_one("#fund1-message", Label).content) == "OK 生活保護（医療扶助）"
        desk.screen.query_one("#birth", Input).value = p["birth_date"]
        await pilot.press("f10")
        await answer_consent(pilot, desk, "1", "1")
        verdict = collected.of(messages.VerdictReady)[-1].result.verdict
        assert verdict.outcome == Outcome.OK and verdict.copay_percent is None and verdict.charge.percent == 0
        assert isinstance(desk.screen, ResultScreen)
        assert "医療扶助（生活保護）です。窓口負担なし" in str(desk.screen.query_one("#verdict-headline", Static).content)
        shown = details(desk)
        assert "窓口負担なし" in shown and "福祉事務所" in shown and "負担割合" not in shown  # not 1割 at 76


async def test_a_nanbyou_patient_with_the_cap_typed(desk, collected):
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await type_numbers(pilot, desk, person(desk, "valid"))
        await type_fund(pilot, desk, 1, NANBYOU, RECIPIENT, "5000")
        assert desk.screen.query_one("#row-fund2").display  # room for the next fund
        await pilot.press("f10")
        await answer_consent(pilot, desk, "1", "1")
        charge = collected.of(messages.VerdictReady)[-1].result.verdict.charge
        assert (charge.percent, charge.monthly_cap_yen) == (20, 5000)
        assert "2割（月上限 5,000円" in details(desk) and "3割（保険）" in details(desk)


async def test_a_fund_without_a_rule_is_shown_as_unknown(desk, collected):
    city = "8813202" + check_digit("8813202")
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await type_numbers(pilot, desk, person(desk, "preschool"))
        await type_fund(pilot, desk, 1, city, RECIPIENT)
        await pilot.press("f10")
        await answer_consent(pilot, desk, "1", "1")
        assert not collected.of(messages.VerdictReady)[-1].result.verdict.charge.known
        assert "負担ルール未設定（窓口負担を確認）" in details(desk)


async def test_a_wrong_check_digit_is_named_and_nothing_is_checked(desk, collected):
    wrong = RECIPIENT[:-1] + str((int(RECIPIENT[-1]) + 1) % 10)
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        await type_numbers(pilot, desk, person(desk, "valid"))
        await type_fund(pilot, desk, 1, NANBYOU, wrong)
        message = str(desk.screen.query_one("#fund1-message", Label).content)
        assert message.startswith("公費受給者番号の最後の桁（検証番号）が合いません")
        await pilot.press("f10")
        await settle(pilot, desk)
        assert isinstance(desk.screen, NumbersScreen) and not collected.of(messages.VerdictReady)
        assert desk.screen.focused is desk.screen.query_one("#fund1-payer", Input)


async def test_a_welfare_patients_card_gives_medical_aid_not_a_ratio(desk, collected):
    """The demo's card of a 76-year-old on 生活保護 (F9): 医療扶助, nothing to pay, never 1割."""
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        desk.demo.cards.insert("welfare_75")
        await settle(pilot, desk)
        await pilot.press(*"1234")
        await answer_consent(pilot, desk, "1", "1")
        verdict = collected.of(messages.VerdictReady)[-1].result.verdict
        assert verdict.outcome == Outcome.OK and verdict.record.is_welfare
        assert verdict.copay_percent is None and verdict.charge.ja == "窓口負担なし"
        assert "負担割合" not in details(desk)


async def test_funds_added_after_a_card_check_make_the_check_again(desk, collected):
    """The patient shows the マイナ保険証 and a 受給者証: F8 on the verdict adds the fund."""
    nanbyou_cap = "3000"
    async with desk.run_test(size=SIZE, message_hook=collected.append) as pilot:
        desk.demo.cards.insert("valid")
        await settle(pilot, desk)
        await pilot.press(*"1234")
        await answer_consent(pilot, desk, "1", "1")
        first = collected.of(messages.VerdictReady)[-1]
        assert first.result.verdict.charge is None
        await pilot.press("f8")
        await type_fund(pilot, desk, 1, NANBYOU, RECIPIENT, nanbyou_cap)
        await pilot.press("escape")  # back to the verdict, nothing checked
        assert isinstance(desk.screen, ResultScreen) and len(collected.of(messages.VerdictReady)) == 1
        await pilot.press("f8")
        await type_fund(pilot, desk, 1, NANBYOU, RECIPIENT, nanbyou_cap)
        await pilot.press("f10")
        await settle(pilot, desk)
        again = collected.of(messages.VerdictReady)[-1]
        assert again.request.card_link == first.request.card_link and again.result.audit_id > first.result.audit_id
        assert (again.result.verdict.charge.percent, again.result.verdict.charge.monthly_cap_yen) == (20, 3000)
        assert "2割（月上限 3,000円" in details(desk)
