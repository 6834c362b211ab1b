r"""The one bootstrap: resampling whole clusters, the draws on the runner, percentile summaries.

Every bootstrap of the package -- the cluster bootstrap of the headline contrasts
(:mod:`alliance.studies.bootstrap`) and the bootstrap of response surface parameters
(:mod:`alliance.rsa.bootstrap`) -- is a function of one draw mapped by
:func:`alliance.draws.runner.run_draws` (draw *i* has its own generator), resamples
with :func:`resample_clusters` (or cases, rows with replacement), and is summarised
here (:func:`summarise`) into a :class:`BootstrapResult` whose ``estimates`` table
has, per statistic:

* ``estimate``: the statistic on the data;
* ``se``: the bootstrap SD of the draws (ddof 1);
* ``ci_low``, ``ci_high``: the percentile interval, the :math:`(1 - c)/2` and
  :math:`(1 + c)/2` quantiles of the draws at confidence level :math:`c`
  (Efron & Tibshirani 1993, ch. 13);
* ``p``: the bootstrap p value of 0, by one of two rules (:data:`P_RULES`):
  ``"rsa"``, the R package RSA's :math:`2\min(P^*(\theta^* < 0), P^*(\theta^* \ge 0))`;
  ``"resolution"``, :math:`\min\{1, \max[2\min(\#\{\theta^*_b \le 0\},
  \#\{\theta^*_b \ge 0\}), 1]/B\}`, about the smallest level at which the equal-tailed
  percentile interval excludes 0, never below :math:`1/B`, the resolution of
  :math:`B` draws;
* ``boot_mean`` and ``bias`` (:math:`\overline{\theta^*} - \hat\theta`), ``n_boot``
  (draws in which the statistic could be computed) and ``n_failed``.

Draws that fail (a degenerate fit) are recorded by the runner, counted and left out,
never hidden; when every draw fails there is no bootstrap distribution and
:class:`~alliance.FitError` is raised.

References
----------
Efron, B., & Tibshirani, R. J. (1993). *An introduction to the bootstrap*. Chapman & Hall.
Field, C. A., & Welsh, A. H. (2007). Bootstrapping clustered data. *Journal of the Royal
Statistical Society B, 69*(3), 369-390.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from alliance.draws.runner import all_failed
from alliance.errors import FitError
from alliance.results import Result

__all__ = ["P_RULES", "BootstrapResult", "resample_clusters", "summarise"]

#: The bootstrap p values of 0 :func:`summarise` can give (see the module docstring).
P_RULES = ("resolution", "rsa")


@dataclass
class BootstrapResult(Result):
    """Result of every bootstrap of the package.

    ``tables["estimates"]``: one row per statistic (and ``level`` where the statistics
    are per moderator level) with ``term``, ``estimate`` (on the data), ``se``
    (bootstrap SD), ``statistic`` and ``df`` (NaN: a percentile bootstrap has neither),
    ``p`` (bootstrap p of 0), ``ci_low``, ``ci_high`` (percentile), ``boot_mean``,
    ``bias``, ``n_boot`` (draws used) and ``n_failed``; called ``summary`` (cluster
    bootstrap) or ``bootstrap`` (response surfaces) until this release, names still
    accepted. ``draws``: every draw's statistics and the runner's columns
    (``seconds``, ``warnings``, ``error``), also ``tables["draws"]``.
    """

    TABLE_ALIASES: ClassVar[dict[str, str]] = {"summary": "estimates", "bootstrap": "estimates"}

    draws: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def resample_clusters(data: pd.DataFrame, rng: np.random.Generator, *, cluster: str = "therapist",
                      strata: str | None = "condition",
                      relabel: tuple[str, ...] = ("therapist", "patient")) -> pd.DataFrame:
    """One bootstrap sample of whole clusters, drawn with replacement within each stratum.

    Every stratum keeps its number of clusters. The ``relabel`` columns of the k-th
    copy of a cluster get the suffix ``"#k"`` (k = 1, 2, ...), so a cluster drawn twice
    is two clusters with distinct patients.
    """
    ids = data[cluster].to_numpy()
    groups = [data[strata].to_numpy()] if strata is not None else [np.zeros(len(data))]
    parts = []
    for level in pd.unique(groups[0]):
        members = pd.unique(ids[groups[0] == level])
        members = np.sort(members.astype(str)).astype(object)
        drawn = rng.choice(members, size=members.size, replace=True)
        seen: dict = {}
        for c in drawn:
            seen[c] = seen.get(c, 0) + 1
            part = data[ids.astype(str) == c].copy()
            for col in relabel:
                part[col] = part[col].astype(str) + f"#{seen[c]}"
            parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out.attrs = dict(data.attrs)
    return out


def summarise(estimates: dict, draws: pd.DataFrame, *, conf_level: float = 0.95,
              p: str = "resolution", source: str = "", levels: bool = False) -> pd.DataFrame:
    """The percentile summary of a bootstrap: one row per statistic (see the module docstring).

    Parameters
    ----------
    estimates : dict
        Statistic name -> its value on the data (the draws carry a column per name).
        With ``levels``, names are ``"<level>|<term>"`` and the table gets a ``level``
        column.
    draws : pandas.DataFrame
        The rows of :func:`alliance.draws.runner.run_draws`.
    conf_level : float
        Level of the percentile intervals.
    p : {"resolution", "rsa"}
        The rule of the bootstrap p value (:data:`P_RULES`).
    source : str
        The data's name, for the error when every draw failed.

    Raises
    ------
    FitError
        When every draw failed (no bootstrap distribution).
    """
    if p not in P_RULES:
        raise ValueError(f"p must be one of {P_RULES}; got {p!r}")
    first = all_failed(draws)
    if first is not None:  # no interval can come from no draw: an error, not a warning
        where = f"{source}: " if source else ""
        raise FitError(f"{where}every one of the {len(draws)} bootstrap draws failed, so there is "
                       f"no bootstrap distribution; the first: {first} [rule: a bootstrap needs "
                       "draws that can be computed]")
    ok = (draws["error"] == "").to_numpy()
    failed = int((~ok).sum())
    lo_q, hi_q = (1 - conf_level) / 2, 1 - (1 - conf_level) / 2
    rows = []
    for name, value in estimates.items():
        v = draws.loc[ok, name].to_numpy(dtype=float) if name in draws else np.array([])
        v = v[np.isfinite(v)]
        B = v.size
        if B:
            lo, hi = np.quantile(v, [lo_q, hi_q])
            if p == "rsa":
                pv = min(1.0, 2 * min(np.mean(v < 0), np.mean(v >= 0)))
            else:
                pv = min(1.0, max(2.0 * min(np.sum(v <= 0), np.sum(v >= 0)), 1.0) / B)
            mean, se = float(v.mean()), (float(v.std(ddof=1)) if B > 1 else np.nan)
        else:
            lo = hi = pv = mean = se = np.nan
        row = {"term": name, "estimate": float(value), "se": se, "statistic": np.nan,
               "df": np.nan, "p": float(pv), "ci_low": float(lo), "ci_high": float(hi),
               "boot_mean": mean, "bias": mean - float(value), "n_boot": int(B),
               "n_failed": failed}
        if levels:
            level, term = name.rsplit("|", 1)
            row = {"level": level, **row, "term": term}
        rows.append(row)
    cols = (["level"] if levels else []) + ["term", "estimate", "se", "statistic", "df", "p",
                                           "ci_low", "ci_high", "boot_mean", "bias", "n_boot",
                                           "n_failed"]
    return pd.DataFrame(rows, columns=cols)
