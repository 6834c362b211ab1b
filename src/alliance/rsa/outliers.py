"""The Bollen & Jackman (1980) outlier rule the RSA package applies by default.

A row is an outlier when it is flagged by all three of R's ``influence.measures``
criteria on the unconstrained single-level model (k coefficients, n rows):
``|DFFITS| > 3 sqrt(k / (n - k))``, Cook's distance with ``F(D; k, n - k) > 0.5``,
and leverage ``h > 3k / n``. Here the rule is an option (``fit_rsa(...,
outliers="bj1980")``), reported when used: the rows are counted in
``rows_dropped["outlier_bj1980"]``, listed by input row, and warned about.
Validated against R's ``influence.measures`` and RSA's ``out.rm = TRUE`` in
``tests/test_rsa_family.py``.

**Single level only, by decision.** A multilevel surface refuses the option (a
``ValueError`` saying why). The rule's three cutoffs are derived for independent
rows of an OLS fit: DFFITS and Cook's distance scale a row's own deletion effect by
the residual variance of independent errors, and ``F(k, n - k)`` and ``3k/n`` count
independent rows. In a multilevel fit the rows of one therapist (or patient) share
random effects, deleting one row moves the predicted random effect of its group as
well, and the number of independent units is the number of groups, not rows. Applied
to the fixed part's level-1 residuals and leverages the cutoffs would have no known
false-positive rate, and RSA -- whose default the rule mirrors -- has no multilevel
fits. Influence in a multilevel surface belongs to groups: refit without each
therapist and compare the surface parameters (the cluster bootstrap of
:func:`alliance.rsa.bootstrap_rsa` shows the same spread from resampling groups).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.outliers_influence import OLSInfluence

__all__ = ["bollen_jackman", "drop_outliers"]


def bollen_jackman(z: np.ndarray, X: np.ndarray) -> pd.DataFrame:
    """The three criteria per row (``dffit``, ``cook_d``, ``hat``) and ``outlier`` (all three)."""
    X = np.asarray(X, float)
    n, k = X.shape
    infl = OLSInfluence(sm.OLS(np.asarray(z, float), X).fit())
    dffits = infl.dffits[0]
    cook = infl.cooks_distance[0]
    hat = infl.hat_matrix_diag
    out = pd.DataFrame({
        "dffit": np.abs(dffits) > 3 * np.sqrt(k / (n - k)),
        "cook_d": stats.f.cdf(cook, k, n - k) > 0.5,
        "hat": hat > 3 * k / n,
    })
    out["outlier"] = out[["dffit", "cook_d", "hat"]].all(axis=1)
    return out


def drop_outliers(f: pd.DataFrame, X: pd.DataFrame, spec, kind, levels, n_input: int):
    """Rows of ``f`` without the Bollen-Jackman outliers and the design rebuilt.

    Returns ``f``, ``X`` and a dict: ``outlier_rows`` (input rows, from 0), ``drop``
    (``(rows of the input, identifier, reason)`` for the fit's row count, or None) and
    ``warning`` (or None).
    """
    from alliance.rsa.spec import design_matrix

    flags = bollen_jackman(f["z"].to_numpy(), X.to_numpy())
    bad = flags["outlier"].to_numpy()
    rows = f.loc[bad, "input_row"].astype(int).tolist()
    out = {"outlier_rows": rows, "drop": None, "warning": None}
    if not bad.any():
        return f, X, out
    f2 = f[~bad].reset_index(drop=True)
    f2.attrs.update(f.attrs)
    X2, _ = design_matrix(f2, spec, kind, levels)
    dropped = np.zeros(int(n_input), dtype=bool)
    dropped[rows] = True
    out["drop"] = (dropped, "outlier_bj1980", (
        "a multivariate outlier by the Bollen & Jackman (1980) rule (DFFITS, Cook's distance "
        "and leverage all flagged on the unconstrained model)"))
    out["warning"] = (
        f"removed {int(bad.sum())} outlier(s) by the Bollen & Jackman (1980) rule (input rows "
        f"{', '.join(str(r) for r in rows)}, counting from 0)")
    return f2, X2, out
