"""Within-patient, raw lagged and prior-outcome surfaces: fits, draws and their recovery summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance import DataError
from alliance.draws import binomial_ci, read_store, run_draws
from alliance.studies.specifications import (
    SPECIFICATIONS,
    TERMS,
    fit_specification,
    specification_draw,
    specification_recovery,
)
from alliance.synthetic.scenarios import scenario_params


def _store(est: dict, se=1.0, df=np.inf, p=None, error=None) -> pd.DataFrame:
    """Draws with the columns of every term of the given specifications (prefix -> estimates)."""
    n = len(next(iter(est.values())))
    out = pd.DataFrame({"draw": range(n), "error": error or [""] * n, "warnings": "",
                        "seconds": 0.1})
    for prefix, values in est.items():
        for key in TERMS:
            out[f"est_{prefix}{key}"] = values
            out[f"se_{prefix}{key}"] = se
            out[f"df_{prefix}{key}"] = df
            out[f"p_{prefix}{key}"] = p if p is not None else [0.5] * n
    return out


def test_recovery_of_known_values():
    # truth a1 = 3 in the training arm: estimates 2, 3, 4, 5 (bias 0.5), every SE 1.
    # z intervals (df inf) cover 2, 3 and 4 (|e - 3| <= 1.96) but not 5 (|5 - 3| = 2).
    draws = _store({"": [2.0, 3.0, 4.0, 5.0]}, p=[0.01, 0.2, 0.04, 0.9])
    rec = specification_recovery(draws)
    row = rec.rows(specification="within", term="a1_training").iloc[0]
    assert row["truth"] == 3.0
    assert row["estimate"] == pytest.approx(3.5)
    assert row["bias"] == pytest.approx(0.5)
    assert row["emp_sd"] == pytest.approx(np.std([2, 3, 4, 5], ddof=1))
    assert row["se"] == pytest.approx(np.std([2, 3, 4, 5], ddof=1) / 2)
    assert row["mean_se"] == pytest.approx(1.0)
    assert row["coverage"] == pytest.approx(0.75)
    assert (row["coverage_low"], row["coverage_high"]) == pytest.approx(binomial_ci(3, 4))
    assert row["rejection"] == pytest.approx(0.5)  # p = .01 and .04 below .05
    assert (row["n"], row["failed"]) == (4, 0)
    # the control arm's truth is 0: estimates 2..5 with SE 1 are all outside except 0 +- 1.96
    ctrl = rec.rows(specification="within", term="a1_control").iloc[0]
    assert ctrl["truth"] == 0.0 and ctrl["bias"] == pytest.approx(3.5)
    assert ctrl["coverage"] == 0.0
    # only the specification whose columns are present is summarised
    assert set(rec.estimates["specification"]) == {"within"}


def test_coverage_uses_the_stored_degrees_of_freedom():
    # with 10 df the critical value is t(.975, 10) = 2.228 > 2: the estimate 5 is covered too
    rec = specification_recovery(_store({"raw_": [2.0, 3.0, 4.0, 5.0]}, df=10.0))
    assert rec.value("a1_training", specification="raw", column="coverage") == 1.0
    # a wider conf_level never covers less
    narrow = specification_recovery(_store({"raw_": [2.0, 3.0, 4.0, 5.0]}), conf_level=0.5)
    assert narrow.value("a1_training", specification="raw", column="coverage") == 0.25


def test_failed_draws_are_counted_not_used():
    draws = _store({"": [3.0, 3.0, 100.0], "raw_": [3.0, 3.0, 100.0]},
                   error=["", "", "FitError: degenerate"])
    draws.loc[1, "est_raw_a1_training"] = np.nan
    rec = specification_recovery(draws)
    within = rec.rows(specification="within", term="a1_training").iloc[0]
    raw = rec.rows(specification="raw", term="a1_training").iloc[0]
    assert (within["n"], within["failed"], within["estimate"]) == (2, 1, 3.0)
    assert (raw["n"], raw["failed"], raw["estimate"]) == (1, 2, 3.0)
    assert np.isnan(raw["emp_sd"])


def test_truth_follows_the_scenario():
    draws = _store({"": [1.5, 1.5]})
    rec = specification_recovery(draws, scenario_params("control_association"))
    assert rec.value("a1_control", specification="within", column="truth") == 1.5
    assert rec.value("a1_control", specification="within", column="bias") == 0.0
    null = specification_recovery(draws, scenario_params("null"))
    assert null.value("a4_training", specification="within", column="truth") == 0.0


def test_draws_without_the_columns_are_refused():
    with pytest.raises(DataError, match=r"specification-columns"):
        specification_recovery(pd.DataFrame({"draw": [0], "error": [""], "est_g_ther": [1.0]}))
    partial = _store({"raw_": [1.0]}).drop(columns=["df_raw_a4_training"])
    with pytest.raises(DataError, match=r"df_raw_a4_training.*'raw'"):
        specification_recovery(partial)
    with pytest.raises(DataError, match="'prior'"):
        specification_recovery(_store({"": [1.0]}), specs=["prior"])
    with pytest.raises(ValueError, match="unknown specification"):
        specification_recovery(_store({"": [1.0]}), specs=["between"])


def test_raw_within_and_prior_fits_differ_on_the_example():
    data = alliance.load_example()
    fits = {name: fit_specification(data, name) for name in ("raw", "within")}
    with pytest.warns(alliance.AllianceWarning, match="boundary"):
        fits["prior"] = fit_specification(data, "prior")
    within, raw, prior = fits["within"], fits["raw"], fits["prior"]
    means = ["mean_x", "mean_y", "mean_x2", "mean_xy", "mean_y2"]
    assert [t for t in within.beta.index if t.startswith("mean_")] == [
        *means, *(f"{m}:condition=training" for m in means)]
    assert not any(t.startswith("mean_") for t in raw.beta.index)
    assert "wellbeing_lag1" in prior.beta.index
    # the same rows: patient means add columns, not rows; the prior outcome needs s-2 too
    assert within.info["rows_used"] == raw.info["rows_used"]
    assert prior.info["rows_used"] < raw.info["rows_used"]
    a1 = {k: r.value("a1", "training", table="surface") for k, r in fits.items()}
    assert abs(a1["raw"] - a1["within"]) > 0.05
    assert abs(a1["raw"] - a1["prior"]) > 0.5
    with pytest.raises(ValueError, match="unknown specification"):
        fit_specification(data, "between")


def test_specification_draw_rows_and_reproducibility():
    params = scenario_params("default")
    one = specification_draw(3, np.random.default_rng(7), params, specs=("within", "raw"))
    again = specification_draw(3, np.random.default_rng(7), params, specs=("within", "raw"))
    assert one == again
    for name in ("within", "raw"):
        prefix = SPECIFICATIONS[name][0]
        for key in TERMS:
            for c in ("est", "se", "df", "p"):
                assert np.isfinite(one[f"{c}_{prefix}{key}"])
    assert one["est_a1_training"] != one["est_raw_a1_training"]
    assert not any(k.startswith("est_prior_") for k in one)


def test_within_recovers_the_control_arm_when_level_is_confounded(tmp_path):
    """Stable alliance level confounded with well-being (scenario confounded_level): the raw
    lagged surface credits the control arm with an association (truth 0), the within-patient
    surface does not. Paired over the same synthetic trials, the raw - within difference is
    far less noisy than either mean, so 40 draws show it."""
    params = scenario_params("confounded_level")
    run_draws(specification_draw, 40, seed=2023, args=(params,), store=tmp_path / "store")
    draws = read_store(tmp_path / "store")
    assert (draws["error"] == "").all()
    rec = specification_recovery(draws, params)
    within = rec.rows(specification="within", term="a1_control").iloc[0]
    raw = rec.rows(specification="raw", term="a1_control").iloc[0]
    assert abs(within["estimate"]) < 3 * within["se"]  # 0 within Monte Carlo error
    assert within["coverage_high"] >= 0.95 and raw["n"] == 40
    diff = draws["est_raw_a1_control"] - draws["est_a1_control"]
    assert diff.mean() > 3 * diff.std(ddof=1) / np.sqrt(len(diff)) > 0
    assert raw["bias"] > within["bias"]
    paired = rec.rows("differences", specification="raw - within", term="a1_control").iloc[0]
    assert paired["estimate"] == pytest.approx(diff.mean()) and paired["p"] < 0.001


def test_contour_figure_of_two_specifications_shares_one_scale():
    import matplotlib.pyplot as plt

    from alliance.plots.rsa import plot_contour_specifications

    data = alliance.load_example()
    fits = {"raw lagged": fit_specification(data, "raw"),
            "within-patient": fit_specification(data, "within")}
    fig = plot_contour_specifications(fits, "training")
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert [t.get_text() for ax in panels for t in ax.texts] == ["raw lagged", "within-patient"]
    limits = {tuple(ax.collections[0].get_clim()) for ax in panels}
    assert len(limits) == 1  # one colour scale for both panels
    plt.close(fig)
    fig = plot_contour_specifications(fits, ["control", "training"])
    assert len([ax for ax in fig.axes if ax.get_xlabel()]) == 4
    plt.close(fig)


def test_paired_differences_between_specifications():
    draws = _store({"": [1.0, 2.0, 3.0, 4.0], "raw_": [1.5, 2.5, 3.0, 5.0]})
    diff = specification_recovery(draws).tables["differences"]
    row = diff[(diff["specification"] == "raw - within") & (diff["term"] == "a1_control")].iloc[0]
    d = np.array([0.5, 0.5, 0.0, 1.0])
    assert row["estimate"] == pytest.approx(d.mean())
    assert row["se"] == pytest.approx(d.std(ddof=1) / 2)
    from scipy import stats
    assert row["p"] == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue)
    assert (row["n"], row["df"]) == (4, 3)
    assert specification_recovery(_store({"raw_": [1.0, 2.0]})).tables["differences"].empty


def test_recovery_figure_has_a_panel_per_term_and_a_row_per_specification():
    import matplotlib.pyplot as plt

    from alliance.plots.specifications import plot_recovery

    rec = pd.concat([specification_recovery(_store({"": [2.0, 3.0], "raw_": [3.0, 4.0]}))
                     .tables["recovery"].assign(scenario=s) for s in ("default", "confounded")])
    fig = plot_recovery(rec)
    assert len(fig.axes) == 3
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["default: within", "default: raw", "confounded: within", "confounded: raw"]
    plt.close(fig)


def test_confounded_level_changes_no_lagged_effect():
    """The scenario's docstring: a between-patient association only, the surface is the default's."""
    assert scenario_params("confounded_level").truth() == scenario_params("default").truth()
    assert (scenario_params("confounded_level").level_wellbeing_corr
            > scenario_params("default").level_wellbeing_corr)


def test_findings_draws_carry_the_same_tests_as_specification_draws():
    """The frozen findings studies record the within-patient (no prefix) and raw lagged
    (``raw_``) surface tests: the same numbers as specification_draw for the same draw, so
    specification_recovery reads either store."""
    from alliance.findings import findings_draw

    params = scenario_params("confounded_level")
    findings = run_draws(findings_draw, 2, seed=11, args=(params,))
    ours = run_draws(specification_draw, 2, seed=11, args=(params,))
    for name in ("within", "raw"):
        prefix = SPECIFICATIONS[name][0]
        for key in TERMS:
            for c in ("est", "se", "df", "p"):
                col = f"{c}_{prefix}{key}"
                np.testing.assert_allclose(findings[col], ours[col], rtol=1e-10, err_msg=col)
    rec = specification_recovery(findings, params)
    assert set(rec.estimates["specification"]) == {"within", "raw"}
    assert (rec.estimates["n"] == 2).all()


def test_within_patient_surface_against_lme4():
    """Chapter 5's within-patient surface on the shipped data against lme4 + lmerTest
    (tests/r/rsa_within_reference.R -> tests/reference/rsa_within_chapter5.json).

    Tolerances: estimates 1e-6 and SEs 1e-5 relative, as the chapter-5 model's lme4 test
    (tests/test_rsa.py; both optimisers stop at gradient ~1e-8 of a flat ML surface);
    log-likelihood 1e-6 absolute; Satterthwaite df 1e-3 relative (lmerTest's numerical
    Hessian of the variance parameters, ddf tests in tests/test_mixed_ddf.py use the same)."""
    import json
    from pathlib import Path

    ref = json.loads((Path(__file__).parent / "reference" / "rsa_within_chapter5.json").read_text())
    res = fit_specification(alliance.load_example(), "within")
    assert res.n_obs == ref["n"]
    assert res.info["center_x"] == pytest.approx(ref["center"], rel=1e-12)
    assert res.info["loglik"] == pytest.approx(ref["loglik"], abs=1e-6)
    coef = dict(zip(ref["terms"], ref["coef"]))
    for t in ("mean_x", "mean_y", "mean_x2", "mean_xy", "mean_y2", "session"):
        assert res.beta[t] == pytest.approx(coef[t], rel=1e-6, abs=1e-6), t
    r = pd.DataFrame(ref["surface"]).set_index(["level", "term"])
    s = res.tables["surface"].set_index(["level", "term"])
    for level, ours in (("control", "control"), ("training", "training"),
                        ("difference", "training - control")):
        for t in ("a1", "a2", "a3", "a4", "a5"):
            mine, theirs = s.loc[(ours, t)], r.loc[(level, t)]
            assert mine["estimate"] == pytest.approx(theirs["estimate"], rel=1e-6, abs=1e-6)
            assert mine["se"] == pytest.approx(theirs["se"], rel=1e-5)
            assert mine["df"] == pytest.approx(theirs["df"], rel=1e-3)
            assert mine["p"] == pytest.approx(theirs["p"], rel=1e-3, abs=1e-6)


def test_within_surface_ignores_a_between_patient_association_in_one_arm():
    """Each arm's within-patient a1..a5 do not move when well-being gets a patient-level
    shift tied to the patient's mean alliance in the training arm only (a between-patient
    association): the patient means enter interacted with the arm."""
    data = alliance.load_example()
    shift = data.groupby("patient")[["alliance_therapist", "alliance_patient"]].transform("mean")
    level = (shift["alliance_therapist"] + shift["alliance_patient"]) / 2
    moved = data.copy()
    trained = (moved["condition"] == "training").to_numpy()
    # 4 ORS points per alliance point between patients, training arm only
    moved.loc[trained, "wellbeing"] = (moved.loc[trained, "wellbeing"]
                                       + 4.0 * (level[trained] - level.mean())).round(1)
    moved["wellbeing"] = moved["wellbeing"].clip(0, 40)
    before = fit_specification(data, "within").tables["surface"].set_index(["level", "term"])
    after = fit_specification(moved, "within").tables["surface"].set_index(["level", "term"])
    for lvl in ("control", "training", "training - control"):
        # not exact: session (a covariate that varies within patients) is estimated from
        # within and between information, and the rounding to 0.1 moves single values;
        # 0.15 ORS points per alliance point is < 0.1 SE of a1
        assert after.loc[(lvl, "a1"), "estimate"] == pytest.approx(
            before.loc[(lvl, "a1"), "estimate"], abs=0.15), lvl
