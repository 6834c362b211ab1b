"""Rates from Monte Carlo draws: shares with their binomial confidence intervals.

A study's draws give, for each rule (a test at level alpha, a finding's
verdict), a count ``k`` of draws in which it came out among ``n`` draws that
could be evaluated. What the share estimates depends on the truth of the
scenario -- power when the effect exists, a false-positive rate when it does
not, ``1 - alpha`` for "not significant" under a true null -- so every rate
carries that label (``estimates``) beside its interval.

Intervals are Clopper-Pearson ("exact", :func:`statsmodels.stats.proportion.proportion_confint`
with ``method="beta"``): they never undercover, which matters for rates near 0
or 1 such as a false-positive rate of 5% or a power of 99%. The Monte Carlo
standard error is :math:`\\sqrt{\\hat p (1 - \\hat p) / n}` (Morris, White & Crowther
2019). Failed draws (a fit that raised) are not counted in ``n``; their number
is reported in ``failed``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from alliance.results import Result

__all__ = ["StudyResult", "binomial_ci", "rate"]


def binomial_ci(k: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a share ``k / n``.

    Examples
    --------
    >>> lo, hi = binomial_ci(50, 1000)
    >>> round(lo, 3), round(hi, 3)
    (0.037, 0.065)
    """
    if n <= 0:
        return (np.nan, np.nan)
    lo, hi = proportion_confint(int(k), int(n), alpha=1 - conf_level, method="beta")
    return float(lo), float(hi)


def rate(hits, term: str, estimates: str, conf_level: float = 0.95, **keys) -> dict:
    """One row of a rates table from per-draw outcomes (1, 0, or NaN for a failed draw).

    Returns ``term``, ``keys`` (e.g. ``level``), ``estimate`` (the share), ``se``
    (Monte Carlo), ``statistic`` and ``p`` (empty: a rate is not a test),
    ``ci_low``, ``ci_high``, ``k``, ``n``, ``failed`` and ``estimates`` (what the
    share estimates).
    """
    h = pd.to_numeric(pd.Series(hits), errors="coerce").to_numpy(dtype=float)
    ok = ~np.isnan(h)
    n, k = int(ok.sum()), int(h[ok].sum())
    share = k / n if n else np.nan
    lo, hi = binomial_ci(k, n, conf_level)
    return {"term": term, **keys, "estimate": share,
            "se": float(np.sqrt(share * (1 - share) / n)) if n else np.nan,
            "statistic": np.nan, "p": np.nan, "ci_low": lo, "ci_high": hi,
            "k": k, "n": n, "failed": int((~ok).sum()), "estimates": estimates}


class StudyResult(Result):
    """Result of a Monte Carlo study: rates first, then the per-draw rows (``draws``)."""
