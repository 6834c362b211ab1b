r"""Cubic response surfaces (Humberg, Schönbrodt, Back & Nestler, 2022): parameters and range checks.

A cubic surface adds :math:`b_6 X^3 + b_7 X^2Y + b_8 XY^2 + b_9 Y^3`. Along the line
of congruence (LOC, :math:`X = Y = t`) it is the cubic :math:`u_1 t + u_2 t^2 + u_3 t^3`
and along the line of incongruence (LOIC, :math:`X = -Y = t`)
:math:`v_1 t + v_2 t^2 + v_3 t^3`, with

.. math::

    u_1 = b_1 + b_2,\; u_2 = b_3 + b_4 + b_5,\; u_3 = b_6 + b_7 + b_8 + b_9,\quad
    v_1 = b_1 - b_2,\; v_2 = b_3 - b_4 + b_5,\; v_3 = b_6 - b_7 + b_8 - b_9.

Two constrained models express congruence hypotheses beyond the symmetric ones:

* **asymmetric congruence** (CA, and RRCA with a slope along the LOC):
  :math:`z = c_0 + c_1 (X-Y)^2 + c_2 (X-Y)^3`: the outcome is best at agreement but
  falls off faster on one side. The second extremum of the cubic lies on the line
  :math:`E_2: Y = X + 2c_1/(3c_2)`; :func:`ca_range` counts the observed points
  beyond it whose predicted outcome differs significantly from the prediction on
  :math:`E_2` (where the asymmetric-congruence reading breaks down);
* **level-dependent congruence** (CL, RRCL):
  :math:`z = c_0 + c_1 (X-Y)^2 + c_3 (X+Y)(X-Y)^2`: the curvature across the LOC,
  :math:`4 c_1 + 8 k c_3` at mean level :math:`k = (X+Y)/2`, changes with the level;
  :func:`cl_range` gives the levels where it is significantly negative,
  non-significant, or significantly positive (Johnson-Neyman bounds) and how many
  observations fall in each.

Both follow RSA's ``caRange`` and ``clRange`` (same statistics, same cutoffs:
one-sided t with :math:`n - 10` df for the predictions, two-sided z for the
curvature), and are validated against them in ``tests/test_rsa_family.py``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

from alliance.results import wald_table
from alliance.rsa.surface import covariate_columns

__all__ = ["CUBIC_QUANTITIES", "CUBIC_TERMS", "ca_range", "ca_range_of", "cl_range", "cl_range_of", "cubic_level_parameters",
           "cubic_parameters"]

#: Polynomial columns b1..b9 of a cubic design.
CUBIC_TERMS = ("x", "y", "x2", "xy", "y2", "x3", "x2y", "xy2", "y3")

_U = np.array([[1, 1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, 1, 1, 1],
               [1, -1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 1, -1, 1, 0, 0, 0, 0],
               [0, 0, 0, 0, 0, 1, -1, 1, -1]], dtype=float)
CUBIC_QUANTITIES = ("u1", "u2", "u3", "v1", "v2", "v3")


def cubic_numbers(beta, cov, names) -> tuple[np.ndarray, np.ndarray]:
    """u1-u3 and v1-v3 (LOC and LOIC cubics) and their covariance, from a cubic design's estimates."""
    names = list(names)
    L = np.zeros((6, len(names)))
    L[:, [names.index(t) for t in CUBIC_TERMS]] = _U
    b, V = np.asarray(beta, float), np.asarray(cov, float)
    return L @ b, L @ V @ L.T


def cubic_parameters(beta, cov, names, conf_level: float = 0.95) -> pd.DataFrame:
    """u1-u3 and v1-v3 (LOC and LOIC cubics) with Wald z tests, from a cubic design's estimates."""
    return wald_table(*cubic_numbers(beta, cov, names), CUBIC_QUANTITIES, conf_level)


def cubic_level_numbers(beta, cov, levels: dict, cubic_levels: dict) -> dict:
    """Per level: u1-u3, v1-v3 and their covariance (``levels`` maps a level to the 5 x p
    matrix of its b1..b5, ``cubic_levels`` to the 4 x p matrix of its b6..b9)."""
    b, V = np.asarray(beta, float), np.asarray(cov, float)
    out = {}
    for lab, M in levels.items():
        L = _U @ np.vstack([M, cubic_levels[lab]])
        out[lab] = (L @ b, L @ V @ L.T)
    return out


def cubic_level_parameters(beta, cov, levels: dict, cubic_levels: dict,
                           conf_level: float = 0.95) -> pd.DataFrame:
    """u1-u3 and v1-v3 of every level of a moderated cubic surface (column ``level``).

    ``levels`` maps a level to the 5 x p matrix of its b1..b5, ``cubic_levels`` to the
    4 x p matrix of its b6..b9 (the arm difference included, for a binary moderator).
    """
    parts = []
    for lab, (est, V) in cubic_level_numbers(beta, cov, levels, cubic_levels).items():
        t = wald_table(est, V, CUBIC_QUANTITIES, conf_level)
        t.insert(0, "level", lab)
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


def _prediction_parts(beta: pd.Series, cov: pd.DataFrame, X: pd.DataFrame):
    """Coefficients (b0 at covariate means, b1..b9) and their covariance, as RSA's predictRSA."""
    names = list(beta.index)
    if not all(t in names for t in CUBIC_TERMS):
        raise ValueError("range checks need a cubic model (fit_rsa(..., cubic=True, model='CA'))")
    w = np.zeros((10, len(names)))
    w[0, names.index("Intercept")] = 1.0
    for c in covariate_columns(names, None):
        col = f"cov:{c}" if f"cov:{c}" in X else None
        w[0, names.index(c)] = float(X[col].mean()) if col else 0.0
    for i, t in enumerate(CUBIC_TERMS):
        w[i + 1, names.index(t)] = 1.0
    b = w @ beta.to_numpy()
    V = w @ cov.to_numpy() @ w.T
    return b, V


def _r(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y, x**3, x * x * y, x * y * y, y**3],
                    axis=-1)


def ca_range(result, alpha: float = 0.05) -> dict:
    """Range check of an asymmetric congruence model (``result.info["model"]`` CA or RRCA).

    Returns ``behind`` (observations beyond the second extremum line :math:`E_2`),
    ``share_behind``, ``bad`` (of those, the ones whose predicted outcome lies outside
    the one-sided :math:`1-\\alpha` interval of the prediction on :math:`E_2`; for CA at
    the reversion point, for RRCA at the point of :math:`E_2` with the same mean
    level) and ``share_bad`` (of all observations), and the reversion point (CA).
    Follows RSA's ``caRange`` (t quantile with :math:`n - 10` df).
    """
    model = result.info.get("model")
    if result.info.get("moderator"):
        raise ValueError("ca_range is defined for one surface: fit each moderator level alone")
    if model not in ("CA", "RRCA"):
        raise ValueError(f"ca_range needs the CA or RRCA model; this result is {model!r}")
    return _ca(result.beta, result.cov, result.frame, model, alpha)


def ca_range_of(fit, frame: pd.DataFrame, alpha: float = 0.05) -> dict:
    """:func:`ca_range` for a model of a fitted family (:class:`~alliance.rsa.models.ModelFit`)."""
    return _ca(fit.beta, fit.cov, frame, fit.name, alpha)


def cl_range_of(fit, frame: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """:func:`cl_range` for a model of a fitted family (:class:`~alliance.rsa.models.ModelFit`)."""
    return _cl(fit.beta, fit.cov, frame, alpha)


def _ca(beta, cov, f, model, alpha):
    b, V = _prediction_parts(beta, cov, f)
    c1, c2 = b[3], b[6]
    x, y = f["x"].to_numpy(), f["y"].to_numpy()
    n = len(x)
    zpred = _r(x, y) @ b
    e = y - (x + 2 * c1 / (3 * c2))
    behind = (e < 0) if c1 * c2 < 0 else (e > 0)
    q = stats.t.ppf(1 - alpha, n - 10)
    if model == "CA":
        xr = -c1 / (3 * c2)
        pts = _r(np.array([xr]), np.array([-xr]))
    else:
        m = 0.5 * (x + y)
        pts = _r(m - c1 / (3 * c2), m + c1 / (3 * c2))
    zr = pts @ b
    se = np.sqrt(np.einsum("ij,jk,ik->i", pts, V, pts))
    if c1 < 0:
        bad = behind & (zpred > zr + q * se)
    else:
        bad = behind & (zpred < zr - q * se)
    out = {"model": model, "behind": int(behind.sum()), "share_behind": float(behind.mean()),
           "bad": int(bad.sum()), "share_bad": float(bad.mean()), "alpha": alpha,
           "bad_rows": f["input_row"].to_numpy()[bad].tolist() if "input_row" in f else []}
    if model == "CA":
        out.update(reversion_x=float(xr), reversion_y=float(-xr), reversion_z=float(zr[0]))
    return out


def cl_range(result, alpha: float = 0.05) -> pd.DataFrame:
    """Regions of the mean level :math:`k = (X+Y)/2` by the sign of the curvature across the LOC.

    For CL/RRCL the curvature is :math:`4c_1 + 8kc_3` with variance
    :math:`16V_{11} + 64kV_{13} + 64k^2V_{33}`; the bounds :math:`k_1 < k_2` solve
    :math:`|\\text{curvature}| = z_{1-\\alpha/2}\\,\\text{SE}`. Returns one row per
    region: ``region`` (``negative``, ``non-significant``, ``positive``), ``lower``,
    ``upper``, ``n`` (observations strictly inside) and ``share``; ``attrs["k1"]``,
    ``attrs["k2"]``. Follows RSA's ``clRange``.
    """
    if result.info.get("moderator"):
        raise ValueError("cl_range is defined for one surface: fit each moderator level alone")
    model = result.info.get("model")
    if model not in ("CL", "RRCL"):
        raise ValueError(f"cl_range needs the CL or RRCL model; this result is {model!r}")
    return _cl(result.beta, result.cov, result.frame, alpha)


def _cl(beta, cov, f, alpha):
    b, V = _prediction_parts(beta, cov, f)
    c1, c3 = b[3], b[6]
    v11, v13, v33 = V[3, 3], V[3, 6], V[6, 6]
    z = stats.norm.ppf(1 - alpha / 2)
    a_ = 4 * c3 * c3 - 4 * v33 * z * z
    b_ = 4 * c1 * c3 - 4 * v13 * z * z
    c_ = c1 * c1 - v11 * z * z
    disc = b_ * b_ - 4 * a_ * c_
    if disc > 0:
        roots = sorted([(-b_ + math.sqrt(disc)) / (2 * a_), (-b_ - math.sqrt(disc)) / (2 * a_)])
    elif disc == 0:
        roots = [-b_ / (2 * a_)]
    else:
        roots = []
    bounds = [-np.inf, *roots, np.inf]

    def sign(k):
        stat = (4 * c1 + 8 * k * c3) / math.sqrt(16 * v11 + 64 * v13 * k + 64 * v33 * k * k)
        return "negative" if stat <= -z else ("positive" if stat >= z else "non-significant")

    k = 0.5 * (f["x"].to_numpy() + f["y"].to_numpy())
    rows = []
    for lo, hi in itertools.pairwise(bounds):
        if not roots:
            test = 0.0
        elif np.isinf(lo):
            test = hi - 10
        elif np.isinf(hi):
            test = lo + 10
        else:
            test = (lo + hi) / 2
        inside = int(np.sum((k > lo) & (k < hi)))
        rows.append({"region": sign(test), "lower": lo, "upper": hi, "n": inside,
                     "share": inside / len(k)})
    out = pd.DataFrame(rows)
    out.attrs["k1"] = roots[0] if roots else np.nan
    out.attrs["k2"] = roots[1] if len(roots) > 1 else np.nan
    return out
