"""The constrained family of second-order response surface models (single level).

Each model constrains :math:`b_1..b_5` of the full polynomial; its reduced
design's columns are linear combinations of the five full terms, so the reduced
coefficients :math:`c` map back as :math:`b = Cc`. Every model is fitted by OLS
(:func:`alliance.rsa.ols.ols`), compared by AICc (weights) and by likelihood
ratio against the full model and along the nested pairs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from alliance.rsa.ols import ols
from alliance.rsa.surface import COEF_NAMES

__all__ = ["MODELS", "NESTED_PAIRS", "fit_family"]

#: The constrained model family: name -> (description, columns of the reduced design as
#: (label, weights on (X, Y, X2, XY, Y2)), ...).
MODELS: dict[str, tuple[str, tuple]] = {
    "null": ("intercept only (no surface)", ()),
    "additive": ("additive: b1, b2 free; no quadratic terms",
                 (("x", (1, 0, 0, 0, 0)), ("y", (0, 1, 0, 0, 0)))),
    "IA": ("interaction: b1, b2, b4 free; b3 = b5 = 0",
           (("x", (1, 0, 0, 0, 0)), ("y", (0, 1, 0, 0, 0)), ("xy", (0, 0, 0, 1, 0)))),
    "SQD": ("squared difference: z = b0 + b3 (X - Y)^2",
            (("(x-y)^2", (0, 0, 1, -2, 1)),)),
    "SSQD": ("shifted squared difference: b1 = -b2, b3 = b5 = -b4/2",
             (("x-y", (1, -1, 0, 0, 0)), ("(x-y)^2", (0, 0, 1, -2, 1)))),
    "RR": ("rising ridge: b1 = b2, b3 = b5 = -b4/2",
           (("x+y", (1, 1, 0, 0, 0)), ("(x-y)^2", (0, 0, 1, -2, 1)))),
    "SRR": ("shifted rising ridge: b1, b2 free; b3 = b5 = -b4/2",
            (("x", (1, 0, 0, 0, 0)), ("y", (0, 1, 0, 0, 0)), ("(x-y)^2", (0, 0, 1, -2, 1)))),
    "full": ("full second-order polynomial",
             tuple((n, tuple(float(i == j) for j in range(5))) for i, n in enumerate(COEF_NAMES))),
}

#: Nested pairs tested by likelihood ratio (smaller, larger), besides every model against full.
NESTED_PAIRS = (
    ("null", "SQD"), ("SQD", "SSQD"), ("SQD", "RR"), ("SSQD", "SRR"), ("RR", "SRR"),
    ("null", "additive"), ("additive", "IA"), ("additive", "SRR"), ("IA", "full"), ("SRR", "full"),
)


def fit_family(z: np.ndarray, X: pd.DataFrame, source: str = "<DataFrame>"
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit every model of :data:`MODELS` by ML; the family table and the nested LR tests.

    ``X`` is the full design (intercept, the five terms named as
    :data:`~alliance.rsa.surface.COEF_NAMES`, any covariates). AICc uses
    ``k`` = coefficients + 1 (the residual variance), as the RSA package (lavaan).
    """
    n = len(z)
    other = [c for c in X.columns if c not in COEF_NAMES]
    full5 = X[list(COEF_NAMES)].to_numpy()
    rows = []
    ll = {}
    for name, (desc, cols) in MODELS.items():
        D = X[other].to_numpy()
        if cols:
            C = np.array([w for _, w in cols], dtype=float).T  # 5 x m
            D = np.column_stack([D, full5 @ C])
        fit = ols(z, D, "ml", source)
        k = fit.k
        aic = -2 * fit.loglik + 2 * k
        aicc = aic + 2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else np.inf
        bsurf = C @ fit.beta[len(other):] if cols else np.zeros(5)
        ll[name] = (fit.loglik, k)
        rows.append({"model": name, "description": desc, "k": k, "loglik": fit.loglik, "aic": aic,
                     "aicc": aicc, "r2": np.nan, **{f"b{i + 1}": float(bsurf[i]) for i in range(5)}})
    models = pd.DataFrame(rows)
    tss = float(np.sum((z - z.mean()) ** 2))
    models["r2"] = [1 - math.exp(-2 * (lv - ll["null"][0]) / n) if tss > 0 else np.nan
                    for lv in models["loglik"]]
    models["delta_aicc"] = models["aicc"] - models["aicc"].min()
    wts = np.exp(-0.5 * models["delta_aicc"])
    models["weight"] = wts / wts.sum()
    full_ll, full_k = ll["full"]
    models["chi2_vs_full"] = [2 * (full_ll - lv) if m != "full" else np.nan
                              for m, lv in zip(models["model"], models["loglik"])]
    models["df_vs_full"] = [full_k - k if m != "full" else np.nan
                            for m, k in zip(models["model"], models["k"])]
    models["p_vs_full"] = [stats.chi2.sf(c, dfv) if np.isfinite(c) else np.nan
                           for c, dfv in zip(models["chi2_vs_full"], models["df_vs_full"])]
    tests = []
    for a, b in NESTED_PAIRS:
        (la, ka), (lb, kb) = ll[a], ll[b]
        chi2 = max(0.0, 2 * (lb - la))
        tests.append({"smaller": a, "larger": b, "chi2": chi2, "df": kb - ka,
                      "p": float(stats.chi2.sf(chi2, kb - ka))})
    return models, pd.DataFrame(tests)
