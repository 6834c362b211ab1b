"""Inference of multilevel response surfaces: df of a1-a5, level-2 variances, regions.

* a1-a5 are linear in b1-b5: their t tests use the fit's degrees of freedom (Satterthwaite by
  default), equal to lmerTest's (``tests/reference/ddf_rsa.json``, ``tests/r/ddf_reference.R``);
  the stationary point, axes, eigenvalues and shifts are nonlinear and keep delta-method z.
* Level-2 variances of a1-a5 in a random-slope model (Nestler et al. 2019), against lme4's
  VarCorr with delta-method SEs from numDeriv and lmerTest's covariance of the variance
  parameters (``tests/r/rsa_level2_reference.R``).
* Regions of significance of a numeric moderator use the t critical value at each boundary's
  own degrees of freedom.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import alliance
from alliance.errors import AllianceWarning
from alliance.rsa import fit_rsa
from alliance.rsa.regions import regions_of_significance

# the stationary-point flag (issue 15) is tested in tests/test_rsa.py; here it is expected noise
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*stationary point lies far outside the data:alliance.errors.AllianceWarning")

HERE = Path(__file__).parent
DATA = HERE / "data"
REF = HERE / "reference"
L2 = ["x.mean", "y.mean", "x2.mean", "xy.mean", "y2.mean"]
A = ["a1", "a2", "a3", "a4", "a5"]


def _nestler():
    cols = ["z", "x.c", "y.c", *L2, "g.s"]
    return alliance.read_table(DATA / "mlrsa_nestler2019_example1.csv", numeric=cols,
                               required=["GroupID"])


@pytest.fixture(scope="module")
def chapter5():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        return fit_rsa(alliance.load_example(), "wellbeing", "alliance_therapist",
                       "alliance_patient", group=["therapist", "patient"], time="session", lag=1,
                       moderator="condition", covariates=["session"])


def test_surface_df_are_lmertest_satterthwaite(chapter5):
    ref = json.loads((REF / "ddf_rsa.json").read_text())
    want = {c["name"]: c for c in ref["contrasts_satterthwaite"]}
    s = chapter5.tables["surface"]
    for level in ("control", "training", "difference"):  # R's names; ours "training - control"
        rows = s[s["level"] == {"difference": "training - control"}.get(level, level)].set_index(
            "term")
        for a in A:
            c = want[f"{a}, {level}"]
            assert rows.loc[a, "df"] == pytest.approx(c["df"], rel=1e-3), (level, a)
            assert rows.loc[a, "se"] == pytest.approx(c["se"], rel=1e-5)
            assert rows.loc[a, "p"] == pytest.approx(c["p"], rel=1e-3)
        # nonlinear quantities: delta-method z
        assert np.isinf(rows.loc[["X0", "p10", "p11", "lambda1"], "df"]).all()
    assert chapter5.info["df"] == "satterthwaite"
    assert "Satterthwaite" in chapter5.info["estimator"]
    coef = chapter5.tables["coefficients"]
    assert np.isfinite(coef["df"]).all() and (coef["df"] > 1).all()


def test_df_z_and_kenward_roger_options():
    data = alliance.load_example()
    kw = {"group": ["therapist", "patient"], "time": "session", "lag": 1,
          "moderator": "condition", "covariates": ["session"]}
    z = fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient", df="z", **kw)
    assert np.isinf(z.tables["surface"]["df"]).all()
    with pytest.raises(ValueError, match="REML"):
        fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient", df="kenward-roger",
                **kw)
    kr = fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient", method="REML",
                 df="kenward-roger", **kw)
    s = kr.tables["surface"].set_index(["level", "term"])
    r = json.loads((REF / "ddf_rsa.json").read_text())  # ML fit in R: only a sanity check here
    assert s.loc[("training", "a1"), "df"] > 1 and np.isfinite(s.loc[("training", "a1"), "df"])
    assert kr.info["df"] == "kenward-roger" and r["method"] == "ML"
    # single level: OLS with z, as the RSA package, whatever df says
    ols = fit_rsa(pd.read_csv(DATA / "rsa_motcon.csv"), "postVA", "ePow", "iPow")
    assert np.isinf(ols.tables["surface"]["df"]).all()


@pytest.mark.slow
def test_level2_variances_match_lme4_and_delta_method():
    ref = json.loads((REF / "rsa_level2_nestler_example1.json").read_text())
    res = fit_rsa(_nestler(), "z", "x.c", "y.c", group="GroupID", random="full", center="none",
                  covariates=L2, method="ML")
    assert res.info["loglik"] == pytest.approx(ref["loglik"], abs=1e-5)
    ours = res.tables["level2_variances"].set_index("term")
    want = pd.DataFrame(ref["level2"]).set_index("term")
    # 21 covariance parameters on a flat likelihood: variances to 1e-4 relative; SEs rest on
    # two numerical Hessians (ours: central differences of the exact gradient; R: numDeriv)
    np.testing.assert_allclose(ours.loc[A, "variance"], want.loc[A, "variance"], rtol=1e-4)
    np.testing.assert_allclose(ours.loc[A, "se"], want.loc[A, "se"], rtol=2e-3)
    # a random-intercept fit has no slopes, hence no such table
    ri = fit_rsa(_nestler(), "z", "x.c", "y.c", group="GroupID", center="none", covariates=L2)
    assert "level2_variances" not in ri.tables


def test_regions_use_the_t_quantile_at_each_boundary():
    # closed form: with df, the boundary solves (c0 + c1 g)^2 = t^2 Var(g)
    r_z = regions_of_significance(1.0, 0.5, 0.04, 0.0, 0.01)
    r_t = regions_of_significance(1.0, 0.5, 0.04, 0.0, 0.01, df=5)
    for r, crit in ((r_z, stats.norm.ppf(0.975)), (r_t, stats.t.ppf(0.975, 5))):
        for g in (r["lower"], r["upper"]):
            assert (1.0 + 0.5 * g) ** 2 == pytest.approx(crit**2 * (0.04 + g * g * 0.01))
    res = fit_rsa(_nestler(), "z", "x.c", "y.c", group="GroupID", center="none", covariates=L2,
                  moderator="g.s", at=[-1, 0, 1])
    reg = res.tables["regions"].set_index("term")
    fit = res.fit
    names = list(fit.coef.index)
    for a in A:
        for side in ("lower", "upper"):
            g = reg.loc[a, side]
            if not np.isfinite(g):
                continue
            nu = reg.loc[a, f"df_{side}"]
            assert np.isfinite(nu) and nu > 1
            # at the boundary the surface parameter's t equals the critical value at its df
            base = {"a1": {"x": 1, "y": 1}, "a2": {"x2": 1, "xy": 1, "y2": 1},
                    "a3": {"x": 1, "y": -1}, "a4": {"x2": 1, "xy": -1, "y2": 1},
                    "a5": {"x2": 1, "y2": -1}}[a]
            L = {t: w for t, w in base.items()}
            L.update({f"{t}:g.s": w * g for t, w in base.items() if f"{t}:g.s" in names})
            row = fit.contrast({"at": L}).iloc[0]
            assert abs(row["statistic"]) == pytest.approx(stats.t.ppf(0.975, row["df"]), rel=1e-6)
            assert row["df"] == pytest.approx(nu, rel=1e-6)


def test_outer_random_slopes(chapter5):
    data = alliance.load_example()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        res = fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient",
                      group=["therapist", "patient"], time="session", lag=1,
                      moderator="condition", covariates=["session"], outer_random="diagonal")
    vc = res.tables["variance_components"]
    ther = vc[vc["group"] == "therapist"]
    assert list(ther["term1"]) == ["Intercept", "x", "y", "x2", "xy", "y2"]
    assert res.fit.loglik >= chapter5.fit.loglik - 1e-6  # nests the intercept-only model
    with pytest.raises(ValueError, match="outermost"):
        fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient", group="patient",
                time="session", lag=1, outer_random="full")
    with pytest.raises(ValueError, match="outer_random"):
        fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient",
                group=["therapist", "patient"], time="session", lag=1, outer_random="some")


def test_cli_df(capsys):
    from alliance.cli import main

    args = ["fit", "rsa", str(alliance.example_path()), "--outcome", "wellbeing", "--x",
            "alliance_therapist", "--y", "alliance_patient", "--group", "therapist", "--group",
            "patient", "--time", "session", "--lag", "1", "--moderator", "condition",
            "--covariate", "session", "--json"]
    assert main(args + ["--df", "z"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert all(r["df"] is None for r in out["surface"])
    assert main(args + ["--df", "kenward-roger", "--method", "reml"]) == 0
    out = json.loads(capsys.readouterr().out)
    a1 = [r for r in out["surface"] if r["term"] == "a1"]
    assert all(r["df"] > 1 for r in a1) and out["info"]["df"] == "kenward-roger"
    # Kenward-Roger on an ML fit is a usage error (exit 2), not a traceback
    assert main(args + ["--df", "kenward-roger"]) == 2
    assert "REML" in capsys.readouterr().err
