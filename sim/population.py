"""A deterministic synthetic population for demos, tests, benchmarks and the simulator.

Households insured by 協会けんぽ, 組合, 共済, 国保 or 後期高齢者医療, with valid check digits,
people on 医療扶助 (生活保護: no insurance, a 公費負担者番号 and 受給者番号 from their 福祉事務所),
families with 枝番, ages 0–100 with the right copay, job changes whose new record reaches the
national system days later, losses, 不開示 people, and names with rare characters (some shown
as ● by the national system). Nothing here is a real person.

Each generated dict is a qualification record in JSON form (see `QualificationRecord`) plus:
``person_id`` (the same for every record of one person) and ``registered_on`` (the day the
national system learnt of the record: before that day it answers as if it did not exist).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import islice

from madoguchi.edge import store
from madoguchi.edge.config import JST
from madoguchi.edge.model import WELFARE_CARD, copay_by_age, elderly_from, is_preschool, kouki_from
from madoguchi.edge.numbers import InputError, check_digit

SURNAMES = [
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"), ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"),
    ("吉田", "ヨシダ"), ("山田", "ヤマダ"), ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"),
    ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"),
    ("石川", "イシカワ"), ("前田", "マエダ"), ("藤田", "フジタ"), ("小川", "オガワ"), ("岡田", "オカダ"),
]
RARE_SURNAMES = [
    ("髙橋", "タカハシ"), ("𠮷田", "ヨシダ"), ("齋藤", "サイトウ"), ("邉見", "ヘンミ"), ("﨑山", "サキヤマ"),
    ("濵田", "ハマダ"), ("德永", "トクナガ"),
]
# As the national system shows characters it cannot represent.
MASKED_SURNAMES = [("渡●", "ワタナベ"), ("●田", "ヨシダ"), ("髙●", "タカハシ")]
MALE_NAMES = [
    ("翔太", "ショウタ"), ("大輔", "ダイスケ"), ("健一", "ケンイチ"), ("拓也", "タクヤ"), ("誠", "マコト"),
    ("浩二", "コウジ"), ("蓮", "レン"), ("悠真", "ユウマ"), ("湊", "ミナト"), ("茂", "シゲル"),
    ("勇", "イサム"), ("隆", "タカシ"), ("和夫", "カズオ"), ("大和", "ヤマト"), ("陽翔", "ハルト"),
]
FEMALE_NAMES = [
    ("陽子", "ヨウコ"), ("美咲", "ミサキ"), ("直美", "ナオミ"), ("由美", "ユミ"), ("恵子", "ケイコ"),
    ("結衣", "ユイ"), ("さくら", "サクラ"), ("陽菜", "ヒナ"), ("花子", "ハナコ"), ("和子", "カズコ"),
    ("幸子", "サチコ"), ("久美子", "クミコ"), ("芽依", "メイ"), ("凛", "リン"), ("葵", "アオイ"),
]
PREFECTURES = {"13": "東京都", "14": "神奈川県", "11": "埼玉県", "12": "千葉県", "27": "大阪府", "23": "愛知県"}
CITIES = {
    "13": ["新宿区", "練馬区", "世田谷区", "八王子市"], "14": ["横浜市", "川崎市"], "11": ["さいたま市", "川口市"],
    "12": ["千葉市", "船橋市"], "27": ["大阪市", "堺市"], "23": ["名古屋市", "豊田市"],
}
COMPANIES = ["東都電機", "関東物産", "日本精工機", "みなと製薬", "さくら銀行", "大和運輸", "青葉食品", "光学工業"]


def insurer(houbetsu: str, prefecture: str, local: str) -> str:
    body = f"{houbetsu}{prefecture}{local}"
    return body + check_digit(body)


def insurer_master() -> dict[str, str]:
    """Every insurer the population uses: number → name (the hub's insurer master)."""
    master: dict[str, str] = {}
    for pref, pname in PREFECTURES.items():
        master[insurer("01", pref, "001")] = f"全国健康保険協会 {pname}支部"
        master[insurer("39", pref, "001")] = f"{pname}後期高齢者医療広域連合"
        for i, city in enumerate(CITIES[pref]):
            master[insurer("", pref, f"{i + 1:03d}")] = f"{city}国民健康保険"
    for i, company in enumerate(COMPANIES):
        pref = list(PREFECTURES)[i % len(PREFECTURES)]
        master[insurer("06", pref, f"{100 + i:03d}")] = f"{company}健康保険組合"
    for i, hb in enumerate(("31", "32", "33", "34")):
        master[insurer(hb, "13", f"{200 + i:03d}")] = f"{('国家公務員', '地方職員', '警察', '私立学校')[i]}共済組合"
    return master


@dataclass
class _Insurer:
    number: str
    name: str
    kind: str  # kyokai, kumiai, kyosai, kokuho, kouki


def _newer_fields(rec: dict, since: date, today: date) -> None:
    """Fields of newer terminal answers (docs/domain.md §5, §10), derived from the record id so
    that the random stream (and every seeded population) stays as it was; set only when not empty."""
    year = today.year if today >= date(today.year, 8, 1) else today.year - 1
    if rec["limit_class"]:
        rec["limit_certificate"] = "02" if rec["limit_class"] in ("B05", "B06") else "01"
        rec["limit_valid_from"] = max(date(year, 8, 1), since).isoformat()
        rec["limit_valid_until"] = date(year + 1, 7, 31).isoformat()
    if rec["specific_diseases"]:
        rec["specific_disease_certificates"] = [
            {"disease": name, "valid_from": since.isoformat(), "self_pay_yen": 10000}
            for name in rec["specific_diseases"]]
    choice = rec["record_id"] % 4  # 処方箋発行形態 as chosen on the reader; none for half
    if choice < 2:
        rec["prescription_issue"] = "1" if choice == 0 else "2"
        rec["consent_limit"] = "1" if rec["limit_class"] or rec["record_id"] % 3 else "0"
        rec["consent_medication"] = "1" if rec["record_id"] % 5 else "0"


def _welfare(rec: dict, pref: str) -> None:
    """Make a record 医療扶助: a recipient of 生活保護 leaves 国保 and 後期高齢者医療, so the
    record holds the 福祉事務所's 公費負担者番号 (法別 12) and the person's 受給者番号 instead
    (docs/domain.md §10). Derived from the ids: the random stream stays as it was."""
    index = rec["person_id"] % len(CITIES[pref])
    payer = insurer("12", pref, f"{index + 1:03d}")
    body = f"{rec['person_id'] % 1000000:06d}"
    office = f"{CITIES[pref][index]}福祉事務所"
    for key in ("limit_certificate", "limit_valid_from", "limit_valid_until", "specific_disease_certificates",
                "consent_limit"):
        rec.pop(key, None)
    rec.update(insurer_number=payer, insurer_name=office, symbol="", number=body + check_digit(body), branch="",
               personal_family=1, card_classification=WELFARE_CARD, copay_percent=None, elderly_copay_percent=None,
               elderly_valid_from=None, elderly_valid_until=None, limit_class="", specific_diseases=[],
               welfare_office=office, public_funds=[{"payer_number": payer, "recipient_number": body + check_digit(body),
                                                     "source": "terminal"}],
               validity=6 if rec["person_id"] % 3 == 0 else 1)


class _Generator:
    def __init__(self, seed: int, today: date, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.today = today
        self.now = now
        self.record_id = 0
        self.person_id = 0
        master = insurer_master()
        self.by_kind: dict[str, list[_Insurer]] = {}
        for number, name in master.items():
            kind = ("kokuho" if len(number) == 6 else
                    {"01": "kyokai", "06": "kumiai", "39": "kouki"}.get(number[:2], "kyosai"))
            self.by_kind.setdefault(kind, []).append(_Insurer(number, name, kind))
        self.serial = 0
        self._family_numbers: tuple[str, str] = ("", "")  # the 記号・番号 a family shares

    # -- people --
    def birth(self, age_low: int, age_high: int) -> date:
        days = self.rng.randint(age_low * 365, age_high * 365 + 364)
        return self.today - timedelta(days=days)

    def name(self, sex: int, surname: tuple[str, str]) -> tuple[str, str]:
        given = self.rng.choice(MALE_NAMES if sex == 1 else FEMALE_NAMES)
        return f"{surname[0]}　{given[0]}", f"{surname[1]}　{given[1]}"

    def surname(self) -> tuple[str, str]:
        roll = self.rng.random()
        if roll < 0.01:
            return self.rng.choice(MASKED_SURNAMES)
        if roll < 0.04:
            return self.rng.choice(RARE_SURNAMES)
        return self.rng.choice(SURNAMES)

    def address(self, pref: str) -> tuple[str, str]:
        city = self.rng.choice(CITIES[pref])
        return (f"{PREFECTURES[pref]}{city}{self.rng.randint(1, 9)}丁目{self.rng.randint(1, 30)}番{self.rng.randint(1, 20)}号",
                f"{self.rng.randint(100, 999)}-{self.rng.randint(0, 9999):04d}")

    # -- insurance --
    def pick_insurer(self, head_age: int) -> _Insurer:
        if head_age >= 75:
            return self.rng.choice(self.by_kind["kouki"])
        roll = self.rng.random()
        if head_age >= 65 or roll < 0.17:
            kind = "kokuho"
        elif roll < 0.62:
            kind = "kyokai"
        elif roll < 0.90:
            kind = "kumiai"
        else:
            kind = "kyosai"
        return self.rng.choice(self.by_kind[kind])

    def numbers(self, ins: _Insurer) -> tuple[str, str]:
        """(記号, 番号) in the shape each kind of insurer prints."""
        self.serial += 1
        r = self.rng
        if ins.kind == "kouki":
            return "", f"{r.randint(10, 99)}{self.serial % 1000000:06d}"
        if ins.kind == "kyokai":
            return f"{r.randint(1000000, 9999999)}", str(r.randint(1, 99999))
        if ins.kind == "kumiai":
            return str(r.randint(1, 99)), f"{self.serial % 100000:05d}"
        if ins.kind == "kyosai":
            return f"{r.randint(10, 99)}-{r.randint(100, 999)}".replace("-", ""), str(self.serial % 1000000)
        prefix = r.choice(("", "", "国", "あ"))
        return f"{prefix}{r.randint(1, 999):03d}", f"{self.serial % 10000000:07d}"

    # -- records --
    def record(self, person: dict, ins: _Insurer, symbol: str, number: str, branch: str,
               family: int, since: date) -> dict:
        self.record_id += 1
        birth = person["birth"]
        income = person["income"]
        rec = {
            "record_id": self.record_id,
            "person_id": person["person_id"],
            "insurer_number": ins.number,
            "insurer_name": ins.name,
            "symbol": symbol,
            "number": number,
            "branch": branch,
            "personal_family": family,
            "name": person["name"],
            "name_kana": person["name_kana"],
            "name_other": "",
            "sex": person["sex"],
            "birth_date": birth.isoformat(),
            "address": None if person["nondisclosure"] else person["address"],
            "post_number": None if person["nondisclosure"] else person["post"],
            "qualification_date": since.isoformat(),
            "disqualification_date": None,
            "loss_reason": "",
            "card_classification": "01",
            "valid_from": since.isoformat(),
            "valid_until": None,
            "copay_percent": copay_by_age(birth, self.today, income),
            "preschool": is_preschool(birth, self.today),
            "elderly_copay_percent": None,
            "elderly_valid_from": None,
            "elderly_valid_until": None,
            "limit_class": "",
            "specific_diseases": [],
            "nondisclosure": person["nondisclosure"],
            "validity": 1,
            "patient_id": person["patient_id"],
            "card_link": "",
            "as_of": person["as_of"],
            "registered_on": (since + timedelta(days=self.rng.randint(0, 3))).isoformat(),
        }
        if self.today >= elderly_from(birth) and self.today < kouki_from(birth):
            year = self.today.year if self.today >= date(self.today.year, 8, 1) else self.today.year - 1
            rec["elderly_copay_percent"] = rec["copay_percent"]
            rec["elderly_valid_from"] = max(date(year, 8, 1), elderly_from(birth)).isoformat()
            rec["elderly_valid_until"] = date(year + 1, 7, 31).isoformat()
        roll = self.rng.random()
        if roll < 0.03:
            rec["limit_class"] = self.rng.choice(("A03", "A04", "B04", "B05"))
        elif roll < 0.04:
            rec["specific_diseases"] = [self.rng.choice(("人工透析を要する慢性腎不全", "血友病"))]
        _newer_fields(rec, since, self.today)
        return rec

    def person(self, sex: int, birth: date, surname: tuple[str, str], pref: str, income: str | None) -> dict:
        self.person_id += 1
        name, kana = self.name(sex, surname)
        address, post = self.address(pref)
        # Most patients were confirmed recently (nightly pre-check); some not for weeks.
        stale = self.rng.random() < 0.03
        hours = self.rng.uniform(24 * 5, 24 * 40) if stale else self.rng.uniform(0, 20)
        return {
            "person_id": self.person_id, "patient_id": f"{self.person_id:08d}", "sex": sex, "birth": birth,
            "name": name, "name_kana": kana, "address": address, "post": post, "income": income,
            "nondisclosure": self.rng.random() < 0.005,
            "as_of": (self.now - timedelta(hours=hours)).isoformat(timespec="seconds"),
        }

    def household(self) -> Iterator[dict]:
        r = self.rng
        head_age = min(int(r.triangular(18, 100, 45)), 100)
        pref = r.choice(list(PREFECTURES))
        surname = self.surname()
        income = r.choices(("general", "certain", "active"), (0.8, 0.1, 0.1))[0]
        head = self.person(r.choice((1, 2)), self.birth(head_age, head_age), surname, pref, income)
        members = [(head, 1)]
        if head_age < 75:
            if r.random() < 0.55:
                spouse_age = max(18, min(74, head_age + r.randint(-5, 5)))
                members.append((self.person(3 - head["sex"], self.birth(spouse_age, spouse_age), surname, pref,
                                            income), 2))
            if 22 <= head_age <= 60:
                for _ in range(r.choice((0, 0, 1, 1, 2, 3))):
                    child_age = r.randint(0, min(22, head_age - 20))
                    members.append((self.person(r.choice((1, 2)), self.birth(child_age, child_age), surname, pref,
                                                None), 2))
        ins = self.pick_insurer(head_age)
        symbol, number = self.numbers(ins)
        since = self.today - timedelta(days=r.randint(30, 365 * 15))
        event = r.random()
        # One person in eleven living alone under 国保 or 後期高齢者医療 is on 生活保護.
        welfare = len(members) == 1 and ins.kind in ("kokuho", "kouki") and event >= 0.07 and head["person_id"] % 11 == 0
        for index, (person, family) in enumerate(members):
            branch = f"{index:02d}"
            if ins.kind == "kouki":
                rec = self.record(person, ins, "", self.numbers(ins)[1], "", 1, since)
                if welfare:
                    _welfare(rec, pref)
                yield rec
                continue
            if ins.kind == "kokuho":
                family = 1 if index == 0 else 2
            for rec in self.events(person, ins, symbol, number, branch, family, since, event, head_age):
                if welfare:
                    _welfare(rec, pref)
                yield rec

    def events(self, person, ins, symbol, number, branch, family, since, event, head_age) -> Iterator[dict]:
        rec = self.record(person, ins, symbol, number, branch, family, since)
        if event < 0.05 and head_age < 65:
            # Job change: the old record is lost; the new one reaches the system days later.
            lost = self.today - timedelta(days=self.rng.randint(1, 40))
            rec["disqualification_date"] = lost.isoformat()
            rec["loss_reason"] = "退職"
            rec["validity"] = 2
            yield rec
            new_ins = self.rng.choice(self.by_kind["kyokai"] + self.by_kind["kumiai"])
            new_symbol, new_number = self.numbers(new_ins) if branch == "00" else self._family_numbers
            if branch == "00":
                self._family_numbers = (new_symbol, new_number)
            new = self.record(person, new_ins, new_symbol, new_number, branch, family, lost)
            new["registered_on"] = (lost + timedelta(days=self.rng.randint(3, 20))).isoformat()
            yield new
        elif event < 0.07:
            lost = self.today - timedelta(days=self.rng.randint(1, 200))
            rec["disqualification_date"] = lost.isoformat()
            rec["loss_reason"] = self.rng.choice(("退職", "転出", "死亡"))
            rec["validity"] = 2
            yield rec
        else:
            yield rec


def generate(patients: int, seed: int, today: date | None = None, now: datetime | None = None) -> Iterator[dict]:
    """Yield records for about `patients` people (whole households; stops at `patients`)."""
    now = now or datetime.now(JST)
    today = today or now.astimezone(JST).date()
    gen = _Generator(seed, today, now.astimezone(JST) if now.tzinfo else now.replace(tzinfo=JST))
    while gen.person_id < patients:
        for rec in gen.household():
            if rec["person_id"] > patients:
                return
            yield rec


def known_on(records: Iterable[dict], day: date) -> Iterator[dict]:
    """Records the national system knows on `day` (what a sync would bring)."""
    iso = day.isoformat()
    for rec in records:
        if rec["registered_on"] <= iso:
            yield rec


def default_now(today: date) -> datetime:
    return datetime.combine(today, time(9, 0), JST)


SAMPLE_KINDS = ("valid", "family_member", "lost", "job_change_pending", "nondisclosure", "masked_name",
                "preschool", "elderly_70_74", "kouki", "welfare", "welfare_75", "stale", "not_found")


def check_options(found: dict[str, dict], kind: str) -> str:
    """`madoguchi check` options for the sample person `kind` (for `$(...)` in a shell)."""
    if kind not in found:
        raise InputError(f"no sample person of kind {kind!r}: one of {', '.join(found)}")
    rec = found[kind]
    if rec["insurer_number"].startswith("12"):  # 医療扶助: the 医療券's numbers
        return f"--public-fund {rec['insurer_number']}:{rec['number']} --birth {rec['birth_date']}"
    options = f"--insurer {rec['insurer_number']} --symbol {rec['symbol']} --number {rec['number']}"
    options += f" --branch {rec['branch']}" if rec["branch"] else ""
    return options + f" --birth {rec['birth_date']}"


def samples(patients: int, seed: int, today: date, now: datetime) -> dict[str, dict]:
    """One person of each interesting kind, for demos and tests (regenerates the start of the
    population until each kind is found). `not_found` has valid numbers nobody holds."""
    found: dict[str, dict] = {}
    records = list(islice(generate(patients, seed, today, now), 20000))
    by_person: dict[int, list[dict]] = {}
    for rec in records:
        by_person.setdefault(rec["person_id"], []).append(rec)
    iso = today.isoformat()
    stale_before = (now - timedelta(hours=72)).isoformat()
    for recs in by_person.values():
        known = [r for r in recs if r["registered_on"] <= iso]
        if not known:
            continue
        rec = known[0]
        lost = rec["disqualification_date"] is not None
        pending = any(r["registered_on"] > iso for r in recs)
        checks = {
            "valid": not lost and not pending and rec["branch"] == "00" and rec["as_of"] > stale_before
            and not rec["nondisclosure"] and "●" not in rec["name"],
            "family_member": not lost and rec["personal_family"] == 2 and rec["as_of"] > stale_before,
            "lost": lost and len(known) == 1 and not pending,
            "job_change_pending": lost and pending,
            "nondisclosure": rec["nondisclosure"] and not lost,
            "masked_name": "●" in rec["name"] and not lost,
            "preschool": rec["preschool"] and not lost,
            "elderly_70_74": rec["elderly_copay_percent"] is not None and not lost,
            "kouki": rec["insurer_number"].startswith("39") and rec["copay_percent"] == 10 and not lost,
            "welfare": rec["card_classification"] == WELFARE_CARD and rec["validity"] == 1 and rec["as_of"] > stale_before,
            "welfare_75": rec["card_classification"] == WELFARE_CARD and rec["validity"] == 1
            and rec["as_of"] > stale_before and today >= kouki_from(date.fromisoformat(rec["birth_date"])),
            "stale": rec["as_of"] < stale_before and not lost,
        }
        for kind, hit in checks.items():
            if hit and kind not in found:
                found[kind] = {k: rec[k] for k in ("person_id", "patient_id", "name", "name_kana", "insurer_number",
                                                   "symbol", "number", "branch", "birth_date")}
    if "valid" in found:
        found["not_found"] = {**found["valid"], "person_id": None, "patient_id": "", "name": "（該当者なし）",
                              "name_kana": "", "number": "99999999"}
    return {kind: found[kind] for kind in SAMPLE_KINDS if kind in found}


def load_population(conn, records: Iterable[dict], today: date, now: datetime, data_version: int = 1) -> int:
    """Load what the national system knows today into the cache, in one transaction."""
    rows = (store.record_row(r) for r in known_on(records, today))
    with store.transaction(conn):
        count = store.replace_all_records(conn, rows)
        store.put_rows(conn, "insurer", insurer_master().items())
        if not store.get_meta(conn, "link_key"):
            store.set_meta(conn, "link_key", secrets.token_hex(32))
        store.set_sync_state(conn, data_version, now)
    store.checkpoint(conn)
    return count
