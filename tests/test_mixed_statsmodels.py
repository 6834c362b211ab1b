"""The mixed-model engine against statsmodels ``MixedLM``, on every model statsmodels expresses.

statsmodels is an independent implementation of the same likelihood (it
optimises the profiled criterion over a different parametrisation, with
different optimizers), so agreement on the optimum -- log-likelihood, fixed
effects and their SEs, variance components -- under REML and ML is evidence
of the engine's correctness beyond the frozen lme4 values of
``tests/test_mixed.py``.

What statsmodels can express (one grouping factor with correlated random
effects, plus independent variance components inside it, or a single "group"
holding crossed components):

* random intercept and slope, correlated (sleepstudy, Orthodont, dietox);
* a random slope without a fixed one (sleepstudy, intercept-only fixed part);
* independent intercept and slope (sleepstudy, lme4's ``(1|S) + (0+Days|S)``);
* nested random intercepts and independent subject slopes (the three-level ICC
  model of chapter 2; a cluster intercept with uncorrelated subject intercept
  and slope);
* fully crossed random intercepts (lme4's Penicillin; its lme4 values are frozen
  in ``tests/reference/mixed_penicillin_*.json``).

What it cannot express, and why the package has its own engine: *correlated*
random intercepts and slopes of patients nested in therapists (every growth
model of chapter 3 with a therapist level, the stacked two-rater model, the
truth-and-bias model with a random tracking slope). See the docstring of
:mod:`alliance.mixed` and the book's appendix on the engine.

Standard errors are compared where statsmodels reports the GLS form (see
:data:`HESSIAN_SE`). Tolerances: statsmodels stops its optimizer earlier than ours (its default
gradient tolerance), so the log-likelihoods agree to 1e-3 and ours is never
lower by more than 1e-6 (the engine must reach at least statsmodels'
optimum); fixed effects agree to 1e-4 relative, SEs and variance components to
1e-3 relative (flat directions of the likelihood).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

import alliance
from alliance.mixed import fit_lmm

smf = pytest.importorskip("statsmodels.formula.api")

_spec = importlib.util.spec_from_file_location("mixed_cases", Path(__file__).with_name("mixed_cases.py"))
mixed_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mixed_cases)
CASES = mixed_cases.CASES


#: Cases where statsmodels' fixed-effect SEs come from the joint observed information and
#: differ from the GLS form sigma^2 (X'V^-1 X)^-1 that lme4 and this package report: with a
#: random slope whose fixed slope is absent, the fixed intercept and the variance parameters
#: are not orthogonal (statsmodels 12.997 vs lme4 and ours 6.760 for sleepstudy; the lme4
#: value is checked in tests/test_mixed.py).
HESSIAN_SE = {"sleepstudy_nodays"}


def _statsmodels_fit(theirs: dict, reml: bool):
    spec = dict(theirs)
    formula, data = spec.pop("formula"), spec.pop("data")
    model = smf.mixedlm(formula, data, **spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' own convergence chatter
        fits = [model.fit(reml=reml, method=m) for m in ("lbfgs", "bfgs", "powell")]
    fits = [f for f in fits if f.converged and np.isfinite(f.llf)]
    return max(fits, key=lambda f: f.llf)  # statsmodels' best converged optimum


def _their_variance(res, where) -> float:
    if where[0] == "re":
        return float(np.asarray(res.cov_re)[where[1], where[2]])
    names = list(res.model.exog_vc.names)
    return float(res.vcomp[names.index(where[1])])


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("case", list(CASES))
def test_engine_agrees_with_statsmodels(case, method):
    (y, X, random), theirs, var = CASES[case]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", alliance.AllianceWarning)  # boundary fits are expected
        ours = fit_lmm(y, X, random, method=method)
    res = _statsmodels_fit(theirs, reml=method == "REML")
    assert ours.loglik >= res.llf - 1e-6, "the engine stopped below statsmodels' optimum"
    assert ours.loglik == pytest.approx(res.llf, abs=1e-3)
    names = list(ours.coef.index)
    np.testing.assert_allclose(ours.coef.to_numpy(), res.fe_params.to_numpy(), rtol=1e-4,
                               atol=1e-8)
    if case not in HESSIAN_SE:
        se_theirs = np.sqrt(np.diag(np.asarray(res.cov_params()))[: len(names)])
        np.testing.assert_allclose(ours.estimates["se"].to_numpy(), se_theirs, rtol=1e-3)
    vc = ours.variance_components
    for (group, term), where in var.items():
        row = vc[(vc["group"] == group) & (vc["term1"] == term) & vc["term2"].isna()]
        assert float(row["variance"].iloc[0]) == pytest.approx(
            _their_variance(res, where), rel=1e-3, abs=1e-6 * float(res.scale)), (group, term)
    assert ours.sigma2 == pytest.approx(float(res.scale), rel=1e-3)
