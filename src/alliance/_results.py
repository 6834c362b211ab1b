"""The small results object every analysis returns, and its JSON form.

Every analysis function returns a subclass of :class:`Result`. Its tables are
tidy DataFrames whose estimate tables have at least the columns of
:data:`ESTIMATE_COLUMNS`; ``n_obs``, ``n_groups``, ``converged`` and
``warnings`` describe the fit. ``to_dict()`` gives the JSON object that every
``alliance fit ... --json`` command prints.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Result", "ESTIMATE_COLUMNS", "records", "format_table", "wald_table"]

#: Columns every estimate table carries (``level`` is added where a moderator
#: splits the estimates).
ESTIMATE_COLUMNS = ("term", "estimate", "se", "statistic", "p", "ci_low", "ci_high")


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if x is pd.NA or x is None:
        return None
    return x


def records(table: pd.DataFrame) -> list[dict]:
    """A table as a list of JSON-ready records (NaN becomes null)."""
    return [_jsonable(r) for r in table.to_dict(orient="records")]


def format_table(table: pd.DataFrame, digits: int = 3) -> str:
    """Plain-text rendering of a table for terminals and ``summary()``."""
    shown = table.copy()
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]):
            if c == "p":
                shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else ("<.001" if v < 0.001 else f"{v:.3f}"))
            else:
                shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")
    return shown.to_string(index=False)


@dataclass
class Result:
    """Base class of analysis results.

    Attributes
    ----------
    tables : dict of str to DataFrame
        Named tidy tables (the first is the main one).
    n_obs : int
        Rows used by the fit.
    n_groups : dict
        Number of groups per grouping factor.
    converged : bool
        Whether every fit behind the result converged to a valid optimum.
    warnings : list of str
        Problems worth knowing (boundary estimates, fallbacks, dropped rows).
    info : dict
        Further facts (method, log-likelihood, AIC, rows dropped and why, ...).
    """

    title: str = ""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    n_obs: int = 0
    n_groups: dict = field(default_factory=dict)
    converged: bool = True
    warnings: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict: every table as records, plus the fit facts."""
        out = {name: records(t) for name, t in self.tables.items()}
        out.update(
            n_obs=int(self.n_obs),
            n_groups=_jsonable(dict(self.n_groups)),
            converged=bool(self.converged),
            warnings=list(self.warnings),
            info=_jsonable(dict(self.info)),
        )
        return out

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def summary(self) -> str:
        """Human-readable report: every table, then fit facts and warnings."""
        parts = [self.title, "=" * len(self.title)] if self.title else []
        for name, table in self.tables.items():
            parts += ["", f"{name}:", format_table(table)]
        groups = ", ".join(f"{k}: {v}" for k, v in self.n_groups.items())
        parts += ["", f"observations: {self.n_obs}" + (f"; groups: {groups}" if groups else ""),
                  f"converged: {self.converged}"]
        for k, v in self.info.items():
            if isinstance(v, (int, float, str, np.floating, np.integer)):
                parts.append(f"{k}: {v:.3f}" if isinstance(v, (float, np.floating)) else f"{k}: {v}")
        for w in self.warnings:
            parts.append(f"warning: {w}")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        html = [f"<h4>{self.title}</h4>"] if self.title else []
        for name, table in self.tables.items():
            html.append(f"<p><b>{name}</b></p>")
            html.append(table.to_html(index=False, float_format=lambda v: f"{v:.3f}"))
        if self.warnings:
            html.append("<ul>" + "".join(f"<li>{w}</li>" for w in self.warnings) + "</ul>")
        return "\n".join(html)


def wald_table(est, cov, names, conf_level: float = 0.95) -> pd.DataFrame:
    """Tidy Wald z table from estimates and their covariance matrix.

    Columns ``term``, ``estimate``, ``se`` (square root of the diagonal of
    ``cov``; NaN where a variance is negative), ``statistic`` (z), ``p``
    (two-sided, standard normal), ``ci_low``, ``ci_high`` (Wald, level
    ``conf_level``). The one place the package turns estimates into tests.
    """
    from scipy import stats

    est = np.asarray(est, dtype=float)
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    var = np.diag(cov).copy()
    se = np.sqrt(np.where(var >= 0, var, np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    p = 2.0 * stats.norm.sf(np.abs(z))
    crit = stats.norm.ppf(0.5 + conf_level / 2.0)
    return pd.DataFrame({
        "term": list(names), "estimate": est, "se": se, "statistic": z, "p": p,
        "ci_low": est - crit * se, "ci_high": est + crit * se,
    })
