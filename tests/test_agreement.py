"""alliance.agreement: the chapters' comparisons of the package with the frozen R fits.

The quantities themselves are checked against R with per-quantity tolerances by the model tests
(test_growth, test_mixed_ddf, test_truth_bias, test_rsa, test_lagged, test_specifications,
test_randomise). Here: every reference format the chapters read is read right, a comparison of two
different models is refused rather than reported, and the sentence the chapters print says what the
table holds.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance import agreement
from alliance.errors import AllianceWarning

REF = Path(__file__).resolve().parent / "reference"

#: Largest relative difference the chapters may print for a quantity: the test suite's loosest
#: per-quantity tolerance for these models (Satterthwaite df of the truth-and-bias model, 1e-4
#: relative in test_mixed_ddf.py; every estimate and SE is held far tighter there).
LOOSEST = 1e-4


@pytest.fixture(scope="module")
def data():
    return alliance.load_example()


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        return fn(*a, **k)


def test_reads_every_format_the_chapters_use():
    ddf = agreement.reference(REF / "ddf_growth_therapist.json")
    assert list(ddf.estimates.columns) == ["term", "estimate", "se", "df"]
    assert ddf.loglik == pytest.approx(json.loads((REF / "ddf_growth_therapist.json").read_text())
                                       ["loglik"])
    vi = agreement.reference(REF / "varident_growth_stacked_reml.json")
    d = json.loads((REF / "varident_growth_stacked_reml.json").read_text())
    i = d["vcov_names"].index("time:training")
    assert vi.estimates.set_index("term").loc["time:training", "se"] == pytest.approx(
        np.sqrt(d["vcov"][i][i]), rel=1e-15)
    lg = agreement.reference(REF / "lagged_reverse_patient.json")
    assert "wbw" in set(lg.estimates["term"]) and lg.estimates["se"].notna().all()
    within = agreement.reference(REF / "rsa_within_chapter5.json")
    assert set(within.estimates["level"]) == {"control", "training", "difference"}
    with pytest.raises(ValueError, match="not a reference format"):
        agreement.reference(REF / "randomise_icc.json")


def test_compare_is_the_relative_difference_and_needs_every_reference_row():
    ref = agreement.Reference(pd.DataFrame({"term": ["(Intercept)", "b"], "estimate": [2.0, 0.0],
                                            "se": [1.0, 0.5]}), loglik=-3.0, path="x.json")
    mine = pd.DataFrame({"term": ["Intercept", "b", "extra"], "estimate": [2.2, 1e-3, 9.0],
                         "se": [1.0, 0.5, 1.0]})
    t = agreement.compare(mine, ref, names={"(Intercept)": "Intercept"}, loglik=-3.0)
    est = t[t["quantity"] == "estimate"].set_index("term")["relative"]
    assert est["Intercept"] == pytest.approx(0.1)
    assert est["b"] == pytest.approx(1e-3)  # R's value 0: the absolute difference
    assert set(t["term"]) == {"Intercept", "b"}  # rows R does not have are not compared
    assert agreement.largest(t)["estimate"] == pytest.approx(0.1)
    with pytest.raises(agreement.ReferenceMismatch, match="rows not in the package"):
        agreement.compare(mine.iloc[1:], ref, names={"(Intercept)": "Intercept"})


def test_two_different_models_are_refused_not_compared(data):
    fit = _quiet(alliance.fit_growth, data, "therapist", therapist_effects="intercept")
    with pytest.raises(agreement.ReferenceMismatch, match="log-likelihood"):
        agreement.compare(fit.estimates, agreement.reference(REF / "ddf_growth_therapist_slope.json"),
                          names=agreement.R_NAMES["growth_single"], loglik=fit.fit.loglik)


def test_sentence_and_scientific():
    t = pd.DataFrame({"quantity": ["estimate", "estimate", "se", "df"],
                      "relative": [3.2e-9, 1e-10, 0.0, 4.4e-5]})
    assert agreement.sentence(t) == ("the largest relative difference of the estimates is "
                                     "3 × 10⁻⁹, of the standard errors 0, of the Satterthwaite "
                                     "degrees of freedom 4 × 10⁻⁵")
    assert agreement.scientific(9.6e-7) == "1 × 10⁻⁶"
    with pytest.raises(ValueError):
        agreement.sentence(t.iloc[:0])


def test_the_chapters_comparisons_agree_within_the_suites_tolerances(data):
    """The pairs chapters 2-6 print (same calls), each well within the loosest tolerance."""
    from alliance import lagged, randomise, rsa, truth_bias
    from alliance.studies import specifications

    tables = {"icc": agreement.compare_icc(_quiet(randomise.icc_summary, data),
                                           REF / "randomise_icc.json")}
    for rater in ("therapist", "patient"):
        res = _quiet(alliance.fit_growth, data, rater, therapist_effects="intercept")
        tables[rater] = agreement.compare(
            res.estimates, agreement.reference(REF / f"ddf_growth_{rater}.json"),
            names=agreement.R_NAMES["growth_single"], loglik=res.fit.loglik)
    both = _quiet(alliance.fit_growth, data, "both", therapist_effects="intercept")
    tables["stacked"] = agreement.compare(
        both.estimates, agreement.reference(REF / "varident_growth_stacked_reml.json"),
        loglik=both.fit.loglik)
    tb = _quiet(truth_bias.fit_truth_bias, data)
    tables["truth_bias"] = agreement.compare(
        tb.fit.estimates, agreement.reference(REF / "ddf_truth_bias.json"),
        names=agreement.R_NAMES["truth_bias"], loglik=tb.fit.loglik)
    surf = _quiet(rsa.fit_rsa, data, "wellbeing", x="alliance_therapist", y="alliance_patient",
                  group=["therapist", "patient"], time="session", lag=1, moderator="condition",
                  covariates=["session"], method="ML")
    tables["rsa"] = agreement.compare(surf.fit.estimates, agreement.reference(REF / "ddf_rsa.json"),
                                      names=agreement.R_NAMES["rsa"], loglik=surf.fit.loglik)
    within = _quiet(specifications.fit_specification, data, "within")
    tables["within"] = agreement.compare(
        within.tables["surface"], agreement.reference(REF / "rsa_within_chapter5.json"),
        keys=("level", "term"), loglik=within.fit.loglik)
    fwd = _quiet(lagged.fit_lagged, data).fits["wellbeing"]
    tables["lagged"] = agreement.compare(fwd.estimates, agreement.reference(REF / "ddf_lagged.json"),
                                         names=agreement.R_NAMES["lagged"], loglik=fwd.loglik)
    rev = _quiet(lagged.fit_lagged, data, direction="outcome->alliance")
    for rater in ("alliance_therapist", "alliance_patient"):
        tables[rater] = agreement.compare(
            rev.fits[rater].estimates,
            agreement.reference(REF / f"lagged_reverse_{rater.split('_')[1]}.json"),
            names={**agreement.R_NAMES["lagged_reverse"], "prior": f"{rater}_lag1_within"},
            loglik=rev.fits[rater].loglik)
    for name, t in tables.items():
        assert len(t) >= 3, name
        worst = agreement.largest(t)
        assert (worst < LOOSEST).all(), (name, worst.to_dict())
