"""`madoguchi demo`: the desk on a temporary synthetic world, driven by the F9 menu.

Everything is in-process: the national-system stand-in (edge.national) is the online source
and can be cut and restored. The guide on the idle screen walks a newcomer through every flow.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from madoguchi.edge.config import Policy
from madoguchi.sim.demo import DEMO_PIN, DemoCards, DemoWorld, build_world, jahis_prescription, my_number_code
from madoguchi.tui import messages
from madoguchi.tui.app import DemoControls, DeskApp
from madoguchi.tui.cards import CardPort
from madoguchi.tui.run import exit_status, log_to_file
from madoguchi.tui.service import DeskService
from textual import events

STAFF_PIN = "9999"
NOTICE_URL = "https://myna.go.jp/"  # what the お知らせ's QR holds: a link, no personal data


GUIDE_JA = [
    "デモの手順（F9 でデモ操作のメニュー、数字で選択）",
    f"1 F9 1 有効な人のカード、暗証番号 {DEMO_PIN} で確認OK",
    "2 F9 1 もう一度、違う暗証番号でエラー（置き直すと3回に戻ります）",
    "3 F9 2 資格喪失の人のカードで資格なし",
    "4 F9 7 でネットワークを切り、F9 3 古い情報の人で要確認",
    "5 F9 8 処方箋QRを読み取り、F10 で確認",
    "6 F5 申立：F8 で見本を入力して F10",
    "7 F9 7 でネットワークを戻し、F6 要対応",
    "ほかに F9 4 表示できない氏名、5 ロック、9 カード裏面QR、0 お知らせのQR",
    f"F2 番号入力　F4 目視確認　F7 本日の記録　終了は F12 保守PIN {STAFF_PIN}",
]


def demo_controls(world: DemoWorld, cards: DemoCards, app_ref: Callable[[], DeskApp]) -> DemoControls:
    national = world.national

    def toggle_network() -> str:
        app = app_ref()
        if national.is_cut:
            national.restore()
            followups = app.service.reconcile()
            app.post_message(messages.NetworkChanged(True))
            return f"ネットワークを戻しました。要対応 {followups}件" if followups else "ネットワークを戻しました"
        national.cut()
        app.post_message(messages.NetworkChanged(False))
        return "ネットワークを切りました（オフライン）"

    def wedge_scan(payload: bytes) -> Callable[[], str]:
        """Type the code as a keyboard-wedge scanner does (a burst of keys, Enter between lines
        and at the end), on the 書類・QR screen: the same path as a real scanner's keys."""
        text = payload.decode("cp932")
        keys = [events.Key("enter", "\r") if char == "\r" else events.Key(char, char)
                for char in "\r".join(text.splitlines()) + "\r"]

        def run() -> str:
            app = app_ref()
            app.call_from_thread(app.action_documents)
            for key in keys:
                app.post_message(key)
            return ""
        return run

    def sample_declaration() -> dict[str, str]:
        person = world.samples["elderly_70_74"]
        sex = next(r["sex"] for r in world.records if r["person_id"] == person["person_id"])
        return {"card": "yes", "name": person["name"], "kana": person["name_kana"], "birth": person["birth_date"],
                "address": "東京都新宿区見本1丁目1番1号", "workplace": "", "insurer": "", "phone": "03-0000-0000",
                "card_name": person["name"], "card_birth": person["birth_date"], "card_sex": str(sex),
                "card_address": "東京都新宿区見本1丁目1番1号"}

    def insert(kind: str, locked: bool = False) -> Callable[[], str]:
        def run() -> str:
            cards.insert(kind, locked)
            return ""
        return run

    def remove() -> str:
        if cards.reader.card is None:
            return "リーダーにカードはありません"
        cards.reader.remove()
        return "カードを取り出しました"

    actions: list[tuple[str, str, Callable[[], str]]] = [
        ("card_valid", "カードを置く：有効な人", insert("valid")),
        ("card_lost", "カードを置く：資格喪失の人", insert("lost")),
        ("card_stale", "カードを置く：古い情報の人（オフラインで要確認）", insert("stale")),
        ("card_masked", "カードを置く：氏名に表示できない文字がある人", insert("masked_name")),
        ("card_locked", "カードを置く：暗証番号がロックされたカード", insert("family_member", locked=True)),
        ("card_remove", "カードを取り出す", remove),
        ("network", "ネットワークを切る／戻す", toggle_network),
        ("scan_prescription", "処方箋QRを読み取る（見本、キーボード入力のスキャナ）",
         wedge_scan(jahis_prescription(world.samples["valid"]))),
        ("scan_my_number", "カード裏面のQR（マイナンバー）を読み取る", wedge_scan(my_number_code())),
        ("scan_notice", "資格情報のお知らせのQRを読み取る", wedge_scan(NOTICE_URL.encode())),
        ("card_welfare", "カードを置く：生活保護（医療扶助）の76歳の人", insert("welfare_75")),
    ]
    return DemoControls(world, cards, actions, network_online=lambda: not national.is_cut,
                        sample_declaration=sample_declaration, guide_ja=GUIDE_JA)


def demo_app(data_dir: Path, *, patients: int = 1000, seed: int = 1,
             clock: Callable[[], datetime] | None = None, policy: Policy = Policy()) -> DeskApp:
    world = build_world(data_dir, patients, seed, clock, policy)
    service = DeskService(world.conn, policy, world.national.online_source(), clock=world.clock,
                          reconciler=world.hub.reconcile)
    cards = DemoCards(world)
    port = CardPort(cards.reader.open, lambda on_insert, on_remove: cards.reader.monitor(on_insert, on_remove).start(),
                    cards.anchors)
    made: list[DeskApp] = []  # the demo's actions reach the app made after them
    controls = demo_controls(world, cards, lambda: made[0])
    app = DeskApp(service, staff_pin=STAFF_PIN, demo=controls, card_port=port)
    made.append(app)
    return app


def run_demo_desk(patients: int = 1000, seed: int = 1) -> int:
    with tempfile.TemporaryDirectory(prefix="madoguchi-demo-") as tmp:
        log_to_file(Path(tmp) / "desk.log")
        app = demo_app(Path(tmp) / "data", patients=patients, seed=seed)
        app.run()
        return exit_status(app)
