"""The multiverse of specifications (issue 14, part 3): the function, its figure and its command."""

from __future__ import annotations

import dataclasses
import json
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

import alliance
import alliance.provenance
from alliance.cli import main
from alliance.data.example import write_sessions
from alliance.errors import AllianceWarning, FitError
from alliance.findings import PAPER_MODELS, PRIMARY_TESTS, primary_tests
from alliance.studies import multiverse as mv
from alliance.synthetic.scenarios import scenario_params
from alliance.synthetic.simulate import simulate

matplotlib.use("Agg")


def _quiet(fn, *args, **kwargs):
    """Run ``fn`` recording the package's warnings (the models' boundary fits are expected)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AllianceWarning)
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in caught if issubclass(w.category, AllianceWarning)]


@pytest.fixture(scope="module")
def example():
    return alliance.load_example()


@pytest.fixture(scope="module")
def small(example):
    res, _ = _quiet(mv.multiverse, example, grid="small")
    return res


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A second simulated trial (the book's model, another seed) and a null-scenario trial."""
    root = tmp_path_factory.mktemp("multiverse-data")
    paths = {"shipped": alliance.example_path()}
    for name, params, seed in (("simulated", scenario_params("default"), 5),
                               ("null", scenario_params("null"), 11)):
        paths[name] = write_sessions(simulate(params, seed=seed), root / f"{name}.csv")
    return paths


# ---------------------------------------------------------------------------- the function


def test_book_specification_equals_the_direct_fit(example, small):
    """The book's row of each finding is the fit of findings.PAPER_MODELS (Satterthwaite)."""
    models = {PRIMARY_TESTS[key].model for key in mv.FINDINGS.values()}
    assert models == {"growth_therapist", "truth_bias", "rsa_within"}
    fits, _ = _quiet(lambda: {m: PAPER_MODELS[m](example, 0.95) for m in models})
    direct = primary_tests(fits)
    specs = small.tables["specifications"]
    for finding, key in mv.FINDINGS.items():
        book = specs[(specs["finding"] == finding) & specs["book"]]
        assert len(book) == 1 and book["df_method"].iloc[0] == "satterthwaite"
        row = book.iloc[0]
        assert row["term"] == key and key in PRIMARY_TESTS
        for col in ("est", "se", "p", "df"):
            got = row["estimate" if col == "est" else col]
            assert got == pytest.approx(direct[f"{col}_{key}"], rel=1e-10, abs=1e-12), (key, col)


def test_every_choice_changes_the_model(small):
    """Each alternative of each choice, varied alone, gives another estimate, SE or test."""
    specs = small.tables["specifications"]
    for fam in mv.CHOICES.values():
        for finding in fam.findings:
            sub = specs[specs["finding"] == finding]
            book = sub[sub["book"]].iloc[0]
            for choice, values in {**fam.choices, "df_method": ("z",)}.items():
                for v in values[1:] if choice != "df_method" else values:
                    others = [c for c in fam.choices if c != choice]
                    sel = (sub[choice] == v) & (sub[others] == book[others]).all(axis=1)
                    if choice != "df_method":
                        sel &= sub["df_method"] == "satterthwaite"
                    rows = sub[sel]
                    assert len(rows) == 1, (finding, choice, v)
                    r = rows.iloc[0]
                    assert r["error"] == ""
                    before = np.array([book["estimate"], book["se"], book["p"]])
                    after = np.array([r["estimate"], r["se"], r["p"]])
                    assert not np.allclose(before, after, rtol=1e-9, atol=0), (finding, choice, v)


def test_the_choices_that_matter_change_the_estimate(small):
    """Not only the test: the within/between split, prior control, centring and the lag rule
    move the surface's a1 itself, and the residual structure the growth difference."""
    specs = small.tables["specifications"]
    sat = specs[specs["df_method"] == "satterthwaite"]
    book3 = sat[(sat["finding"] == 3) & sat["book"]]["estimate"].iloc[0]
    for choice, value in (("within_between", "raw"),
                          ("prior_control", "prior well-being"), ("centring", "none"),
                          ("lag_rule", "gaps allowed")):
        est = sat[(sat["finding"] == 3) & (sat[choice] == value)]["estimate"]
        assert len(est) == 1 and abs(est.iloc[0] - book3) > 1e-3, choice
    gaps = sat[(sat["finding"] == 3) & (sat["lag_rule"] == "gaps allowed")]["n_obs"].iloc[0]
    strict = sat[(sat["finding"] == 3) & sat["book"]]["n_obs"].iloc[0]
    assert gaps > strict  # bridging an unrated session keeps rows the strict rule drops


def test_agreement_is_direction_and_significance(example, small):
    specs = small.tables["specifications"]
    ok = specs[specs["error"] == ""]
    expected = (ok["estimate"] > 0) & (ok["p"] < small.alpha)
    assert (ok["agrees"] == expected).all()
    assert ok["agrees"].any() and not ok["agrees"].all()  # both kinds occur on these data
    summ = small.tables["summary"].set_index("finding")
    for f, sub in ok.groupby("finding"):
        assert summ.loc[f, "share_agreeing"] == pytest.approx(sub["agrees"].mean())
        assert summ.loc[f, "fitted"] == len(sub) and summ.loc[f, "agreeing"] == sub["agrees"].sum()
        # the two halves of agreement, counted apart (the chapter reports both)
        assert summ.loc[f, "in_direction"] == (sub["estimate"] > 0).sum()
        assert summ.loc[f, "significant"] == (sub["p"] < small.alpha).sum()
        assert summ.loc[f, "agreeing"] <= min(summ.loc[f, "in_direction"], summ.loc[f, "significant"])
    # the book's arm difference in a1 is positive with p above .05: alpha decides whether it agrees
    p4 = summ.loc[4, "book_p"]
    assert summ.loc[4, "book_estimate"] > 0 and 0.05 < p4 < 0.5
    assert not summ.loc[4, "book_agrees"]
    loose, _ = _quiet(mv.multiverse, example, findings=[4], grid="small", alpha=p4 + 0.01)
    assert bool(loose.tables["summary"]["book_agrees"].iloc[0])


def test_an_unfittable_specification_is_recorded_with_its_error(example, monkeypatch):
    fam = mv.CHOICES["truth_bias"]

    def fit(data, s, cl):
        if s["therapist_level"] == "intercept + slope":
            raise FitError("planted: the therapist slope cannot be estimated")
        return fam.fit(data, s, cl)

    monkeypatch.setitem(mv.CHOICES, "truth_bias", dataclasses.replace(fam, fit=fit))
    res, _ = _quiet(mv.multiverse, example, findings=[2], grid="small")
    specs = res.tables["specifications"]
    bad = specs[specs["therapist_level"] == "intercept + slope"]
    assert len(bad) == 3  # REML: three df methods, each recorded
    assert bad["error"].str.contains("FitError: planted").all()
    assert bad["estimate"].isna().all() and not bad["agrees"].any()
    summ = res.tables["summary"].iloc[0]
    assert summ["specifications"] == len(specs) and summ["fitted"] == len(specs) - 3
    assert res.info["failed"] == 3 and not res.converged


def test_grids_and_choices_table():
    small, full = mv.specifications("small"), mv.specifications("full")
    for name, fam in mv.CHOICES.items():
        book = {c: v[0] for c, v in fam.choices.items()}
        assert small[name][0] == book and full[name][0] == book
        assert len(small[name]) == 1 + sum(len(v) - 1 for v in fam.choices.values())
        assert all(s in full[name] for s in small[name])
    assert len(full["rsa"]) == 3 * 3 * 2 * 2 * 2 * 2
    # anchoring (a rating lagged by session) needs the session control: 3 x 2 x (2 + 1)
    assert len(full["growth"]) == 18 and len(full["truth_bias"]) == 18
    assert not any(s["prior_control"] != "none" and s["session_control"] == "no"
                   for s in full["truth_bias"])
    table = mv.choices_table()
    assert set(table["finding"]) == {1, 2, 3, 4}
    assert "lag_rule" not in set(table[table["finding"] == 1]["choice"])
    with pytest.raises(ValueError, match="grid"):
        mv.specifications("medium")


def test_bad_arguments_and_bad_data(tmp_path):
    with pytest.raises(ValueError, match="findings"):
        mv.multiverse(alliance.example_path(), findings=[5])
    with pytest.raises(ValueError, match="alpha"):
        mv.multiverse(alliance.example_path(), alpha=1.5)
    bad = tmp_path / "bad.csv"
    text = alliance.example_path().read_text().splitlines()
    head = text[0].split(",")
    cells = text[3].split(",")
    cells[head.index("alliance_patient")] = "9.5"
    bad.write_text("\n".join([text[0], *text[1:3], ",".join(cells), *text[4:]]) + "\n")
    with pytest.raises(alliance.DataError, match="bad.csv"):
        mv.multiverse(bad, grid="small")


@pytest.mark.slow
def test_full_grid_on_the_shipped_data(example, small):
    res, caught = _quiet(mv.multiverse, example, grid="full")
    specs = res.tables["specifications"]
    assert res.info["fits"] == 180 and res.info["failed"] == 0
    assert (specs.groupby("finding").size() == pd.Series({1: 45, 2: 45, 3: 360, 4: 360})).all()
    # the book's rows are the same in both grids
    a = specs[specs["book"]].set_index("finding")[["estimate", "se", "p"]]
    b = small.tables["specifications"]
    b = b[b["book"]].set_index("finding")[["estimate", "se", "p"]]
    pd.testing.assert_frame_equal(a, b)
    assert all(m.startswith("multiverse, finding") for m in caught)


# ---------------------------------------------------------------------------- the figure


def test_specification_curve_figure(small):
    from alliance.plots.multiverse import plot_specification_curve

    for f in (1, 3):
        fig = plot_specification_curve(small, f)
        top, bottom = fig.axes
        n = int((small.tables["specifications"]["finding"] == f).sum())
        assert len(top.collections) >= 2 and bottom.get_xlim()[1] == n
        labels = [t.get_text() for t in bottom.get_yticklabels()]
        assert any(lab.startswith("df: ") for lab in labels)
        assert (f == 3) == any(lab.startswith("lag rule") for lab in labels)
        matplotlib.pyplot.close(fig)


# ---------------------------------------------------------------------------- the command


def _cli(argv):
    with warnings.catch_warnings():
        warnings.simplefilter("always", AllianceWarning)
        return main(argv)


@pytest.mark.parametrize("which", ["shipped", "simulated", "null"])
def test_command_on_three_files(files, which, tmp_path, capsys):
    out = tmp_path / "mv"
    assert _cli(["multiverse", str(files[which]), "--out", str(out), "--grid", "small"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["choices.csv", "manifest.json", *[f"specification_curve_finding{k}.png"
                                                         for k in (1, 2, 3, 4)],
                       "specifications.csv", "summary.csv"]
    specs = pd.read_csv(out / "specifications.csv", keep_default_na=False, na_values=[""])
    summary = pd.read_csv(out / "summary.csv")
    assert set(specs["finding"]) == {1, 2, 3, 4} and len(summary) == 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "alliance multiverse" and manifest["grid"] == "small"
    assert manifest["provenance"]["input_sha256"] == alliance.provenance.sha256(files[which])
    assert "share_agreeing" in capsys.readouterr().out


def test_command_refuses_an_existing_out_and_replaces_it_with_force(files, tmp_path, capsys):
    out = tmp_path / "mv"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    argv = ["multiverse", str(files["shipped"]), "--out", str(out), "--grid", "small",
            "--findings", "2"]
    assert _cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "not empty" in err[0]
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    assert _cli(argv + ["--force"]) == 0
    assert "mine.txt" not in {p.name for p in out.iterdir()}
    assert (out / "specification_curve_finding2.png").exists()


def test_command_fails_cleanly_on_an_invalid_file(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("therapist,patient,condition,session,alliance_patient,alliance_therapist,"
                   "wellbeing\nt1,p1,training,1,4.0,4.1,20\nt1,p1,training,2,4.2,7.5,22\n")
    out = tmp_path / "mv"
    assert _cli(["multiverse", str(bad), "--out", str(out), "--grid", "small"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "bad.csv" in lines[0] and "alliance_therapist" in lines[0]
    assert "[rule:" in lines[0] and "row" in lines[0]
    assert not out.exists()


def test_command_output_is_all_or_nothing(files, tmp_path, monkeypatch, capsys):
    """A failure while the folder is written (here: the last figure) leaves no folder at all,
    and with --force leaves the old folder exactly as it was."""
    import alliance.plots.multiverse as plots

    real = plots.plot_specification_curve

    def broken(res, finding):
        if finding == 2:
            raise OSError(28, "No space left on device")
        return real(res, finding)

    monkeypatch.setattr(plots, "plot_specification_curve", broken)
    out = tmp_path / "mv"
    argv = ["multiverse", str(files["shipped"]), "--out", str(out), "--grid", "small",
            "--findings", "1", "2"]
    assert _cli(argv) == 2
    assert not out.exists() and list(tmp_path.iterdir()) == []
    out.mkdir()
    (out / "old.csv").write_text("old")
    assert _cli(argv + ["--force"]) == 2
    assert [p.name for p in out.iterdir()] == ["old.csv"]
    assert len(list(tmp_path.iterdir())) == 1


# ---------------------------------------------------------------------------- the lag rule


def test_bridged_lag_skips_unrated_and_missed_sessions():
    from alliance.data.lags import lag

    d = pd.DataFrame({"patient": ["a"] * 4 + ["b"] * 3, "session": [1, 2, 3, 5, 1, 2, 3],
                      "x": [1.0, np.nan, 3.0, 5.0, 10.0, 11.0, 12.0]})
    strict = lag(d, "x")["x_lag1"].to_numpy()
    bridged = lag(d, "x", bridge=["x"])
    np.testing.assert_array_equal(strict, [np.nan, 1.0, np.nan, np.nan, np.nan, 10.0, 11.0])
    np.testing.assert_array_equal(bridged["x_lag1"], [np.nan, 1.0, 1.0, 3.0, np.nan, 10.0, 11.0])
    assert bridged.attrs["lag"]["n_bridged"] == 2  # a3 skips a2 (unrated), a5 skips the missed a4


def test_gaps_allowed_equals_strict_without_gaps(example):
    """Where every session is present and rated, both lag rules give the same surface."""
    complete = example.dropna(subset=["alliance_patient", "alliance_therapist"])
    complete = complete[complete.groupby("patient")["session"].transform(
        lambda s: (s.diff().fillna(1) == 1).all())]
    kw = {"x": "alliance_therapist", "y": "alliance_patient", "group": ["therapist", "patient"],
          "time": "session", "lag": 1, "moderator": "condition",
          "moderator_levels": ["control", "training"], "covariates": ["session"]}
    (a, b), _ = _quiet(lambda: [alliance.rsa.fit_rsa(complete, "wellbeing", **kw, lag_gaps=g)
                                for g in (False, True)])
    assert a.info["rows_used"] == b.info["rows_used"]
    assert a.value("a1", "training", table="surface") == pytest.approx(
        b.value("a1", "training", table="surface"), rel=1e-12)
    assert b.info["lag_report"]["n_bridged"] == 0
