"""The two ways a design is fitted: OLS (single level) and the package's mixed model (multilevel).

Each returns a *fitter*: a function of a design (a DataFrame whose column names are
the term names) giving a :class:`~alliance.rsa.models.Linear` (coefficients, their
covariance, the log-likelihood). The model family (:mod:`alliance.rsa.models`)
and the bootstrap (:mod:`alliance.rsa.bootstrap`) fit every constrained design
through one of them, so a constrained model is estimated exactly as the full one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from alliance.errors import AllianceWarning
from alliance.mixed import RandomTerm, fit_lmm
from alliance.rsa.models import Linear
from alliance.rsa.ols import ols
from alliance.rsa.surface import COEF_NAMES

__all__ = ["lmm_fitter", "ols_fitter", "random_terms"]


def ols_fitter(z: np.ndarray, se: str, source: str = "<DataFrame>", saturated=None):
    r"""OLS (statsmodels) with the covariance ``se`` (hc0, hc1, hc3, classical, ml).

    With ``se="hc0"`` and the unconstrained design ``saturated``, the sandwich of a
    constrained design :math:`D` takes its meat from the *unconstrained* model's
    residuals :math:`\hat e_{sat}`: :math:`(D^\top D)^{-1} D^\top
    \mathrm{diag}(\hat e_{sat}^2) D (D^\top D)^{-1}`. This is the robust covariance
    lavaan reports for RSA's default (``estimator = "MLR"``, ``se = "robust"``: the
    ``robust.sem`` form, built on the asymptotic covariance of the saturated model's
    statistics), so constrained models get RSA's standard errors; for the
    unconstrained model it is the ordinary HC0. ``hc1`` and ``hc3`` are statsmodels'
    corrections on the model's own design and residuals. ``fit(D, saturated=S)`` takes
    the meat from another unrestricted design ``S`` (the piecewise models, whose
    unrestricted model is not the polynomial).
    """
    e_sat = None
    if se == "hc0" and saturated is not None:
        S = np.asarray(saturated, float)
        e_sat = z - S @ np.linalg.lstsq(S, z, rcond=None)[0]

    def fit(D: pd.DataFrame, saturated=None) -> Linear:
        Dm = D.to_numpy()
        o = ols(z, Dm, se, source)
        cov = o.cov
        e = e_sat
        if e is not None and saturated is not None:  # another unrestricted model (piecewise)
            S = np.asarray(saturated, float)
            e = z - S @ np.linalg.lstsq(S, z, rcond=None)[0]
        if e is not None:
            bread = np.linalg.inv(Dm.T @ Dm)
            cov = bread @ (Dm.T * e**2) @ Dm @ bread
        return Linear(o.beta, cov, o.loglik, {"rss": o.rss})

    return fit


def lmm_fitter(z: np.ndarray, terms, method: str, source: str = "<DataFrame>",
               conf_level: float = 0.95):
    """:func:`alliance.mixed.fit_lmm` (GLS covariance); its warnings are kept in ``extra``."""

    def fit(D: pd.DataFrame) -> Linear:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AllianceWarning)
            m = fit_lmm(z, D, terms, method=method, source=source, conf_level=conf_level)
        names = list(D.columns)
        msgs = [str(c.message) for c in caught if issubclass(c.category, AllianceWarning)]
        return Linear(m.coef[names].to_numpy(), m.cov_fixed.loc[names, names].to_numpy(),
                      float(m.loglik), {"fit": m, "warnings": msgs})

    return fit


def random_terms(f: pd.DataFrame | dict, X: pd.DataFrame, spec) -> list[RandomTerm]:
    """The random terms of a multilevel surface (``spec``, an RSASpec; ``f``, its analysis
    frame, or its columns as arrays; ``X``, its design): a random intercept per group; with
    ``random="full"`` the five slopes for the innermost; with ``outer_random``
    "full"/"diagonal" the five slopes for the outermost."""
    outer_random = spec.outer_random
    terms = []
    for k, g in enumerate(spec.groups):
        labels = np.asarray(f[f"group:{g}"])
        if g == spec.inner and spec.random == "full":
            terms.append(RandomTerm(g, labels, X[["Intercept", *COEF_NAMES]]))
        elif k == 0 and outer_random != "intercept":
            terms.append(RandomTerm(g, labels, X[["Intercept", *COEF_NAMES]],
                                    "unstructured" if outer_random == "full" else "diagonal"))
        else:
            terms.append(RandomTerm(g, labels))
    return terms
