r"""Pick-a-point and regions of significance for a surface moderated by a numeric variable."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from alliance.rsa.surface import SURFACE_L

__all__ = ["regions_of_significance", "regions_table"]


def regions_of_significance(c0, c1, v00, v01, v11, conf_level: float = 0.95,
                            df: float = np.inf) -> dict:
    r"""Values of a continuous moderator g where :math:`c_0 + c_1 g` differs from 0.

    With :math:`\mathrm{Var} = v_{00} + 2 g v_{01} + g^2 v_{11}`, the boundaries solve
    :math:`(c_0 + c_1 g)^2 = c^2\,\mathrm{Var}(g)` (Johnson-Neyman; Bauer &
    Curran 2005), :math:`c` the critical value of a t with ``df`` degrees of freedom
    (infinite: the normal). Returns ``lower``, ``upper`` (NaN if none) and ``inside``
    (True if the effect is significant *between* the bounds, False if outside them).
    """
    z2 = stats.t.ppf(0.5 + conf_level / 2.0, df) ** 2
    A = c1 * c1 - z2 * v11
    B = 2.0 * (c0 * c1 - z2 * v01)
    C = c0 * c0 - z2 * v00
    disc = B * B - 4.0 * A * C
    if A == 0 or disc < 0:
        # significant everywhere (C > 0 and A >= 0) or nowhere
        return {"lower": np.nan, "upper": np.nan, "inside": None,
                "everywhere": bool(A >= 0 and C > 0 and disc < 0)}
    r = np.sort([(-B - math.sqrt(disc)) / (2 * A), (-B + math.sqrt(disc)) / (2 * A)])
    return {"lower": float(r[0]), "upper": float(r[1]), "inside": bool(A < 0), "everywhere": False}


def regions_table(beta: np.ndarray, cov: np.ndarray, base: np.ndarray, inter: np.ndarray,
                  observed: np.ndarray, conf_level: float = 0.95, df_of=None) -> pd.DataFrame:
    """Regions of significance of a1-a5 over a numeric moderator :math:`g`.

    ``base`` and ``inter`` map the coefficients onto b1..b5 at :math:`g = 0` and
    their change per unit of :math:`g`; ``observed`` are the moderator's values in
    the data (their range is reported beside the bounds). ``df_of`` (optional) gives
    the degrees of freedom of a linear combination of the coefficients (e.g.
    Satterthwaite's, which vary with :math:`g`); each boundary then uses the t
    critical value at its own degrees of freedom (a fixed point, found by
    iteration), reported as ``df_lower`` and ``df_upper``. Without it: z.
    """
    rows = []
    L = SURFACE_L.to_numpy()
    for k, a_name in enumerate(SURFACE_L.index):
        l0 = L[k] @ base
        l1 = L[k] @ inter
        c0, c1 = float(l0 @ beta), float(l1 @ beta)
        v00, v01, v11 = float(l0 @ cov @ l0), float(l0 @ cov @ l1), float(l1 @ cov @ l1)
        r = regions_of_significance(c0, c1, v00, v01, v11, conf_level)
        dfs = {"df_lower": np.inf, "df_upper": np.inf}
        if df_of is not None:
            for side in ("lower", "upper"):
                g = r[side]
                if not np.isfinite(g):
                    dfs[f"df_{side}"] = np.nan
                    continue
                for _ in range(20):
                    nu = float(df_of(l0 + g * l1))
                    rr = regions_of_significance(c0, c1, v00, v01, v11, conf_level, nu)
                    cands = [v for v in (rr["lower"], rr["upper"]) if np.isfinite(v)]
                    if not cands:
                        g = np.nan
                        break
                    g_new = min(cands, key=lambda v: abs(v - g))
                    if abs(g_new - g) <= 1e-10 * max(1.0, abs(g)):
                        g = g_new
                        break
                    g = g_new
                r[side] = float(g)
                dfs[f"df_{side}"] = float(df_of(l0 + g * l1)) if np.isfinite(g) else np.nan
        rows.append({"term": a_name, "estimate_at_0": c0, "change_per_unit": c1, **r, **dfs,
                     "observed_min": float(np.min(observed)), "observed_max": float(np.max(observed))})
    return pd.DataFrame(rows)
