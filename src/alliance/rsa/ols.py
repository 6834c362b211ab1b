"""Single-level estimation through statsmodels OLS, with the covariances RSA users expect.

``se="hc0"`` is the RSA package's default (lavaan's ``MLR`` estimator gives the
HC0 sandwich for a single-level regression); ``"classical"`` is the textbook OLS
covariance; ``"ml"`` the maximum-likelihood one (classical x (n - p)/n, lavaan's
``ML``); ``"hc1"`` and ``"hc3"`` are statsmodels' small-sample corrections.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm

from alliance.errors import FitError

__all__ = ["ROBUST_SE", "SE_TYPES", "OLSFit", "ols"]

#: Covariance types of a single-level fit -> statsmodels ``cov_type``.
SE_TYPES = {"hc0": "HC0", "hc1": "HC1", "hc3": "HC3", "classical": "nonrobust", "ml": "nonrobust"}
#: The robust ones: with these the model family also gets scaled likelihood-ratio tests.
ROBUST_SE = ("hc0", "hc1", "hc3")


@dataclass(frozen=True)
class OLSFit:
    """Estimates, their covariance, the log-likelihood and the residual sum of squares."""

    beta: np.ndarray
    cov: np.ndarray
    loglik: float
    rss: float
    n: int
    k: int  # parameters counted by AIC: coefficients + the residual variance


def ols(y: np.ndarray, X: np.ndarray, se: str, source: str = "<DataFrame>") -> OLSFit:
    """Fit ``y = X b + e`` by OLS; refuse a rank-deficient design and a perfect fit."""
    n, p = X.shape
    if n <= p:  # degenerate fits raise FitError (exit code 3), not DataError
        raise FitError(f"{source}: {n} rows cannot estimate {p} coefficients [rule: n > p]")
    if np.linalg.matrix_rank(X) < p:
        raise FitError(f"{source}: the design matrix is rank deficient (a predictor is a linear "
                        "function of others) [rule: identifiable coefficients]")
    res = sm.OLS(y, X).fit(cov_type=SE_TYPES[se])
    rss = float(res.ssr)
    if rss <= 1e-24 * max(1.0, float(y @ y)):
        raise FitError(f"{source}: the outcome is an exact function of the predictors (zero "
                       "residual variance)")
    cov = np.asarray(res.cov_params(), dtype=float)
    if se == "ml":
        cov = cov * (n - p) / n
    return OLSFit(np.asarray(res.params, dtype=float), cov, float(res.llf), rss, n, p + 1)
