"""`madoguchi check --qr-file` and `madoguchi qr sample` as a real process on a real data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from madoguchi.edge.qr.jahis import build_jahis
from madoguchi.sim.documents import prescription_from_person

MY_NUMBER = "983205673214"


def madoguchi(*args, data_dir=None, check=False):
    env = {**os.environ, "MADOGUCHI_CONFIG": os.devnull}
    env.pop("MADOGUCHI_DATA_DIR", None)
    prefix = ["--data-dir", str(data_dir)] if data_dir else []
    result = subprocess.run([sys.executable, "-m", "madoguchi", *prefix, *args], capture_output=True,
                            text=True, env=env, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    path = tmp_path_factory.mktemp("qr-desk")
    out = madoguchi("population", "--patients", "1000", "--seed", "1", "--json", data_dir=path, check=True)
    return path, json.loads(out.stdout)["samples"]


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def check_qr(data_dir, *files, check=True):
    result = madoguchi("check", "--qr-file", *files, "--json", data_dir=data_dir, check=check)
    return json.loads(result.stdout) if check else result


def test_a_jahis_code_of_every_version_gives_the_verdict(desk, tmp_path):
    path, samples = desk
    prescription = prescription_from_person(samples["valid"])
    for version in range(2, 11):
        verdict = check_qr(path, write(tmp_path / f"v{version}.bin", build_jahis(prescription, version, eof=True)))
        # A prescription finds the patient; it is not a document: the verdict asks for one.
        assert (verdict["verdict"], verdict["reason"], verdict["validity"]) == ("confirm", "document_needed", 1), version
        assert verdict["request"]["document"] == "prescription"
        assert verdict["record"]["patient_id"] == samples["valid"]["patient_id"]


def test_lost_qualification_from_a_prescription_is_ng(desk, tmp_path):
    path, samples = desk
    code = build_jahis(prescription_from_person(samples["lost"]), 10, birth_form="era")
    assert check_qr(path, write(tmp_path / "lost.bin", code))["verdict"] == "ng"


def test_split_symbols_as_files_in_order(desk, tmp_path):
    path, samples = desk
    code = build_jahis(prescription_from_person(samples["family_member"]), 9)
    cut = len(code) // 2 + 1
    files = [write(tmp_path / "a.bin", code[:cut]), write(tmp_path / "b.bin", code[cut:])]
    assert check_qr(path, *files)["reason"] == "document_needed"


def test_parser_warnings_reach_the_verdict(desk, tmp_path):
    path, samples = desk
    person = replace(prescription_from_person(samples["valid"]), name="■村　拓也")
    verdict = check_qr(path, write(tmp_path / "mark.bin", build_jahis(person, 10)))
    assert verdict["reason"] == "document_needed"
    assert any(w["code"] == "input" and "■" in w["ja"] for w in verdict["warnings"])


def test_an_e_prescription_copy_code(desk, tmp_path):
    path, samples = desk
    s = samples["kouki"]
    text = f"{s['insurer_number']},{s['symbol']},{s['number']},{s['branch']},{s['birth_date'].replace('-', '')},1234"
    verdict = check_qr(path, write(tmp_path / "copy.bin", text.encode("utf-8")))
    assert verdict["reason"] == "document_needed" and verdict["record"]["insurer_number"].startswith("39")


def test_sample_images_round_trip_through_the_check(desk, tmp_path):
    path, _ = desk
    out = madoguchi("qr", "sample", "jahis", "--person", "valid", "--split", "3", "--version", "7",
                    "--out", str(tmp_path), "--json", check=True)
    files = json.loads(out.stdout)["files"]
    symbols = sorted(f for f in files if f.endswith(".png") and "sheet" not in f)
    assert len(symbols) == 3 and Path(tmp_path / "jahis7-split3.bin").exists()
    pytest.importorskip("zxingcpp")
    assert check_qr(path, *symbols)["reason"] == "document_needed"
    assert check_qr(path, next(f for f in files if "sheet" in f))["reason"] == "document_needed"


def test_a_my_number_code_is_refused_with_exit_2_and_never_kept(desk, tmp_path):
    path, _ = desk
    before = json.loads(madoguchi("cache", "stats", "--json", data_dir=path, check=True).stdout)["audit_entries"]
    result = check_qr(path, write(tmp_path / "card-back.bin", MY_NUMBER.encode()), check=False)
    assert result.returncode == 2 and "My Number" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert MY_NUMBER not in result.stdout + result.stderr
    after = json.loads(madoguchi("cache", "stats", "--json", data_dir=path, check=True).stdout)["audit_entries"]
    assert after == before
    for stored in path.iterdir():
        if stored.is_file():
            assert MY_NUMBER.encode() not in stored.read_bytes(), stored


@pytest.mark.parametrize("payload, reason", [
    (b"https://myna.go.jp/", "マイナポータル"),
    (b"hello", "読み取れない"),
    (build_jahis(prescription_from_person({"name": "見本", "name_kana": "ミホン", "insurer_number": "01130012",
                                            "symbol": "1", "number": "2", "birth_date": "1980-04-01"}), 10,
                 birth_form="year_month"), "年月のみ"),
])
def test_codes_without_a_patient_exit_2(desk, tmp_path, payload, reason):
    path, _ = desk
    result = check_qr(path, write(tmp_path / "code.bin", payload), check=False)
    assert result.returncode == 2 and reason in result.stderr


def test_a_missing_file_exits_2(desk, tmp_path):
    path, _ = desk
    result = check_qr(path, str(tmp_path / "nothing.bin"), check=False)
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_qr_sample_notice_and_slip(tmp_path):
    out = madoguchi("qr", "sample", "notice", "--out", str(tmp_path), check=True)
    assert Path(out.stdout.strip()).exists()
    out = madoguchi("qr", "sample", "slip", "--check-id", "7", "--out", str(tmp_path), check=True)
    assert out.stdout.strip().endswith("slip-7.png")
    assert madoguchi("qr", "sample", "jahis", "--split", "17", "--out", str(tmp_path)).returncode == 2
    assert madoguchi("qr", "sample", "--help").returncode == 0
