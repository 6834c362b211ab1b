"""Reliability: bad and odd files, degenerate fits, usage errors, interrupted and repeated runs.

Each case pins what a researcher sees: the exit code, the first line of the
message (one line, never a traceback) and, for commands that write, the state of
the output folder or file afterwards (whole, untouched, or absent -- never
half-written or mixed). The exit codes are those of ``alliance.cli.EXIT_CODES``
and README.md: 0 success, 1 invalid data, 2 usage error (including an output
that must not or cannot be written), 3 a fit that cannot be trusted or a report
with analyses that could not run, 70 internal error, 130 Ctrl-C, 143 SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance import DataError, FitError
from alliance.cli import EXIT_CODES, main
from alliance.data.example import write_sessions
from alliance.mixed import RandomTerm, fit_lmm
from alliance.outputs import OutputError, atomic_dir, atomic_file, sha256_file

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
EXAMPLE = alliance.example_path()
HEADER = "therapist,patient,condition,session,alliance_patient,alliance_therapist,wellbeing"
ROWS = ["T1,P1,training,1,4.0833,3.5000,20.5", "T1,P1,training,2,4.1667,3.6667,22.0",
        "T2,P2,control,1,3.5000,,18.0", "T2,P2,control,2,3.7500,3.4167,19.5"]
pytestmark = pytest.mark.filterwarnings("ignore::alliance.AllianceWarning")


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def table(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def run(capsys, *argv) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, the first line of stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    return code, out, lines[0] if lines else ""


def one_line(capsys, *argv) -> tuple[int, str]:
    """Run the CLI; the failure must be exactly one line on stderr and nothing on stdout."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert code != 0 and out == "", (code, out)
    return code, err.strip()


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its bytes (the state of an output folder)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    """Temporary files or folders a write left beside its target."""
    return [p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name]


# =========================================================================== bad and odd files


def test_exit_codes_are_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in readme, code
    assert "--force" in readme and "--best-effort" in readme


def test_truncated_row_is_refused(tmp_path, capsys):
    # a file cut off mid-write: the last row lost its trailing fields
    path = write(tmp_path, table(*ROWS[:3], "T2,P2,control,2,3.75"))
    code, msg = one_line(capsys, "validate", path)
    assert code == 1
    assert msg.startswith(f"alliance: invalid data: {path}: file line 5 has 5 fields, fewer than "
                          "the 7 of the header")
    assert msg.endswith("[rule: every row has as many fields as the header]")
    with pytest.raises(DataError, match="file line 5 has 5 fields"):
        alliance.fit_growth(path, "therapist")


def test_file_cut_inside_a_quoted_field_is_refused(tmp_path, capsys):
    path = write(tmp_path, table(*ROWS[:3]) + 'T2,"P2')
    code, msg = one_line(capsys, "validate", path)
    assert code == 1
    assert "a quoted field in the row starting at file line 5 is never closed" in msg
    assert msg.endswith("[rule: well-formed CSV]")


def test_file_cut_inside_the_last_field_is_noted(tmp_path, capsys):
    # the cut leaves a well-formed row ("22.0" -> "2"): no rule is broken, but the
    # missing final line break is reported with the row to check
    path = write(tmp_path, table(*ROWS)[:-3])
    code, out, _ = run(capsys, "validate", path)
    assert code == 0
    assert "note: the file does not end with a line break" in out and "file line 5" in out
    summary = json.loads((main(["validate", str(path), "--json"]), capsys.readouterr().out)[1])
    assert summary["notes"] and "file line 5" in summary["notes"][0]
    assert alliance.read_sessions(path).attrs["source_notes"]
    # a complete file has no note
    assert alliance.read_sessions(write(tmp_path, table(*ROWS), "ok.csv")).attrs.get(
        "source_notes") is None


@pytest.mark.parametrize("session", ["1e20", "99999999999999999999", "-9223372036854775808",
                                     "100001", "2.5", "0"])
def test_overflowing_or_invalid_session_is_refused(tmp_path, capsys, session):
    path = write(tmp_path, table(ROWS[0], f"T1,P1,training,{session},4,3,20"))
    code, msg = one_line(capsys, "validate", path)
    assert code == 1
    assert f"{path}: column 'session' must hold whole numbers 1, 2, ... (at most 100,000); " \
           f"data row 2 (file line 3) holds '{session}'" in msg
    assert msg.endswith("[rule: session is a positive integer]")


@pytest.mark.parametrize(("cells", "rule"), [
    (lambda s: s.astype(float).where(s.index != 0, 1e20), "session is a positive integer"),
    (lambda s: s.astype("uint64").where(s.index != 0, np.uint64(2**64 - 1)),
     "session is a positive integer"),
    (lambda s: s.where(s.index != 0, 0), "session is a positive integer"),  # int64: range only
    (lambda s: s.where(s.index != 3, 100_001).astype("int32"), "session is a positive integer"),
    (lambda s: pd.to_datetime("2024-01-01") + pd.to_timedelta(s, "D"), "numeric column"),
    (lambda s: s + 0j, "real numbers"),
    (lambda s: s.astype(object).where(s.index != 0, 1 + 1j), "real numbers"),
])
def test_session_cells_of_a_dataframe_that_are_not_integers_are_refused(cells, rule):
    d = alliance.load_example()
    assert d["session"].dtype == np.int64
    with pytest.raises(DataError, match=rf"column 'session'.*\[rule: {rule}\]"):
        alliance.read_sessions(d.assign(session=cells(d["session"])))


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint16", "float64", "str"])
def test_sessions_of_any_integer_dtype_are_read_as_int64(dtype):
    d = alliance.load_example()
    got = alliance.read_sessions(d.assign(session=d["session"].astype(dtype)))["session"]
    assert got.dtype == np.int64 and got.tolist() == d["session"].tolist()


@pytest.mark.parametrize(("cell", "what"), [
    (np.inf, "non-finite numbers"), (2.5, "fractional numbers"), (1 + 2j, "complex numbers"),
    (pd.Timestamp("2024-01-01"), "dates or times"), (True, "booleans"), (b"P1", "bytes"),
    ("P\x001", "control characters"), ("P\n1", "control characters"),
])
def test_ids_that_are_not_text_or_whole_numbers_are_refused(cell, what):
    d = alliance.load_example()
    d["patient"] = d["patient"].astype(object)
    d.loc[3, "patient"] = cell
    with pytest.raises(DataError, match=rf"column 'patient' holds {what}.*data row 4"):
        alliance.read_sessions(d)


def test_an_absurdly_long_id_is_refused_and_shortened_in_the_message(tmp_path, capsys):
    d = alliance.load_example()
    d["patient"] = d["patient"].astype(object)
    d.loc[0, "patient"] = "P" * 5_000_000
    with pytest.raises(DataError) as err:
        alliance.read_sessions(d)
    msg = str(err.value)
    assert "longer than 256 characters" in msg and "(5000000 characters)" in msg
    assert len(msg) < 600
    # in a file, the same id is a field longer than the CSV reader's limit
    path = write(tmp_path, table(ROWS[0], "T1," + "P" * 5_000_000 + ",training,2,4,3,20"))
    code, msg = one_line(capsys, "validate", path)
    assert code == 1 and len(msg) < 400
    assert "the row starting at file line 3 holds a field longer than 131,072 characters" in msg


def test_semicolon_file_is_read_and_a_wrong_sep_is_explained(tmp_path, capsys):
    text = table(*ROWS).replace(",", ";").replace(".", ",")
    path = write(tmp_path, text)
    code, out, _ = run(capsys, "validate", path)
    assert code == 0 and "rows: 4" in out
    code, msg = one_line(capsys, "validate", path, "--sep", ",")
    assert code == 1
    assert msg == (f"alliance: invalid data: {path}: the header is one single column "
                   "'therapist;patient;condit...' (81 characters) that holds ';': the file "
                   "seems to be delimited by ';', not ','; pass sep=';' (CLI: --sep ';') or leave "
                   "the delimiter to be detected [rule: one delimiter per file]")
    # a semicolon file whose header breaks a naming rule is named for that rule, not the delimiter
    path = write(tmp_path, text.replace("alliance_patient", "alliance patient"), "space.csv")
    code, msg = one_line(capsys, "validate", path)
    assert code == 1 and "['alliance patient'] are not safe identifiers" in msg


@pytest.mark.parametrize(("target", "expected"), [
    ("dir", "is a directory; give the path of a CSV file"),
    ("-", "reading from standard input is not supported"),
    ("missing", "no such file"),
    ("/dev/null", "is not a regular file"),
])
def test_a_path_that_is_not_a_data_file_is_named(tmp_path, capsys, target, expected):
    path = {"dir": tmp_path, "missing": tmp_path / "nope.csv"}.get(target, target)
    code, msg = one_line(capsys, "validate", path)
    assert code == 1
    assert msg.startswith(f"alliance: invalid data: {path}: {expected}")


def test_an_unreadable_file_is_one_line(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, table(*ROWS))

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    code, msg = one_line(capsys, "validate", path)
    assert code == 1
    assert msg == (f"alliance: invalid data: {path}: cannot read the file (Permission denied) "
                   "[rule: file is readable]")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_an_unreadable_file_on_disk(tmp_path, capsys):  # pragma: no cover - needs a non-root user
    path = write(tmp_path, table(*ROWS))
    path.chmod(0)
    code, msg = one_line(capsys, "validate", path)
    assert code == 1 and "cannot read the file" in msg


def test_nul_byte_is_refused(tmp_path, capsys):
    path = tmp_path / "nul.csv"
    path.write_bytes((table(*ROWS[:3]) + "T2,P2,control,2,3.75,3.4,1\x009\n").encode())
    code, msg = one_line(capsys, "validate", path)
    assert code == 1
    assert msg.endswith("line 5 holds a NUL byte (a binary or damaged file) [rule: file is text]")


def test_file_line_is_right_after_a_quoted_newline(tmp_path, capsys):
    text = (HEADER + ",note\n" + ROWS[0] + ',"two\nlines"\n' + ROWS[1] + ",x\n"
            + ROWS[2].replace("18.0", "abc") + ",y\n")
    code, msg = one_line(capsys, "validate", write(tmp_path, text))
    assert code == 1
    assert "column 'wellbeing' must be numeric; data row 3 (file line 5) holds 'abc'" in msg


def test_a_missing_value_code_is_refused_by_every_command_reading_ratings(tmp_path, capsys):
    d = alliance.load_example()
    d.loc[d.index[7], "wellbeing"] = 9999.0
    path = write_sessions(d, tmp_path / "code.csv")
    expected = "column 'wellbeing' is outside the Outcome Rating Scale (ORS) range 0-40 in data row 8"
    for argv in (["validate"], ["fit", "growth"], ["fit", "lagged"],
                 ["fit", "rsa", "--outcome", "wellbeing", "--x", "alliance_therapist",
                  "--y", "alliance_patient"],
                 ["fit", "truth-bias", "--judgment", "alliance_therapist", "--truth",
                  "alliance_patient", "--group", "patient", "--bias", "wellbeing"]):
        cmd = argv[:2] + [str(path)] + argv[2:] if argv[0] == "fit" else argv + [str(path)]
        code, msg = one_line(capsys, *cmd)
        assert code == 1 and expected in msg, (argv, msg)
        assert msg.endswith("[rule: wellbeing within 0-40]")


# =========================================================================== degenerate fits


def test_a_constant_outcome_is_a_fit_error_not_a_result(tmp_path, capsys):
    d = alliance.load_example().assign(alliance_therapist=3.7)
    path = write_sessions(d, tmp_path / "constant.csv")
    code, msg = one_line(capsys, "fit", "growth", path)
    assert code == 3
    assert msg.startswith(f"alliance: fit failed: {path} (growth, therapist-rated alliance): "
                          "the outcome is constant")
    assert msg.endswith("[rule: outcome varies]")
    code, msg = one_line(capsys, "fit", "truth-bias", path)
    assert code == 3 and "the outcome is constant" in msg
    d = alliance.load_example().assign(wellbeing=20.0)
    with pytest.raises(FitError, match="the outcome is constant"):
        alliance.fit_rsa(d, "wellbeing", "alliance_therapist", "alliance_patient", group="patient")
    with pytest.raises(FitError, match="exact function of the predictors"):
        alliance.fit_rsa(d, "wellbeing", "alliance_therapist", "alliance_patient")


@pytest.mark.parametrize("value", [20.0, 1e-3, 1e6])
def test_fit_lmm_refuses_a_constant_outcome_at_any_scale(value):
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(20), 5)
    X = pd.DataFrame({"Intercept": 1.0, "x": rng.normal(size=100)})
    with pytest.raises(FitError, match=r"the outcome is constant.*\[rule: outcome varies\]"):
        fit_lmm(np.full(100, value), X, [RandomTerm("g", g)])


def test_rank_deficient_design_and_too_many_random_effects_are_fit_errors(tmp_path, capsys):
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(20), 5)
    x = rng.normal(size=100)
    y = x + rng.normal(size=100) + rng.normal(size=20)[g]
    X = pd.DataFrame({"Intercept": 1.0, "x": x, "x2": 2 * x})
    with pytest.raises(FitError, match=r"rank deficient.*\[rule: identifiable fixed effects\]"):
        fit_lmm(y, X, [RandomTerm("g", g)])
    with pytest.raises(FitError, match=r"\[rule: n > random effects\]"):
        fit_lmm(y, X[["Intercept", "x"]], [RandomTerm("row", np.arange(100))])
    with pytest.raises(FitError, match=r"\[rule: n > p\]"):
        fit_lmm(y[:2], X.iloc[:2, :2], [RandomTerm("g", g[:2])])
    # a grouping factor with one level: its variance is the intercept's (lme4 refuses too)
    with pytest.raises(FitError, match=r"'g' has 1 level.*\[rule: levels per grouping factor\]"):
        fit_lmm(y, X[["Intercept", "x"]], [RandomTerm("g", np.zeros(100, dtype=int))])
    # two factors that split the rows the same way (one patient per therapist): one variance
    # written twice, whose split between the terms would be arbitrary
    with pytest.raises(FitError, match=r"'t' and 'p' group the rows identically.*"
                                       r"\[rule: distinct grouping factors\]"):
        fit_lmm(y, X[["Intercept", "x"]], [RandomTerm("t", g), RandomTerm("p", g + 100)])
    # nested factors that differ (several patients per therapist) are fitted
    fit_lmm(y, X[["Intercept", "x"]], [RandomTerm("t", g // 2), RandomTerm("p", g)])
    # on the command line: a constant well-being makes the lagged design rank deficient
    path = write_sessions(alliance.load_example().assign(wellbeing=20.0), tmp_path / "c.csv")
    code, msg = one_line(capsys, "fit", "lagged", path)
    assert code == 3 and "rank deficient" in msg and "wellbeing_lag1_within" in msg


def test_a_meaningless_stationary_point_is_flagged(capsys):
    with pytest.warns(alliance.AllianceWarning, match="stationary point lies far outside the data"):
        res = alliance.fit_rsa(DATA / "rsa_motcon.csv", "postVA", "ePow", "iPow", center="none")
    assert res.info["stationary_point_flags"]
    assert any("stationary point" in w for w in res.warnings)
    with warnings.catch_warnings():
        warnings.simplefilter("always", alliance.AllianceWarning)
        code, out, first = run(capsys, "fit", "rsa", DATA / "rsa_motcon.csv", "--outcome",
                               "postVA", "--x", "ePow", "--y", "iPow", "--center", "none")
    assert code == 0
    assert first.startswith("alliance: warning: the stationary point lies far outside the data")
    assert "warning: the stationary point" in out  # the printed result carries it too
    # the book's surfaces (shipped data) have identified stationary points: no flag
    fits, _ = alliance.findings.fit_paper_models(EXAMPLE)
    assert fits["rsa"].info["stationary_point_flags"] == []


@pytest.mark.parametrize(("x0", "se", "flagged"), [
    (0.5, 100.0, False),   # inside the data: a huge SE alone is not the flag
    (-1.5, 2.5, False),    # just beyond the data (range -1 to 1, width 2), SE about the width
    (-3.5, 2.5, True),     # beyond by more than the width, SE wider than the data
    (-3.5, 0.5, False),    # far, but precisely located (a real extremum off the data)
    (np.inf, np.nan, True),
    (np.nan, np.nan, False),  # no stationary point at all (a flat form): NaN already says so
])
def test_stationary_point_flag_rule(x0, se, flagged):
    from alliance.rsa.surface import stationary_point_flags

    surface = pd.DataFrame({"term": ["X0", "Y0"], "estimate": [x0, 0.0], "se": [se, 0.1]})
    x = y = np.linspace(-1, 1, 11)
    msgs = stationary_point_flags(surface, x, y)
    assert bool(msgs) is flagged
    if flagged:
        assert msgs[0].startswith("the stationary point lies far outside the data") and "X0 = " in msgs[0]


# =========================================================================== usage errors


@pytest.mark.parametrize(("argv", "start"), [
    (["fit", "rsa", EXAMPLE, "--outcome", "wellbeing", "--x", "alliance_therapist", "--y",
      "alliance_patient", "--group", "patient", "--time", "session", "--lag", "0"],
     "alliance: error: --lag must be a positive integer; got 0"),
    (["fit", "rsa", EXAMPLE, "--outcome", "wellbeing", "--x", "alliance_therapist", "--y",
      "alliance_patient", "--center", "foo"],
     "alliance: error: --center must be 'pooled', 'none', 'variablewise' or a number"),
    (["fit", "rsa", EXAMPLE, "--outcome", "wellbeing", "--x", "alliance_therapist", "--y",
      "alliance_patient", "--moderator", "session", "--at", "nan"],
     "alliance: error: --at must be finite"),
    (["fit", "lagged", EXAMPLE, "--conf-level", "1.5"],
     "alliance: error: --conf-level must be between 0 and 1"),
    (["fit", "truth-bias", EXAMPLE, "--conf-level", "1.5"],
     "alliance: error: --conf-level must be between 0 and 1"),
    (["validate", EXAMPLE, "--column", "patient=x", "--column", "therapist=x"],
     "alliance: error: --column maps both 'patient' and 'therapist' onto your column 'x'"),
    (["validate", EXAMPLE, "--column", "patient=therapist"],
     "alliance: error: --column maps several canonical columns onto ['therapist']"),
    (["fit", "truth-bias", EXAMPLE, "--judgment", "alliance_patient", "--truth",
      "alliance_patient", "--group", "patient"],
     "alliance: error: --judgment and truth must be different columns"),
    (["simulate", "--seed", "-1", "--out", "x.csv"],
     "alliance simulate: error: argument --seed: expected a whole number >= 0, got '-1'"),
    (["fit", "lagged", EXAMPLE, "--method", "foo"],
     "alliance fit lagged: error: argument --method: invalid choice: 'foo'"),
])
def test_invalid_option_values_are_one_line_usage_errors(capsys, argv, start):
    code, msg = one_line(capsys, *argv)
    assert code == 2
    assert msg.startswith(start), msg


def test_an_unexpected_error_is_one_line_with_code_70(capsys, monkeypatch):
    def broken(data):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("alliance.data.summary.validation_summary", broken)
    code, msg = one_line(capsys, "validate", EXAMPLE)
    assert code == 70
    assert msg.startswith("alliance: internal error: ZeroDivisionError: division by zero (at ")
    monkeypatch.setenv("ALLIANCE_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        main(["validate", str(EXAMPLE)])


# =========================================================================== outputs


def test_simulate_refuses_an_existing_file_unless_forced(tmp_path, capsys):
    out = tmp_path / "sim.csv"
    out.write_text("my own file\n")
    code, msg = one_line(capsys, "simulate", "--seed", "1", "--out", out)
    assert code == 2
    assert msg == f"alliance: error: --out {out}: the file exists; pass --force to replace it"
    assert out.read_text() == "my own file\n"
    assert main(["simulate", "--seed", "1", "--out", str(out), "--force"]) == 0
    assert alliance.read_sessions(out)["patient"].nunique() == 117
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("command", "target", "expected"), [
    ("simulate", "", "--out '': the output path is empty; give a file name"),
    ("simulate", "{tmp}", "--out {tmp}: is a folder; give the name of a file"),
    ("simulate", "{tmp}/file.txt/x.csv", "--out {tmp}/file.txt/x.csv: '{tmp}/file.txt' is not a folder"),
    ("report", "", "--out '': the output path is empty; give a folder name"),
    ("report", "{tmp}/file.txt", "--out {tmp}/file.txt: exists and is not a folder"),
    ("report", "{tmp}/file.txt/sub", "--out {tmp}/file.txt/sub: '{tmp}/file.txt' is not a folder"),
])
def test_an_output_that_cannot_be_used_is_refused_before_any_work(tmp_path, capsys, command,
                                                                  target, expected):
    (tmp_path / "file.txt").write_text("mine")
    target = target.format(tmp=tmp_path)
    argv = ["simulate", "--seed", "1", "--out", target] if command == "simulate" else \
        ["report", str(EXAMPLE), "--out", target]
    before = snapshot(tmp_path)
    code, msg = one_line(capsys, *argv)
    assert code == 2
    assert msg.startswith("alliance: error: " + expected.format(tmp=tmp_path)), msg
    assert snapshot(tmp_path) == before


def test_force_never_deletes_the_input_or_the_current_folder(tmp_path, capsys, monkeypatch):
    data = write_sessions(alliance.load_example(), tmp_path / "trial.csv")
    (tmp_path / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    code, msg = one_line(capsys, "report", data, "--out", tmp_path, "--force")
    assert code == 2
    assert msg == (f"alliance: error: --out {tmp_path}: holds the current folder, which replacing "
                   "the folder would delete; give a new folder") or \
        msg == (f"alliance: error: --out {tmp_path}: holds '{data}', which replacing the folder "
                "would delete; give a new folder")
    monkeypatch.chdir(tmp_path)
    code, msg = one_line(capsys, "report", "trial.csv", "--out", ".", "--force")
    assert code == 2 and "holds the current folder" in msg
    assert snapshot(tmp_path) == before


def test_an_output_folder_without_write_permission_is_refused(tmp_path, capsys, monkeypatch):
    from alliance import outputs

    monkeypatch.setattr(outputs.os, "access", lambda path, mode: False)
    code, msg = one_line(capsys, "report", EXAMPLE, "--out", tmp_path / "rep")
    assert code == 2
    assert msg == f"alliance: error: --out {tmp_path / 'rep'}: cannot write in '{tmp_path}' " \
                  "(permission denied)"
    assert list(tmp_path.iterdir()) == []


def test_an_os_error_while_writing_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    def disk_full(data, path):
        Path(path).write_text("half")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("alliance.cli.simulate.write_sessions", disk_full)
    out = tmp_path / "s.csv"
    code, msg = one_line(capsys, "simulate", "--seed", "1", "--out", out)
    assert code == 2
    assert msg == (f"alliance: error: --out {out}: cannot write the output (No space left on "
                   "device); nothing was written")
    assert list(tmp_path.iterdir()) == []
    out = tmp_path / "rep"

    def full_disk(self, path, *args, **kwargs):  # the disk fills up while the tables are written
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    code, msg = one_line(capsys, "report", EXAMPLE, "--out", out)
    assert code == 2
    assert msg.startswith(f"alliance: error: --out {out}: cannot write the output (No space")
    assert not out.exists() and leftovers(tmp_path) == []


def test_atomic_helpers_leave_the_target_alone_on_any_exception(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), atomic_dir(target, force=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise exc
        assert snapshot(target) == {"old.txt": b"old"}
        assert leftovers(tmp_path) == []
    with atomic_dir(target, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert snapshot(target) == {"new.txt": b"new"}  # replaced whole, never mixed
    with pytest.raises(OutputError, match="the file exists"), atomic_file(target / "new.txt"):
        pass
    f = tmp_path / "f.csv"
    with atomic_file(f) as tmp:
        tmp.write_text("a")
    with pytest.raises(KeyboardInterrupt), atomic_file(f, force=True) as tmp:
        tmp.write_text("b")
        raise KeyboardInterrupt
    assert f.read_text() == "a" and leftovers(tmp_path) == []


# =========================================================================== the report


@pytest.fixture(scope="module")
def shipped_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rep") / "report"
    assert main(["report", str(EXAMPLE), "--out", str(out)]) == 0
    return out


def test_a_complete_report_says_what_it_came_from(shipped_report):
    summary = (shipped_report / "summary.md").read_text()
    digest = sha256_file(EXAMPLE)
    assert f"SHA-256 `{digest}`" in summary
    status = json.loads((shipped_report / "status.json").read_text())
    assert status["input"]["sha256"] == digest and status["complete"] is True
    assert {a["status"] for a in status["analyses"].values()} == {"ok"}
    assert leftovers(shipped_report.parent) == []


def test_a_repeated_run_refuses_a_non_empty_folder_and_force_replaces_it_whole(
        shipped_report, tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    (out / "my_notes.txt").write_text("do not lose me")
    code, msg = one_line(capsys, "report", EXAMPLE, "--out", out)
    assert code == 2
    assert msg == (f"alliance: error: --out {out}: is a folder that is not empty; pass --force to "
                   "replace it whole, or give a new folder")
    assert snapshot(out) == {"my_notes.txt": b"do not lose me"}
    # --force with another data set: the folder is replaced whole (no old file survives)
    other = write_sessions(alliance.simulate(seed=7), tmp_path / "other.csv")
    assert main(["report", str(other), "--out", str(out), "--force"]) == 0
    capsys.readouterr()
    assert not (out / "my_notes.txt").exists()
    assert f"SHA-256 `{sha256_file(other)}`" in (out / "summary.md").read_text()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in shipped_report.iterdir())
    assert leftovers(tmp_path) == []


def test_an_interrupted_report_leaves_the_previous_folder_untouched(tmp_path, capsys, monkeypatch):
    out = tmp_path / "report"
    out.mkdir()
    (out / "summary.md").write_text("the previous, complete report")
    before = snapshot(out)
    from alliance import lagged

    def interrupted(data):
        raise KeyboardInterrupt

    # the report's lagged sections fit through the private fit
    monkeypatch.setattr(lagged, "_fit_lagged", lambda *a, **k: interrupted(a))
    code, msg = one_line(capsys, "report", EXAMPLE, "--out", out, "--force")
    assert code == 130
    assert msg == "alliance: interrupted; no output was left half-written"
    assert snapshot(out) == before and leftovers(tmp_path) == []


def _wait_for_partial(parent: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if leftovers(parent) and proc.poll() is None:
            time.sleep(0.5)  # well inside the analyses
            return
        if proc.poll() is not None:
            pytest.fail(f"the report finished before it could be interrupted: {proc.returncode}")
        time.sleep(0.05)
    pytest.fail("no temporary folder appeared")


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                   (signal.SIGTERM, 143, "terminated")])
def test_a_signal_during_a_report_leaves_nothing_half_written(tmp_path, sig, code, word):
    out = tmp_path / "report"
    proc = subprocess.Popen([sys.executable, "-m", "alliance.cli", "report", str(EXAMPLE),
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    _wait_for_partial(tmp_path, proc)
    proc.send_signal(sig)
    _stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert stderr.strip().splitlines() == [f"alliance: {word}; no output was left half-written"]
    assert not out.exists() and leftovers(tmp_path) == []


def _report(capsys, data: pd.DataFrame, tmp_path: Path, *extra) -> tuple[int, Path, dict, str]:
    path = write_sessions(data, tmp_path / "odd.csv")
    out = tmp_path / "report"
    code = main(["report", str(path), "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    status = json.loads((out / "status.json").read_text())
    return code, out, status, err


def test_report_with_one_arm_lists_what_could_not_run(tmp_path, capsys):
    d = alliance.load_example()
    code, out, status, err = _report(capsys, d[d["condition"] == "training"], tmp_path)
    assert code == 3
    assert err.strip().splitlines()[0].startswith("alliance: analysis not run: ")
    failed = {k for k, v in status["analyses"].items() if v["status"] == "failed"}
    assert {"growth_therapist", "truth_bias", "lagged_forward", "lagged_reverse"} <= failed
    assert status["analyses"]["design"]["status"] == "ok"
    assert "both arms present" in status["analyses"]["growth_therapist"]["reason"]
    summary = (out / "summary.md").read_text()
    assert "**Incomplete:" in summary and "| truth_bias |" in summary
    assert (out / "tables" / "descriptives.csv").exists()  # what could run was written
    assert status["complete"] is False


def test_report_with_heavy_missingness_runs_every_analysis(tmp_path, capsys):
    params = alliance.SimulationParams(dropout_hazard=0.30, p_missing_patient=0.30,
                                       p_missing_therapist=0.30, p_missing_wellbeing=0.30)
    code, out, status, err = _report(capsys, alliance.simulate(params, seed=11), tmp_path,
                                     "--best-effort")
    assert code == 0  # best effort: listed, not an error
    ran = {k: v["status"] for k, v in status["analyses"].items()}
    assert set(ran) == set(alliance.report.ANALYSES) and "not run" not in ran.values()
    assert ran["lagged_forward"] == "ok" and ran["lagged_reverse"] == "ok"
    failed = [k for k, v in ran.items() if v == "failed"]
    for name in failed:  # each failure is listed with its reason
        assert status["analyses"][name]["reason"]
        assert f"alliance: analysis not run: {name}: " in err
    findings = pd.read_csv(out / "tables" / "findings.csv")
    assert len(findings) == 4
    if "truth_bias" in failed:
        assert findings.set_index("claim").loc[2, "verdict"] == "not evaluated"


@pytest.mark.parametrize("case", ["one session per patient", "a rating column entirely missing"])
def test_report_on_data_most_analyses_cannot_use(tmp_path, capsys, case):
    d = alliance.load_example()
    d = d[d["session"] == 1] if case.startswith("one") else d.assign(alliance_patient=np.nan)
    code, out, status, _err = _report(capsys, d, tmp_path)
    assert code == 3
    assert status["analyses"]["design"]["status"] == "ok"
    assert (out / "summary.md").exists() and (out / "tables" / "sample_structure.csv").exists()
    assert all(v["status"] in ("ok", "failed") for v in status["analyses"].values())
    assert leftovers(tmp_path) == []


def test_an_internal_error_in_one_analysis_does_not_stop_the_others(tmp_path, capsys, monkeypatch):
    from alliance import randomise

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(randomise, "_balance", broken)  # the report's randomisation section
    code, _out, status, _err = _report(capsys, alliance.load_example(), tmp_path)
    assert code == 3
    reason = status["analyses"]["randomisation"]["reason"]
    assert reason.startswith("internal error (ZeroDivisionError: division by zero)")
    assert status["analyses"]["lagged_reverse"]["status"] == "ok"


def test_a_signal_swallowed_by_a_finaliser_prints_no_exception_report(capsys):
    """A signal raised inside a weakref callback is reported once, not as 'Exception ignored'."""
    import weakref

    from alliance import cli

    class Thing:
        pass

    def callback(_ref):
        cli._on_signal(signal.SIGINT, None)  # as if SIGINT arrived while the callback ran

    def command(_args):
        obj = Thing()
        ref = weakref.ref(obj, callback)  # noqa: F841 - kept alive until obj dies
        del obj  # the callback runs here; its KeyboardInterrupt cannot propagate
        return 0

    parser = cli.build_parser(["validate", "x"])
    real = parser.parse_args
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "build_parser", lambda argv: parser)
        mp.setattr(parser, "parse_args",
                   lambda argv: (lambda a: (setattr(a, "func", command), a)[1])(real(argv)))
        code = cli.main(["validate", "x"])
    err = capsys.readouterr().err
    assert code == 130
    assert err.strip().splitlines() == ["alliance: interrupted; no output was left half-written"]
