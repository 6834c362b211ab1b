"""Scaled likelihood-ratio tests and the piecewise models of the RSA family, against RSA/lavaan.

Evidence:

* ``tests/reference/rsa_package_{motcon,motcon2,selfother}.json`` (tests/r/rsa_package_reference.R):
  RSA's own ``compare()`` on the second-order family, whose tests are lavaan's
  ``lavTestLRT(method = "default")`` under the default estimator ``MLR``: Satorra-Bentler (2001)
  scaled differences of the Yuan-Bentler (Mplus) scaled chi-squares;
* ``tests/reference/rsa_package_lrt.json`` (tests/r/rsa_lrt_reference.R): every model's
  scaling factor against the unrestricted model and ``lavTestLRT`` for every nested pair the
  package tests, second-order and cubic, fitted with tight optimiser control and the exactly
  inverted constrained information (see tests/test_rsa_family.py on SRRR/SRSQD); and RSA's
  piecewise models absdiff/absunc (coefficients, SEs, log-likelihood, their scaled test);
* ``tests/reference/rsa_package_weak_strong.json`` (tests/r/rsa_weak_strong_reference.R): RSA's
  ``weak`` and ``strong`` fit patterns (in its ``models = "all"``), on the three data sets and on
  motcon with b5 flipped positive, where weak's inequality binds;
* ``tests/reference/rsa_package_diff_mean.json`` (tests/r/rsa_diff_mean_reference.R): RSA's
  documented ``diff`` and ``mean`` models, outside its default family.

Tolerances: the statistics are smooth functions of maximum-likelihood estimates that lavaan
finds iteratively with its default tolerances (SRRR/SRSQD in the new reference with tight ones),
to ~1e-7 relative in the estimates; scaled statistics and scaling factors agree to 1e-5 relative
(measured: <= 6e-6), p values to 1e-6 absolute (measured: <= 5e-7); the piecewise coefficients to 1e-6 relative or
1e-7 absolute (a coefficient of -0.002 with SE 0.02 differs by 2e-8), SEs to 1e-5 relative.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance.rsa import fit_rsa

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*stationary point lies far outside the data:alliance.errors.AllianceWarning")

_spec = importlib.util.spec_from_file_location("rsa_cases", Path(__file__).with_name("rsa_cases.py"))
rsa_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rsa_cases)
DATA, REF, CASES, load = rsa_cases.DATA, rsa_cases.REF, rsa_cases.CASES, rsa_cases.load


def fitted(name, family="default", se="hc0"):
    return rsa_cases.fit(name, family, se)


def lrt_ref():
    return json.loads((REF / "rsa_package_lrt.json").read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_scaled_tests_match_rsa_compare(name):
    cmp = pd.DataFrame(json.loads((REF / f"rsa_package_{name}.json").read_text())["compare"])
    tests = fitted(name).tables["model_tests"].set_index(["smaller", "larger"])
    fam = fitted(name).tables["models"].set_index("model")
    checked = 0
    for _, block in cmp.groupby("set", sort=False):
        block = block.reset_index(drop=True)
        for i in range(1, len(block)):  # compare() tests each model against the one above it
            larger, smaller = block.loc[i - 1, "model"], block.loc[i, "model"]
            if smaller == larger or not np.isfinite(block.loc[i, "chisq_diff"]):
                continue
            if {smaller, larger} & {"SRRR", "SRSQD"}:
                continue  # lavaan's default tolerances leave these off the optimum: next test
            if (smaller, larger) in tests.index:
                got = tests.loc[(smaller, larger)]
            elif larger == "full":
                got = fam.loc[smaller, ["chi2_scaled_vs", "p_scaled_vs"]].set_axis(["chi2_scaled", "p_scaled"])
            else:
                continue
            assert got["chi2_scaled"] == pytest.approx(block.loc[i, "chisq_diff"], rel=1e-5), (smaller, larger)
            assert got["p_scaled"] == pytest.approx(block.loc[i, "p"], abs=1e-6), (smaller, larger)
            checked += 1
    assert checked >= 12


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("family", ["default", "cubic"])
def test_scaled_tests_match_lavtestlrt(name, family):
    ref = lrt_ref()[name]["second" if family == "default" else "cubic"]
    res = fitted(name, family)
    fam = res.tables["models"].set_index("model")
    top = "cubic" if family == "cubic" else "full"
    checked = 0
    for model, r in ref["models"].items():  # scaled chi-square and scaling against the unrestricted model
        if model == top or fam.loc[model, "vs"] != top:
            continue  # (in the cubic family the second-order models are tested against full)
        c = (2 * (fam.loc[top, "loglik"] - fam.loc[model, "loglik"])) / fam.loc[model, "chi2_scaled_vs"]
        assert c == pytest.approx(r["scaling_factor"], rel=1e-5), model
        assert fam.loc[model, "chi2_scaled_vs"] == pytest.approx(r["chisq_scaled"], rel=1e-5), model
        checked += 1
    assert checked >= 4
    tests = res.tables["model_tests"].set_index(["smaller", "larger"])
    assert len(ref["lrt"]) >= 20
    for r in ref["lrt"]:
        got = tests.loc[(r["smaller"], r["larger"])]
        assert got["df"] == r["df_diff"]
        assert got["chi2_scaled"] == pytest.approx(r["chisq_diff"], rel=1e-5), (r["smaller"], r["larger"])
        assert got["p_scaled"] == pytest.approx(r["p"], abs=1e-6)


def test_scaled_tests_only_with_robust_standard_errors():
    assert "chi2_scaled" not in fitted("motcon", se="ml").tables["model_tests"]
    assert "chi2_scaled_vs" not in fitted("motcon", se="classical").tables["models"]
    hc3 = fitted("motcon", se="hc3").tables["model_tests"]
    # the scaling is lavaan's MLR one whatever the robust SE type: it does not depend on it
    np.testing.assert_allclose(hc3["chi2_scaled"], fitted("motcon").tables["model_tests"]["chi2_scaled"])


def test_scaled_test_is_the_plain_one_under_homoscedastic_normal_errors():
    # a statistic that could fail: when every model holds and the errors are normal with constant
    # variance the scaling factors approach 1 (they estimate tr(U Gamma)/df = 1)
    rng = np.random.default_rng(12)
    n = 20000
    x, y = rng.normal(size=n), rng.normal(size=n)
    d = pd.DataFrame({"z": -0.2 * (x - y) ** 2 + rng.normal(size=n), "x": x, "y": y})  # SQD holds
    res = fit_rsa(d, "z", "x", "y", center="none", family=["SQD", "SSQD", "RR", "SRR", "full"])
    tests = res.tables["model_tests"]
    np.testing.assert_allclose(tests["scaling"], 1.0, atol=0.05)


# --------------------------------------------------------------------------- piecewise models


def params(entry) -> pd.DataFrame:
    p = pd.DataFrame(entry["params"])
    p["label"] = p["label"].str.replace("cv:", "", regex=False)
    return p.set_index("label")


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("se", ["hc0", "ml"])
def test_piecewise_models_match_rsa(name, se):
    ref = lrt_ref()[name]["piecewise_" + ("MLR" if se == "hc0" else "ML")]
    data, z, x, y, kw = load(name)
    if name == "selfother":
        # RSA's absdiff/absunc syntax leaves out the control variables; with them (as every model
        # here keeps them) the reference is the same lavaan syntax with them added
        keys = {"absdiff": "absdiff_cv", "absunc": "absunc_cv"}
        lrt = ref["lrt_cv"]
    else:
        keys = {"absdiff": "absdiff", "absunc": "absunc"}
        lrt = ref["lrt"]
    res = fit_rsa(data, z, x, y, se=se, family=["absdiff", "absunc", "full"], **kw)
    fam = res.tables["models"].set_index("model")
    est = res.tables["model_estimates"]
    for model, key in keys.items():
        r = ref[key]
        assert fam.loc[model, "loglik"] == pytest.approx(r["logl"], rel=1e-6)
        assert np.isnan(fam.loc[model, "weight"])  # outside the Akaike weights, as RSA's aictab
        want = params(r)
        got = est[est["model"] == model].set_index("term")
        terms = [t for t in want.index if t in got.index]
        assert {"b0", "w2", "w3"} <= set(terms)
        np.testing.assert_allclose(got.loc[terms, "estimate"], want.loc[terms, "est"], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(got.loc[terms, "se"], want.loc[terms, "se"].fillna(0.0), rtol=1e-5, atol=1e-9)
    if se == "hc0":
        t = res.tables["model_tests"].set_index(["smaller", "larger"]).loc[("absdiff", "absunc")]
        assert t["chi2_scaled"] == pytest.approx(lrt[0]["chisq_diff"], rel=1e-5)
        assert t["p_scaled"] == pytest.approx(lrt[0]["p"], abs=1e-6)


def test_piecewise_models_refused_where_undefined():
    data, z, x, y, kw = load("motcon")
    with pytest.raises(ValueError, match="piecewise"):
        fit_rsa(data, z, x, y, model="absdiff", **kw)
    with pytest.raises(ValueError, match="single-level"):
        fit_rsa(alliance.load_example(), "wellbeing", "alliance_therapist", "alliance_patient",
                group=["therapist", "patient"], family=["absdiff", "full"])
    # the named sets of a moderated surface leave them out
    from alliance.rsa.models import model_names
    assert "absdiff" in model_names("all") and "absdiff" not in model_names("all", moderated=True)


def test_cli_compare_prints_the_scaled_tests(capsys):
    from alliance import cli

    code = cli.main(["fit", "rsa", str(DATA / "rsa_motcon.csv"), "--outcome", "postVA", "--x", "ePow",
                     "--y", "iPow", "--center", "none", "--compare", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    tests = {(r["smaller"], r["larger"]): r for r in out["model_tests"]}
    cmp = pd.DataFrame(json.loads((REF / "rsa_package_motcon.json").read_text())["compare"])
    want = cmp[(cmp["set"] == "directed") & (cmp["model"] == "additive")].iloc[0]  # additive vs IA
    assert tests[("additive", "IA")]["chi2_scaled"] == pytest.approx(want["chisq_diff"], rel=1e-5)
    assert tests[("additive", "IA")]["p_scaled"] == pytest.approx(want["p"], abs=1e-6)


# --------------------------------------------------------------------------- weak and strong patterns

WS = {**CASES, "motcon_flipped": CASES["motcon"]}


def ws_data(name):
    data, z, x, y, kw = load("motcon" if name == "motcon_flipped" else name)
    if name == "motcon_flipped":  # as tests/r/rsa_weak_strong_reference.R: b5 turns positive
        data = data.assign(postVA=data["postVA"] + 0.5 * data["iPow"] ** 2)
    return data, z, x, y, kw


@pytest.mark.parametrize("name", sorted(WS))
@pytest.mark.parametrize("se", ["hc0", "ml"])
def test_weak_and_strong_patterns_match_rsa(name, se):
    # tests/reference/rsa_package_weak_strong.json (tests/r/rsa_weak_strong_reference.R, RSA's
    # defaults). weak = full model under b3 b5 > 0 (binding only on motcon_flipped, where the
    # optimum is on b3 = 0); strong = SRSQD's constraints with b3 b5 > 0, which is SRSQD.
    ref = json.loads((REF / "rsa_package_weak_strong.json").read_text())[name]["MLR" if se == "hc0" else "ML"]
    data, z, x, y, kw = ws_data(name)
    res = fit_rsa(data, z, x, y, se=se, family=["weak", "strong", "full", "SRSQD"], **kw)
    fam = res.tables["models"].set_index("model")
    est = res.tables["model_estimates"]

    def got(model):
        return est[est["model"] == model].drop_duplicates("term").set_index("term")

    terms = ["b0", "b1", "b2", "b3", "b4", "b5"]
    for model in ("weak", "strong"):
        r = ref[model]
        assert r["converged"]
        assert fam.loc[model, "k"] == r["npar"]  # RSA's K: an inequality removes no parameter
        # strong: lavaan's default tolerances (as SRSQD in RSA's default run, see test_rsa_family)
        assert fam.loc[model, "loglik"] == pytest.approx(r["logl"], rel=1e-9 if model == "weak" else 1e-6)
        want = params(r)
        np.testing.assert_allclose(got(model).loc[terms, "estimate"], want.loc[terms, "est"],
                                   rtol=1e-5 if model == "weak" else 1e-3, atol=1e-7, err_msg=model)
    # weak's SEs: lavaan's, with the binding constraint fixing b3 (SE 0, or none under ML)
    want = params(ref["weak"])
    if name != "selfother":
        np.testing.assert_allclose(got("weak").loc[terms, "se"], want.loc[terms, "se"].fillna(0.0),
                                   rtol=1e-4, atol=1e-9)
    # strong is SRSQD (validated against RSA at tight tolerances in test_rsa_family); where the
    # inequality does not bind, weak is the full model
    pd.testing.assert_frame_equal(got("strong")[["estimate", "se"]], got("SRSQD")[["estimate", "se"]])
    if name != "motcon_flipped":
        pd.testing.assert_frame_equal(got("weak")[["estimate", "se"]], got("full")[["estimate", "se"]])
    else:
        assert got("weak").loc["b3", "estimate"] == 0.0 and got("full").loc["b3", "estimate"] < 0


def test_lavaan_weak_and_strong_ses_on_selfother_hold_an_inactive_inequality():
    # documented difference: on selfother (IQ scale) b3 b5 = 8e-6 > 0, the inequality does not bind
    # and the ML covariance is the full model's (weak) or SRSQD's (strong), as here; lavaan's
    # augmented-Lagrangian multiplier of the inequality is not zero, so lavaan borders the
    # information with it as if it were active and reports SEs up to 50% smaller
    ref = json.loads((REF / "rsa_package_weak_strong.json").read_text())["selfother"]["MLR"]
    weak, full = params(ref["weak"]), params(ref["full"])
    assert weak.loc["b3", "est"] * weak.loc["b5", "est"] > 0
    assert abs(weak.loc["b5", "se"] / full.loc["b5", "se"] - 1) > 0.3


# --------------------------------------------------------------------------- diff and mean


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("se", ["hc0", "ml"])
def test_diff_and_mean_models_match_rsa(name, se):
    # tests/reference/rsa_package_diff_mean.json (tests/r/rsa_diff_mean_reference.R): RSA's documented
    # models outside its default family; linear constraints, lavaan's default tolerances (1e-4, as
    # the other linear models in tests/test_rsa_family.py)
    ref = json.loads((REF / "rsa_package_diff_mean.json").read_text())[name]["MLR" if se == "hc0" else "ML"]
    data, z, x, y, kw = load(name)
    res = fit_rsa(data, z, x, y, se=se, family=["null", "diff", "mean", "full"], **kw)  # RSA adds null
    fam = res.tables["models"].set_index("model")
    est = res.tables["model_estimates"]
    for model in ("diff", "mean"):
        r = ref[model]
        assert r["converged"]
        assert fam.loc[model, "k"] == r["npar"]
        assert fam.loc[model, "loglik"] == pytest.approx(r["logl"], rel=1e-6)
        want = params(r)
        got = est[est["model"] == model].drop_duplicates("term").set_index("term")
        terms = [t for t in want.index if t in got.index]
        assert {"b0", "b1", "b2", "b3", "b4", "b5"} <= set(terms)
        np.testing.assert_allclose(got.loc[terms, "estimate"], want.loc[terms, "est"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got.loc[terms, "se"], want.loc[terms, "se"].fillna(0.0), rtol=1e-4,
                                   atol=1e-5)
    tab = pd.DataFrame(ref["aictab"]).set_index("Modnames")
    np.testing.assert_allclose(fam.loc[tab.index, "aicc"], tab["AICc"], rtol=1e-6)
    np.testing.assert_allclose(fam.loc[tab.index, "weight"], tab["AICcWt"], atol=1e-6)


# --------------------------------------------------------------------------- moderated cubic family


def test_moderated_cubic_family_matches_lm():
    # tests/reference/rsa_cubic_moderated.json (tests/r/rsa_cubic_moderated_reference.R): R's lm on
    # motcon with a constructed binary moderator (synthetic: alternate rows), each model's
    # constraints imposed on both levels; log-likelihoods to 1e-9, u1..v3 of each level and of the
    # difference with classical SEs to 1e-7 relative (both sides solve least squares exactly)
    r = json.loads((REF / "rsa_cubic_moderated.json").read_text())["models"]
    data, z, x, y, kw = load("motcon")
    data = data.assign(g=np.where(np.arange(len(data)) % 2 == 0, "a", "b"))
    res = fit_rsa(data, z, x, y, moderator="g", moderator_levels=["a", "b"], se="classical",
                  cubic=True, family=list(r), **kw)
    fam = res.tables["models"].set_index("model")
    est = res.tables["model_estimates"]
    for model, rm in r.items():
        assert fam.loc[model, "loglik"] == pytest.approx(rm["loglik"], rel=1e-9), model
        assert fam.loc[model, "k"] == rm["k"]
        if model in ("full", "SQD"):
            continue  # second-order models: no u1..v3 rows here
        for level in ("a", "b"):
            want = pd.DataFrame(rm[level]).set_index("term")
            got = est[(est["model"] == model) & (est["level"] == level)].set_index("term")
            np.testing.assert_allclose(got.loc[want.index, "estimate"], want["estimate"], rtol=1e-7,
                                       atol=1e-10, err_msg=f"{model} {level}")
            np.testing.assert_allclose(got.loc[want.index, "se"], want["se"], rtol=1e-7, atol=1e-10,
                                       err_msg=f"{model} {level}")
    # the main tables of the moderated cubic model: u1..v3 per level and for the difference
    s = res.tables["surface"]
    for level in ("a", "b", "difference"):  # R's names; ours "b - a"
        want = pd.DataFrame(r["cubic"][level]).set_index("term")
        ours = {"difference": "b - a"}.get(level, level)
        got = s[(s["level"] == ours) & s["term"].isin(want.index)].set_index("term")
        np.testing.assert_allclose(got.loc[want.index, "estimate"], want["estimate"], rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(got.loc[want.index, "se"], want["se"], rtol=1e-7, atol=1e-10)
    # the predicted surface of a level includes its own cubic terms
    b = res.b("b").to_numpy()
    c = res.cubic_levels["b"] @ res.beta.to_numpy()
    X0, Y0 = 1.0, -0.5
    want = (res.intercept("b") + b @ [X0, Y0, X0 * X0, X0 * Y0, Y0 * Y0]
            + c @ [X0**3, X0 * X0 * Y0, X0 * Y0 * Y0, Y0**3])
    assert res.predict_surface([X0], [Y0], "b")[0] == pytest.approx(want)
    # the range checks are for one surface
    from alliance.rsa.cubic import ca_range

    ca = fit_rsa(data, z, x, y, moderator="g", moderator_levels=["a", "b"], model="CA", family=None, **kw)
    with pytest.raises(ValueError, match="one surface"):
        ca_range(ca)
