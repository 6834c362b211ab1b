"""Reliability, round two (issue 22): one test per case of the second bad-input audit.

Each test names the audit's case and pins the behaviour now: degenerate designs
are errors (exit 3, ``FitError``, "failed" in a report), never a result; ids have
one identity rule in files and DataFrames; a file without its final line break is
warned about by every command; every option is checked at the door (exit 2, one
line naming the option and its range; ``ValueError``/``TypeError`` with the same
text from the API); a Monte Carlo store never mixes two studies (a record of the
arguments, a lock, damaged chunks named and recomputed); Ctrl-C never prints a
traceback and its message says what exists; the cluster path is documented as
running pickles and accepts TLS; and the source has no ``eval``, ``exec``,
pickle loads or ``shell=True``.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance import DataError, FitError
from alliance.cli import build_parser, main
from alliance.data.example import write_sessions
from alliance.draws.runner import claim_run, folder_lock, read_store, run_draws
from alliance.errors import OptionError, OptionTypeError
from alliance.outputs import OutputError, atomic_dir
from alliance.results import check_tests, wald_table

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "alliance"
EXAMPLE = alliance.example_path()
RSA = ["--outcome", "wellbeing", "--x", "alliance_therapist", "--y", "alliance_patient"]


def one_line(capsys, *argv) -> tuple[int, str]:
    """Run the CLI in-process: a failure is one line on stderr, never a traceback."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("alliance: warning:")]
    assert len(lines) == 1, err
    return code, lines[0]


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name]


def _numbered(d: pd.DataFrame) -> pd.DataFrame:
    """The example with numeric patient ids written as text: P001 -> '1', ..."""
    d = d.copy()
    d["patient"] = d["patient"].str[1:].astype(int).astype(str)
    return d


def _two_patients() -> pd.DataFrame:
    d = alliance.load_example()
    first = d.groupby("condition")["patient"].first()
    return d[d["patient"].isin(first)].reset_index(drop=True)


# =========================================================================== degenerate designs


@pytest.mark.parametrize("effects", ["intercept", "intercept+slope", "none"])
def test_growth_on_two_patients_is_a_fit_error_not_converged(tmp_path, capsys, effects):
    """Audit: `fit growth` on two patients (one per arm) exited 0, "converged", df = 0, p = 1."""
    path = write_sessions(_two_patients(), tmp_path / "two.csv")
    code, msg = one_line(capsys, "fit", "growth", path, "--therapist-effects", effects)
    assert code == 3
    rule = ("at least 2 therapists per arm" if effects != "none"
            else "at least 2 patients per arm rated at 2 or more sessions")
    assert msg.startswith(f"alliance: fit failed: {path} (growth, therapist-rated alliance): ")
    assert msg.endswith(f"[rule: {rule}]")
    with pytest.raises(FitError, match=rf"\[rule: {rule}\]"):
        alliance.fit_growth(_two_patients(), therapist_effects=effects)


def test_a_therapist_slope_needs_two_therapists_per_arm_with_repeated_ratings():
    """The minimum design of both growth structures (issue 18 makes intercept+slope primary)."""
    d = alliance.load_example()
    caseload = d.groupby(["condition", "therapist"])["patient"].nunique()
    busy = caseload["training"].sort_values().index[-1]  # two or more patients, all sessions
    lone = caseload["training"].sort_values().index[0]  # kept at the first session only
    keep = [busy, lone] + list(caseload["control"].sort_values().index[-3:])
    d = d[d["therapist"].isin(keep)]
    d = d[(d["therapist"] != lone) | (d["session"] == 1)].reset_index(drop=True)
    with pytest.raises(FitError, match=r"\[rule: at least 2 therapists per arm rated at 2 or "
                                       r"more sessions\]"):
        alliance.fit_growth(d, therapist_effects="intercept+slope")
    # the same data identify the intercept-only structure: it is fitted (a result, with real df;
    # five therapists estimate the therapist variance on the boundary, which is a warning)
    with pytest.warns(alliance.AllianceWarning, match="boundary"):
        res = alliance.fit_growth(d, therapist_effects="intercept")
    assert (res.estimates["df"] >= 1).all()


def _one_therapist_per_arm() -> pd.DataFrame:
    d = alliance.load_example()
    caseload = d.groupby(["condition", "therapist"])["patient"].nunique()
    keep = [caseload["training"].idxmax(), caseload["control"].idxmax()]
    return d[d["therapist"].isin(keep)].reset_index(drop=True)


@pytest.mark.parametrize("argv", [
    ["fit", "growth"], ["fit", "growth", "--rater", "both"], ["fit", "truth-bias"],
    ["fit", "lagged"], ["fit", "lagged", "--direction", "outcome->alliance"],
    ["fit", "rsa", *RSA, "--group", "therapist", "--group", "patient", "--time", "session",
     "--lag", "1", "--moderator", "condition"],
])
def test_one_therapist_per_arm_is_refused_by_every_analysis_that_compares_arms(
        tmp_path, capsys, argv):
    """The arm difference of one therapist per arm is that therapist's effect: truth and bias,
    lagged outcomes and the response surface fitted it with df 5 to 40 and reported a test."""
    path = write_sessions(_one_therapist_per_arm(), tmp_path / "one.csv")
    code, msg = one_line(capsys, *argv[:2], path, *argv[2:])
    assert code == 3, msg
    assert msg.endswith("[rule: at least 2 therapists per arm]"), msg


def test_a_test_without_degrees_of_freedom_is_a_fit_error():
    """The rule behind the above: a reported t test with df < 1 or no SE is refused."""
    ok = wald_table([1.0, 2.0], np.diag([0.25, 0.25]), ["a", "b"], df=[10.0, 3.0])
    check_tests(ok, "<DataFrame>", "model")
    check_tests(wald_table([1.0], [[0.25]], ["a"]), "<DataFrame>", "model")  # Wald z: df inf
    for df, se in (([10.0, 1e-6], 0.25), ([10.0, 0.0], 0.25), ([10.0, np.nan], 0.25),
                   ([10.0, 10.0], np.nan)):
        t = wald_table([1.0, 2.0], np.diag([0.25, se]), ["a", "b"], df=df)
        with pytest.raises(FitError, match=r"cannot test 'b'.*\[rule: every reported test has a "
                                           r"standard error and at least 1 degree of freedom\]"):
            check_tests(t, "<DataFrame>", "model")


def test_report_lists_growth_on_a_degenerate_design_as_not_run(tmp_path, capsys):
    """Audit: `report` marked the growth analyses of the two-patient design "ok"."""
    path = write_sessions(_two_patients(), tmp_path / "two.csv")
    out = tmp_path / "report"
    code = main(["report", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err
    status = json.loads((out / "status.json").read_text())["analyses"]
    for name in ("growth_therapist", "growth_patient", "growth_both"):
        assert status[name]["status"] == "failed", name
        assert "[rule: at least 2" in status[name]["reason"]
        assert f"alliance: analysis not run: {name}: " in err


# =========================================================================== ids


def _spelled_twice(tmp_path) -> tuple[Path, str]:
    """A patient written '<n>' in sessions 1-3 and '<n>.0' in sessions 4-6 (its rows named)."""
    d = _numbered(alliance.load_example())
    n = d.groupby("patient")["session"].nunique()
    pid = n[n == 6].index[0]
    mine = (d["patient"] == pid).to_numpy()
    late = mine & (d["session"] >= 4).to_numpy()
    path = write_sessions(d, tmp_path / "ids.csv")
    lines = path.read_text().splitlines(keepends=True)
    for i in np.flatnonzero(late):
        lines[i + 1] = lines[i + 1].replace(f",{pid},", f",{pid}.0,", 1)
    path.write_text("".join(lines))
    early_rows, late_rows = np.flatnonzero(mine & ~late) + 1, np.flatnonzero(late) + 1

    def named(rows):
        return (f"data rows {', '.join(map(str, rows))} (file lines "
                f"{', '.join(str(r + 1) for r in rows)})")

    detail = (f"'{pid}' in {named(early_rows)}; '{pid}.0' in {named(late_rows)}")
    return path, detail


def test_one_id_written_two_ways_is_refused_in_a_file(tmp_path, capsys):
    """Audit: patient `1` in sessions 1-3 and `1.0` in 4-6 was counted as two patients."""
    path, detail = _spelled_twice(tmp_path)
    expected = (f"{path}: column 'patient' holds one number written in different ways ({detail}): "
                "ids are text, so these would be different ids")
    for argv in (["validate", path], ["fit", "growth", path], ["fit", "lagged", path],
                 ["report", path, "--out", tmp_path / "rep"]):
        code, msg = one_line(capsys, *argv)
        assert code == 1, argv
        assert msg.startswith(f"alliance: invalid data: {expected}"), msg
        assert msg.endswith("(CLI: --ids numeric) if numbers written either way are one id "
                            "[rule: one spelling per id]")
    assert not (tmp_path / "rep").exists()
    with pytest.raises(DataError, match=r"one number written in different ways"):
        alliance.fit_growth(path)


def test_the_dataframe_of_that_file_gives_the_same_answer(tmp_path):
    """Audit: a DataFrame with a float id column merged 1 and 1.0 (the file path did not)."""
    path, _ = _spelled_twice(tmp_path)
    frame = pd.read_csv(path)
    assert frame["patient"].dtype == float  # pandas reads '1' and '1.0' as the same float
    with pytest.raises(DataError, match=r"column 'patient' holds decimal numbers \(floats such "
                                        r"as 1\.0\), not ids.*\[rule: identifiers are text\]"):
        alliance.read_sessions(frame)
    with pytest.raises(DataError):
        alliance.fit_growth(frame)
    # the user says the spellings are one id: file and DataFrame agree on 117 patients
    from_file = alliance.read_sessions(path, ids="numeric")
    from_frame = alliance.read_sessions(frame, ids="numeric")
    assert from_file["patient"].nunique() == from_frame["patient"].nunique() == 117
    pd.testing.assert_series_equal(from_file["patient"], from_frame["patient"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", alliance.AllianceWarning)  # a boundary fit is not the point
        assert alliance.fit_growth(from_frame).n_groups["patient"] == 117


def test_ids_numeric_on_the_command_line(tmp_path, capsys):
    path, _ = _spelled_twice(tmp_path)
    code = main(["validate", str(path), "--ids", "numeric", "--json"])
    out = capsys.readouterr().out
    assert code == 0 and json.loads(out)["patients"] == 117


@pytest.mark.parametrize(("cells", "as_text", "as_numbers"), [
    (["7", "007"], None, ["7", "7"]), (["1", "1e0"], None, ["1", "1"]),
    (["12", " 12"], ["12", "12"], ["12", "12"]), ([1, "1"], ["1", "1"], ["1", "1"]),
    ([1, 2], ["1", "2"], ["1", "2"]), (["P1", "P01"], ["P1", "P01"], ["P1", "P01"]),
    ([1.0, 2.0], None, ["1", "2"]), (["2.5", "2.50"], None, None),
])
def test_the_id_rule_cell_by_cell(cells, as_text, as_numbers):
    """Ids are text; one number written two ways (or a float) only with ids='numeric'."""
    from alliance.data.cells import Source, parse_identifier

    for ids, expected in (("text", as_text), ("numeric", as_numbers)):
        values = pd.Series(cells, dtype=float if isinstance(cells[0], float) else object)
        if expected is None:
            with pytest.raises(DataError, match=r"\[rule: (one spelling per id|identifiers are "
                                                r"text)\]"):
                parse_identifier(values, "patient", Source("<DataFrame>"), ids=ids)
        else:
            got = parse_identifier(values, "patient", Source("<DataFrame>"), ids=ids)
            assert got.tolist() == expected


# =========================================================================== final line break

CUTS = {"inside the last value": lambda t: t.rstrip("\n")[:-1],
        "after the last delimiter": lambda t: t.rstrip("\n").rsplit(",", 1)[0] + ","}


@pytest.mark.parametrize("cut", list(CUTS))
def test_every_command_that_reads_a_cut_file_warns(tmp_path, capsys, monkeypatch, cut):
    """Audit: `fit lagged` on a file without its final line break exited 0 with no warning."""
    text = EXAMPLE.read_text()
    path = tmp_path / "cut.csv"
    path.write_text(CUTS[cut](text))
    warning = f"alliance: warning: {path}: the file does not end with a line break"
    from alliance import report
    from alliance.studies import multiverse

    def stop(*args, **kwargs):  # the warning comes when the file is read: no need to go on
        raise FitError("stopped here by the test")

    monkeypatch.setattr(report, "_run_all", stop)
    monkeypatch.setattr(multiverse, "multiverse", stop)
    commands = [["validate"], ["fit", "growth"], ["fit", "lagged"], ["fit", "truth-bias"],
                ["fit", "rsa", *RSA, "--group", "patient"], ["report", "--out", tmp_path / "r"],
                ["multiverse", "--out", tmp_path / "m"]]
    for argv in commands:
        n = 2 if argv[0] == "fit" else 1
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            main([str(a) for a in [*argv[:n], path, *argv[n:]]])
        err = capsys.readouterr().err
        assert warning in err, (argv, err)
        assert "Traceback" not in err
    with pytest.warns(alliance.AllianceWarning, match="does not end with a line break"):
        alliance.read_sessions(path)


# =========================================================================== options of the API


@pytest.mark.parametrize("alpha", [float("nan"), 2, 0, -1, 0.5])
def test_evaluate_refuses_an_alpha_it_cannot_use(alpha):
    """Audit: `evaluate(df, alpha=nan)` flipped finding 1 to replicated ("p 2.31e-05 < nan")."""
    with pytest.raises(ValueError, match=r"^alpha must be a number between 0 and 0\.5 "
                                         r"\(exclusive\); got "):
        alliance.findings.evaluate(alliance.load_example(), alpha=alpha)


def test_api_arguments_of_the_wrong_type_are_named():
    """Audit: `fit_growth(df, columns=["patient"])` and `conf_level="0.9"` gave obscure errors."""
    d = alliance.load_example()
    with pytest.raises(TypeError, match=r"^columns must be a mapping \{canonical: yours\} such "
                                        r"as \{'patient': 'client_id'\}; got \['patient'\] "
                                        r"\(a list\)$"):
        alliance.fit_growth(d, columns=["patient"])
    with pytest.raises(TypeError, match=r"^conf_level must be between 0 and 1 \(exclusive\), "
                                        r"e\.g\. 0\.95; got '0\.9' \(text\)$"):
        alliance.fit_growth(d, conf_level="0.9")
    for fn in (alliance.fit_lagged, alliance.fit_truth_bias):
        with pytest.raises(OptionTypeError):
            fn(d, conf_level="0.9")
    with pytest.raises(OptionError, match=r"^seed must be a whole number >= 0"):
        alliance.simulate(seed=-1)


def test_the_cli_and_the_api_give_the_same_message(capsys):
    code, msg = one_line(capsys, "fit", "lagged", EXAMPLE, "--conf-level", "1.5")
    with pytest.raises(ValueError) as err:
        alliance.fit_lagged(EXAMPLE, conf_level=1.5)
    assert code == 2
    assert msg == "alliance: error: --" + str(err.value).replace("conf_level", "conf-level", 1)


def test_a_bias_on_another_scale_is_refused(capsys):
    """Audit: `fit truth-bias --bias patient_age` accepted a bias on another scale."""
    rule = "[rule: bias on the truth's scale]"
    code, msg = one_line(capsys, "fit", "truth-bias", EXAMPLE, "--bias", "patient_age")
    assert code == 1 and msg.endswith(rule)
    assert "the bias column 'patient_age' is not on the scale of the truth 'alliance_patient'" in msg
    code, msg = one_line(capsys, "fit", "truth-bias", EXAMPLE, "--judgment", "alliance_therapist",
                         "--truth", "alliance_patient", "--group", "patient", "--bias",
                         "patient_age")
    assert code == 1 and msg.endswith(rule)
    with pytest.raises(DataError, match=r"not on the scale of the truth"):
        alliance.fit_truth_bias(EXAMPLE, bias="patient_age")


# =========================================================================== options of the CLI


@pytest.mark.parametrize(("argv", "start"), [
    (["power", "--effect", "nan"], "--effect must be a number from -10 to 10"),
    (["power", "--effect", "inf"], "--effect must be a number from -10 to 10"),
    (["power", "--effect", "1e300"], "--effect must be a number from -10 to 10"),
    (["power", "--seed", "-1"], ("--seed must be a whole number >= 0 (the entropy of numpy's "
                                 "SeedSequence; a negative seed is refused")),
    (["power", "--patients-per-therapist", "inf"],
     "--patients-per-therapist must be a finite number >= 1; got inf"),
    (["power", "--patients-per-therapist", "nan"],
     "--patients-per-therapist must be a finite number >= 1; got nan"),
    (["power", "--draws", "1000000000000"], "--draws must be a whole number from 1 to 1,000,000"),
    (["power", "--therapists", "1000000000", "--draws", "2"],
     "--therapists 1e+09 x --patients-per-therapist 2.925 x --sessions 6 make trials of up to"),
    (["power", "--patients-per-therapist", "1e9"],
     ("--therapists 40 x --patients-per-therapist 1e+09 x --sessions 6 make trials of up "
      "to")),
    (["power", "--alpha", "0"], "--alpha must be a number between 0 and 0.5 (exclusive)"),
    (["fit", "rsa", EXAMPLE, *RSA, "--moderator", "therapist_experience", "--at", "1e308"],
     ("--at must lie within the observed range of the moderator 'therapist_experience' (2.5 to "
      "40) widened by its width on each side, i.e. from -35 to 77.5")),
    (["fit", "rsa", EXAMPLE, *RSA, "--center", "nan"],
     "--center must be 'pooled', 'none', 'variablewise' or a finite number; got nan"),
    (["fit", "rsa", EXAMPLE, *RSA, "--center", "inf"],
     "--center must be 'pooled', 'none', 'variablewise' or a finite number; got inf"),
    (["fit", "rsa", EXAMPLE, *RSA, "--center", "1e308"],
     "--center must lie within the observed range of the predictors X and Y"),
    (["fit", "rsa", EXAMPLE, *RSA, "--bootstrap", "30", "--seed", "-1"],
     "--seed must be a whole number >= 0"),
    (["fit", "rsa", EXAMPLE, *RSA, "--bootstrap", "1"],
     "--bootstrap must be a whole number from 2 to 1,000,000; got 1"),
    (["fit", "truth-bias", EXAMPLE, "--judgment", "alliance_therapist", "--truth",
      "alliance_patient", "--group", "patient", "--moderator", "patient_age",
      "--moderator-at", "1e308"],
     "--moderator-at must lie within the observed range of 'patient_age' (18 to 67)"),
    (["multiverse", EXAMPLE, "--alpha", "2"], "--alpha must be a number between 0 and 0.5"),
])
def test_audited_option_values_are_usage_errors(tmp_path, capsys, argv, start):
    """Audit: these were exit 70 (KeyError, OverflowError, MemoryError), obscure messages
    ("cannot convert float NaN to integer", "SVD did not converge", "rank deficient"), a
    silent exit 0 or a hang."""
    if argv[0] in ("power", "multiverse"):
        argv = [*argv, "--out", tmp_path / "out", "--quiet" if argv[0] == "power" else "--force"]
    code, msg = one_line(capsys, *argv)
    assert code == 2, msg
    assert msg.startswith("alliance: error: " + start), msg
    assert list(tmp_path.iterdir()) == []


def _numeric_options(argv: list[str]) -> list[str]:
    """Every option of a command whose value is a number (int, float) or may be one (--center)."""
    parser = build_parser(argv)
    sub = parser._subparsers._group_actions[0].choices[argv[0]]
    if argv[0] == "fit":
        sub = sub._subparsers._group_actions[0].choices[argv[1]]
    return sorted(max(a.option_strings, key=len) for a in sub._actions
                  if a.option_strings and (a.type in (int, float) or a.dest == "center"
                                           or getattr(a.type, "__name__", "") == "nonnegative_int"))


BASES = {
    "power": ["power", "--quiet", "--out", "{tmp}/p"],
    "simulate": ["simulate", "--out", "{tmp}/s.csv"],
    "multiverse": ["multiverse", str(EXAMPLE), "--out", "{tmp}/m"],
    "lagged": ["fit", "lagged", str(EXAMPLE)],
    "truth-bias": ["fit", "truth-bias", str(EXAMPLE), "--judgment", "alliance_therapist",
                   "--truth", "alliance_patient", "--group", "patient", "--moderator",
                   "patient_age"],
    "rsa": ["fit", "rsa", str(EXAMPLE), *RSA, "--group", "patient", "--time", "session", "--lag", "1",
            "--moderator", "therapist_experience"],
}
FUZZ = [(name, option) for name, base in BASES.items() for option in _numeric_options(base)]


@pytest.mark.parametrize(("name", "option"), FUZZ, ids=[f"{n}{o}" for n, o in FUZZ])
def test_every_numeric_option_refuses_values_it_cannot_use(tmp_path, capsys, name, option):
    """0 exit-70 results on the option cases: every number an option cannot use is exit 2."""
    assert len(FUZZ) >= 20  # the discovery found the options
    base = [a.format(tmp=tmp_path) for a in BASES[name]]
    for value in ("nan", "inf", "-inf", "1e308", "-1e308"):
        code, msg = one_line(capsys, *base, option, value)
        assert code == 2, (option, value, msg)
        assert "internal error" not in msg and option.lstrip("-").split("-")[0] in msg, msg
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv", [["--therapists", "1000000000", "--draws", "2"],
                                  ["--patients-per-therapist", "1e9"]])
def test_a_design_too_large_for_memory_is_refused_at_once(tmp_path, argv):
    """Audit: these ran for more than 150 s without output (no up-front size check)."""
    proc = subprocess.run([sys.executable, "-m", "alliance.cli", "power", *argv, "--out",
                           str(tmp_path / "p")], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "of memory, more than the" in proc.stderr and "Traceback" not in proc.stderr


def test_a_bootstrap_whose_draws_all_fail_is_an_error(monkeypatch, capsys):
    """Audit: `fit rsa --bootstrap 30 --seed -1` exited 0 with "30 of 30 draws failed"."""
    from alliance.rsa import bootstrap

    def failing(draw, rng, *args):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(bootstrap, "_draw", failing)
    code, msg = one_line(capsys, "fit", "rsa", EXAMPLE, *RSA, "--bootstrap", "3")
    assert code == 3
    assert "every one of the 3 bootstrap draws failed, so there is no bootstrap distribution; " \
           "the first: LinAlgError: singular matrix" in msg


def test_a_power_study_whose_draws_all_fail_is_an_error(tmp_path, monkeypatch, capsys):
    """Audit: `power --effect nan` ended in KeyError 'p_g_ther' (every draw had failed)."""
    from alliance.studies import power

    @functools.wraps(power.power_draw)
    def failing(draw, rng, params, alpha):
        raise ValueError("cannot fit")

    monkeypatch.setattr(power, "power_draw", failing)
    code, msg = one_line(capsys, "power", "--therapists", "8", "--draws", "2", "--jobs", "1",
                         "--quiet", "--out", tmp_path / "p")
    assert code == 3
    assert msg.startswith("alliance: fit failed: every one of the 2 draws of design point J8-")
    assert msg.endswith("the first: ValueError: cannot fit")
    assert not (tmp_path / "p").exists()


# =========================================================================== the Monte Carlo store


def _interrupted_power(tmp_path, monkeypatch, capsys, *extra) -> list[str]:
    """Start `power` and interrupt it during its first draw; return its command."""
    from alliance.studies import power

    cmd = ["power", "--therapists", "8", "--draws", "2", "--jobs", "1", "--quiet", "--out",
           str(tmp_path / "pw"), *extra]
    real = power.power_draw

    @functools.wraps(real)
    def stop(draw, rng, params, alpha):
        if draw == 1:
            raise KeyboardInterrupt
        return real(draw, rng, params, alpha)

    monkeypatch.setattr(power, "power_draw", stop)
    assert main(cmd) == 130
    monkeypatch.setattr(power, "power_draw", real)
    capsys.readouterr()
    return cmd


@pytest.mark.parametrize(("change", "differs"), [
    (["--therapists", "10"], "--therapists: stored [8], given [10]"),
    (["--draws", "3"], "--draws: stored 2, given 3"),
    (["--seed", "7"], "--seed: stored 2024, given 7"),
])
def test_resuming_with_other_arguments_is_refused(tmp_path, monkeypatch, capsys, change, differs):
    """Audit: resumed with --therapists 10, the store kept the J8 chunks absent from power.csv;
    resumed with --draws 30 (of 100), store/ held 75 draws and draws.csv 30."""
    cmd = _interrupted_power(tmp_path, monkeypatch, capsys)
    partial = tmp_path / "pw.partial"
    before = {p: p.read_bytes() for p in partial.rglob("*") if p.is_file()}
    code, msg = one_line(capsys, *_with(cmd, *change))
    assert code == 2
    assert f"holds the unfinished draws of another study ({differs} -- it differs); run the " \
           "same command again to resume it, or pass --force to delete it and start clean" in msg
    assert {p: p.read_bytes() for p in partial.rglob("*") if p.is_file()} == before


def _with(cmd: list[str], option: str, value: str) -> list[str]:
    """The command with ``option`` set to ``value`` (replaced, or added)."""
    out = list(cmd)
    if option in out:
        out[out.index(option) + 1] = value
        return out
    return [*out, option, value]


def test_force_starts_a_changed_study_clean(tmp_path, monkeypatch, capsys):
    cmd = _interrupted_power(tmp_path, monkeypatch, capsys)
    assert main([*_with(cmd, "--therapists", "10"), "--force"]) == 0
    out = tmp_path / "pw"
    assert [p.name for p in (out / "store").iterdir()] == ["J10-m2.9-S6-k1"]
    assert set(pd.read_csv(out / "power.csv")["therapists"]) == {10}
    assert len(read_store(out / "store" / "J10-m2.9-S6-k1")) == len(pd.read_csv(
        out / "draws.csv")) == 2
    assert not (tmp_path / "pw.partial").exists() and leftovers(tmp_path) == []


def test_a_second_run_on_the_same_out_is_refused_at_once(tmp_path, capsys, monkeypatch):
    """Audit: a second `power` on the same --out recomputed every draw, then failed with
    "Cannot save file into a non-existent directory"."""
    from alliance.studies import power

    partial = tmp_path / "pw.partial"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from alliance.draws.runner import folder_lock
            with folder_lock({str(partial)!r}):
                print("locked", flush=True)
                sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        calls = []
        monkeypatch.setattr(power, "power_draw", functools.wraps(power.power_draw)(
            lambda *a: calls.append(a)))
        code, msg = one_line(capsys, "power", "--therapists", "8", "--draws", "2", "--quiet",
                             "--out", tmp_path / "pw")
        assert code == 2 and calls == []
        assert msg.startswith(f"alliance: error: --out {tmp_path / 'pw'}: its work folder "
                              f"{partial}: another run (process {holder.pid} on ")
        assert msg.endswith("is writing into it; wait for it to finish, or use another folder")
    finally:
        holder.communicate("", timeout=30)
    # the lock goes with its process: the folder is free again
    with folder_lock(partial):
        pass


def test_a_damaged_chunk_is_named_and_recomputed(tmp_path):
    """Audit: a store chunk cut in half gave pandas' "Error tokenizing data"."""
    store = tmp_path / "store"
    full = run_draws(_draw, 10, seed=3, chunk_size=5, store=store)
    chunk = store / "chunk-0000005-0000009.csv"
    for damage in (lambda b: b[: len(b) // 2], lambda b: b.rsplit(b"\n", 3)[0] + b"\n",
                   lambda b: b.replace(b"\n5,", b"\n15,", 1)):
        chunk.write_bytes(damage(chunk.read_bytes()))
        with pytest.raises(OutputError, match=rf"store {store}: chunk {chunk.name} is damaged"):
            read_store(store)
        with pytest.warns(alliance.AllianceWarning,
                          match=rf"chunk {chunk.name} is damaged \(.*\); it is removed and its "
                                "draws are computed again"):
            again = run_draws(_draw, 10, seed=3, chunk_size=5, store=store)
        pd.testing.assert_frame_equal(again[["draw", "x"]], full[["draw", "x"]])
        pd.testing.assert_frame_equal(read_store(store)[["draw", "x"]], full[["draw", "x"]])


def _draw(draw, rng):
    return {"x": float(rng.normal())}


def test_claim_run_records_and_compares_the_arguments(tmp_path):
    folder = tmp_path / "work"
    assert claim_run(folder, {"a": 1, "b": [1, 2]}) is False
    (folder / "store").mkdir()
    assert claim_run(folder, {"a": 1, "b": (1, 2)}) is True  # the same arguments resume
    with pytest.raises(OutputError, match=r"b: stored \[1, 2\], given \[3\] -- it differs"):
        claim_run(folder, {"a": 1, "b": [3]})
    assert (folder / "store").exists()
    assert claim_run(folder, {"a": 1, "b": [3]}, force=True) is False
    assert sorted(p.name for p in folder.iterdir()) == ["run.json"]


# =========================================================================== outputs and signals


def test_replacing_an_unwritable_folder_leaves_nothing_beside_it(tmp_path, capsys, monkeypatch):
    """Audit: `report --out OLD --force` on an unwritable OLD left an empty .OLD.old-XXXX."""
    from alliance import outputs

    old = tmp_path / "OLD"
    old.mkdir()
    (old / "summary.md").write_text("the previous report")
    real = outputs.os.access
    monkeypatch.setattr(outputs.os, "access",
                        lambda p, mode: False if Path(p) == old else real(p, mode))
    code, msg = one_line(capsys, "report", EXAMPLE, "--out", old, "--force")
    assert code == 2
    assert msg == f"alliance: error: --out {old}: cannot replace the folder (permission denied: " \
                  "it cannot be moved aside); it was left as it was"
    assert (old / "summary.md").read_text() == "the previous report"
    assert leftovers(tmp_path) == []
    # the folder becomes unwritable between the check and the move: still nothing left beside it
    monkeypatch.setattr(outputs.os, "access", real)
    real_replace = outputs.os.replace

    def refuse(src, dst):
        if Path(src) == old:
            raise PermissionError(13, "Permission denied", str(src))
        return real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", refuse)
    with pytest.raises(OutputError, match="cannot move the finished output into place"), \
            atomic_dir(old, force=True) as tmp:
        (tmp / "summary.md").write_text("new")
    assert (old / "summary.md").read_text() == "the previous report"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("when", ["after the move", "during the move"])
def test_a_signal_as_the_output_appears_says_it_is_complete(tmp_path, capsys, monkeypatch, when):
    """Audit: SIGINT just as the finished report appeared said "no output was left
    half-written" although the report was complete."""
    from alliance import cli, outputs

    out = tmp_path / "sim.csv"
    real_move, real_replace = outputs._move_into_place, outputs.os.replace

    def move(*args, **kwargs):
        real_move(*args, **kwargs)
        if when == "after the move":
            cli._on_signal(signal.SIGINT, None)

    def replace(src, dst):
        cli._on_signal(signal.SIGINT, None)  # deferred: the move finishes first
        return real_replace(src, dst)

    monkeypatch.setattr(outputs, "_move_into_place", move)
    if when == "during the move":
        monkeypatch.setattr(outputs.os, "replace", replace)
    code = main(["simulate", "--seed", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 130
    assert err.strip().splitlines() == [
        (f"alliance: interrupted after the output was complete: {out} was written whole; "
         "nothing was left half-written")]
    assert alliance.read_sessions(out)["patient"].nunique() == 117
    assert leftovers(tmp_path) == []


def test_the_command_line_starts_without_heavy_imports():
    """Ctrl-C is handled from the start: `alliance.cli` loads no pandas, NumPy or SciPy before
    `main` installs its handlers."""
    code = ("import sys, alliance.cli; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'pandas', 'numpy', 'scipy', 'matplotlib'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.stdout.strip() == "[]", proc.stderr


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.3, 0.45, 0.6, 0.9])
def test_ctrl_c_at_any_moment_of_a_report_prints_no_traceback(tmp_path, delay):
    """Audit: Ctrl-C within about 0.6 s of starting `report` printed a KeyboardInterrupt
    traceback. The delays count from the first import `alliance.cli` makes (``-X importtime``
    reports it): from then on the program's own handler is in place; before it, Python itself
    is starting and runs none of the program's code."""
    import threading

    out = tmp_path / "report"
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "alliance.cli", "report",
                             str(EXAMPLE), "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    lines: list[str] = []
    started = threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line)
            if line.rstrip().split("|")[-1].strip() == "argparse":  # alliance.cli's, after its handler
                started.set()
        started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert started.wait(120) and proc.poll() is None
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=300)
    reader.join(timeout=30)
    stderr = "".join(ln for ln in lines if not ln.startswith("import time:"))
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == [
        "alliance: interrupted; no output was left half-written"], stderr
    assert not out.exists() and leftovers(tmp_path) == []


# =========================================================================== the cluster path


def test_the_cluster_path_is_documented_as_running_pickles(capsys):
    readme = (ROOT / "README.md").read_text()
    assert "pickle" in readme and "--tls-ca-file" in readme and "your own" in readme
    with pytest.raises(SystemExit):
        build_parser(["power"]).parse_args(["power", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "SECURITY: the work is sent to it pickled" in help_text
    for option in ("--tls-ca-file", "--tls-cert", "--tls-key"):
        assert option in help_text


def _stand_in_tls_client(tmp_path, monkeypatch):
    """Certificate files that are never read and a dask Client that records what it was
    given and fails (no cluster in these tests): what the command hands to Dask."""
    import distributed

    files = {}
    for name in ("ca.pem", "cert.pem", "key.pem"):
        files[name] = tmp_path / name
        files[name].write_text("not read by this test")
    seen = {}

    class Client:
        def __init__(self, address, security=None):
            seen.update(address=address, security=security)
            raise OSError("no cluster in this test")

    monkeypatch.setattr(distributed, "Client", Client)
    return files, seen


def test_tls_settings_reach_the_dask_client(tmp_path, monkeypatch, capsys):
    """`--scheduler tls://...` with certificate options builds a distributed Security object and
    hands it to the Client; a tls:// address without them is refused before anything runs."""
    import distributed

    from alliance.draws import runner

    files, seen = _stand_in_tls_client(tmp_path, monkeypatch)
    code = main(["power", "--therapists", "8", "--draws", "2", "--quiet", "--out",
                 str(tmp_path / "p"), "--scheduler", "tls://127.0.0.1:8786", "--tls-ca-file",
                 str(files["ca.pem"]), "--tls-cert", str(files["cert.pem"]), "--tls-key",
                 str(files["key.pem"])])
    capsys.readouterr()
    assert code == 2 and seen["address"] == "tls://127.0.0.1:8786"
    sec = seen["security"]
    assert isinstance(sec, distributed.security.Security) and sec.require_encryption
    assert (sec.tls_ca_file, sec.tls_client_cert, sec.tls_client_key) == (
        str(files["ca.pem"]), str(files["cert.pem"]), str(files["key.pem"]))
    with pytest.raises(ValueError, match="is a TLS address: give security="):
        runner.run_draws(_draw, 2, seed=1, scheduler="tls://127.0.0.1:8786")
    code, msg = one_line(capsys, "power", "--quiet", "--out", tmp_path / "q", "--scheduler",
                         "tls://127.0.0.1:8786")
    assert code == 2 and "needs --tls-ca-file, --tls-cert, --tls-key" in msg


def test_make_studies_sends_tls_settings_to_the_dask_client(tmp_path, monkeypatch, capsys):
    """The maintenance command that regenerates the frozen studies takes the same
    --scheduler/--tls-* options as `alliance power` (one definition in alliance.cli.common):
    the Security object reaches the Client, and a tls:// address without certificates is
    refused before any draw."""
    import distributed

    from alliance.cli import make_studies
    from alliance.studies import frozen

    files, seen = _stand_in_tls_client(tmp_path, monkeypatch)
    monkeypatch.setattr(frozen, "STUDIES_DIR", tmp_path / "studies")
    study = min(frozen.PLAN)
    args = ["--only", study, "--draws", "2", "--jobs", "1", "--scheduler",
            "tls://127.0.0.1:8786", "--tls-ca-file", str(files["ca.pem"]), "--tls-cert",
            str(files["cert.pem"]), "--tls-key", str(files["key.pem"])]
    with pytest.raises(OSError, match="no cluster in this test"):
        make_studies.main(args)
    sec = seen["security"]
    assert seen["address"] == "tls://127.0.0.1:8786"
    assert isinstance(sec, distributed.security.Security) and sec.require_encryption
    assert (sec.tls_ca_file, sec.tls_client_cert, sec.tls_client_key) == (
        str(files["ca.pem"]), str(files["cert.pem"]), str(files["key.pem"]))
    seen.clear()
    with pytest.raises(SystemExit) as exited:
        make_studies.main(["--only", study, "--scheduler", "tls://127.0.0.1:8786"])
    assert exited.value.code == 2 and not seen
    assert "needs --tls-ca-file, --tls-cert, --tls-key" in capsys.readouterr().err


def _certificates(folder: Path) -> dict[str, str]:
    """A throw-away certificate authority and a certificate for localhost signed by it."""
    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=alliance-test-ca")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.csr", "-subj",
        "/CN=localhost")
    (folder / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf")
    return {k: str(folder / f"{k}.pem") for k in ("ca", "cert", "key")}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make certificates")
def test_draws_on_a_tls_cluster_equal_the_local_draws(tmp_path):
    """A shared cluster can be used safely: the same draws over TLS, and a plain tcp:// client is
    turned away by the TLS scheduler."""
    from distributed import LocalCluster
    from distributed.security import Security

    pem = _certificates(tmp_path)
    server = Security(tls_ca_file=pem["ca"], tls_client_cert=pem["cert"],
                      tls_client_key=pem["key"], tls_scheduler_cert=pem["cert"],
                      tls_scheduler_key=pem["key"], tls_worker_cert=pem["cert"],
                      tls_worker_key=pem["key"], require_encryption=True)
    client = Security(tls_ca_file=pem["ca"], tls_client_cert=pem["cert"],
                      tls_client_key=pem["key"], require_encryption=True)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls://",
                      security=server, dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        remote = run_draws(_draw, 6, seed=1, chunk_size=2, scheduler=cluster.scheduler_address,
                           security=client)
        pd.testing.assert_frame_equal(remote[["draw", "x"]],
                                      run_draws(_draw, 6, seed=1, chunk_size=2)[["draw", "x"]])
        with pytest.raises(OSError):  # plain TCP to a TLS scheduler: no connection
            run_draws(_draw, 2, seed=1, scheduler=cluster.scheduler_address.replace(
                "tls://", "tcp://"))


# =========================================================================== the source


#: Calls that run text as code or objects from bytes, and shells.
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
UNPICKLERS = {"pickle", "cPickle", "cloudpickle", "dill", "marshal", "shelve", "joblib"}


def test_the_source_runs_no_text_and_unpickles_nothing():
    """No eval/exec, no pickle (or marshal, dill, joblib) loads, no shell=True in src/."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(SRC.parent)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Name) and f.id in FORBIDDEN_CALLS:
                    found.append(f"{where}: {f.id}()")
                if isinstance(f, ast.Attribute) and f.attr in ("load", "loads", "Unpickler") and \
                        isinstance(f.value, ast.Name) and f.value.id in UNPICKLERS:
                    found.append(f"{where}: {f.value.id}.{f.attr}()")
                if isinstance(f, ast.Attribute) and f.attr == "read_pickle":
                    found.append(f"{where}: read_pickle()")
                for kw in node.keywords:
                    if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant)
                                                  and kw.value.value is False):
                        found.append(f"{where}: shell=")
                    if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant)
                                                         and kw.value.value is False):
                        found.append(f"{where}: allow_pickle=")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(
                    node, ast.ImportFrom) and node.module else [])
                bad = [n for n in names if n.split(".")[0] in UNPICKLERS]
                if bad:
                    found.append(f"{where}: import {bad}")
    assert found == []
