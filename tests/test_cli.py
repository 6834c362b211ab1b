"""The command line: validate, simulate, and the JSON convention."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import alliance
from alliance.cli import main

BAD = Path(__file__).parent / "data" / "bad"
ROOT = Path(__file__).resolve().parents[1]


def test_validate_shipped_data_exits_zero(capsys):
    assert main(["validate", str(alliance.example_path())]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "patients: 117" in out


def test_validate_json(capsys):
    assert main(["validate", str(alliance.example_path()), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["therapists"] == 40


@pytest.mark.parametrize("bad", sorted(p.name for p in BAD.glob("*.csv")))
def test_validate_bad_file_prints_one_message_and_fails(bad, capsys):
    assert main(["validate", str(BAD / bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "[rule:" in lines[0] and bad in lines[0]


def test_validate_with_column_mapping(tmp_path, capsys):
    text = (Path(__file__).parent / "data" / "valid_small.csv").read_text()
    path = tmp_path / "mine.csv"
    path.write_text(text.replace("alliance_patient", "wai_client", 1))
    assert main(["validate", str(path)]) == 1
    capsys.readouterr()
    assert main(["validate", str(path), "--column", "alliance_patient=wai_client"]) == 0


def test_simulate_writes_a_valid_file(tmp_path, capsys):
    out = tmp_path / "sim.csv"
    assert main(["simulate", "--seed", "7", "--out", str(out)]) == 0
    assert main(["validate", str(out)]) == 0


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("alliance")
    proc = subprocess.run([str(exe), "validate", str(BAD / "out_of_range.csv")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "out_of_range.csv" in proc.stderr


def test_help_and_usage_errors_return_their_codes(capsys):
    assert main(["--help"]) == 0
    assert "validate" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("alliance: error: argument command: invalid choice")


def test_exit_codes_table_matches_the_docstring():
    from alliance import cli

    assert set(cli.EXIT_CODES) == {0, 1, 2, 3, 70, 130, 143}
    for code in cli.EXIT_CODES:
        assert f" {code} " in " ".join(cli.__doc__.split()).replace("(", " ").replace(";", " ")


def test_package_warnings_are_one_line(capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always", alliance.AllianceWarning)
        # the patient-rated model's therapist level is on the boundary in the shipped data
        assert main(["fit", "growth", str(alliance.example_path()), "--rater", "patient"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("alliance: warning: ") for line in err)
    assert any("boundary (singular) fit" in line for line in err)


def test_simulate_writes_atomically_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "sub" / "sim.csv"  # a missing parent folder is created
    assert main(["simulate", "--seed", "3", "--out", str(out)]) == 0
    first = out.read_bytes()
    assert main(["simulate", "--seed", "4", "--out", str(out)]) == 2
    assert out.read_bytes() == first
    assert main(["simulate", "--seed", "3", "--out", str(out), "--force"]) == 0
    assert out.read_bytes() == first  # same seed, same bytes
    assert [p.name for p in out.parent.iterdir()] == ["sim.csv"]
