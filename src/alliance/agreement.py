"""How closely the package's fits agree with R: a fit beside a frozen reference of a committed R script.

Every model of the book is also fitted in R (lme4/lmerTest, nlme) by a script in ``tests/r/`` whose
results are frozen in ``tests/reference/*.json``; the test suite compares them quantity by quantity
with tolerances it justifies. The chapters show the same comparison to the reader: :func:`compare`
sets the package's numbers beside the reference's and :func:`sentence` says, in one line, how far
apart they are.

The relative difference of a quantity is ``|alliance - R| / |R|`` (the absolute difference where R's
value is exactly zero). Before comparing, :func:`compare` checks that the two fits are the same model:
their log-likelihoods must agree to ``loglik_tol``, far looser than any optimiser's tolerance and far
tighter than any change of the model or the data would leave them; otherwise it raises
:class:`ReferenceMismatch` rather than report a difference between two different models.

Examples
--------
>>> import pandas as pd
>>> ref = Reference(pd.DataFrame({"term": ["a"], "estimate": [2.0], "se": [0.5]}), loglik=-1.0,
...                 source="lme4")
>>> mine = pd.DataFrame({"term": ["a"], "estimate": [2.0 + 2e-9], "se": [0.5]})
>>> compare(mine, ref, loglik=-1.0)[["quantity", "relative"]].round(12)
   quantity  relative
0  estimate       0.0
1        se       0.0
>>> sentence(compare(mine, ref, loglik=-1.0))
'the largest relative difference of the estimates is 1 × 10⁻⁹, of the standard errors 0'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from alliance.results import DIFFERENCE

__all__ = ["R_NAMES", "Reference", "ReferenceMismatch", "compare", "compare_icc", "largest",
           "reference", "scientific", "sentence"]

#: lmerTest's (and lme4's) coefficient names -> the package's, per family of the book's models
#: (the variables are named as ``tests/r/chapter_models.R`` and ``tests/r/lagged_reference.R``
#: build them).
R_NAMES: dict[str, dict[str, str]] = {
    "growth_single": {"(Intercept)": "Intercept", "time_training": "time:training"},
    "growth_stacked": {"(Intercept)": "Intercept", "time_training": "time:training",
                       "tr": "therapist_rater", "tr_training": "training:therapist_rater",
                       "time_tr": "time:therapist_rater",
                       "time_training_tr": "time:training:therapist_rater"},
    "truth_bias": {"(Intercept)": "Intercept", "trained": "condition[training]",
                   "Tw": "truth_within", "Tb": "truth_between", "sc": "session_c",
                   "trained:Tw": "truth_within:condition[training]",
                   "trained:Tb": "truth_between:condition[training]",
                   "trained:sc": "session_c:condition[training]"},
    "rsa": {"(Intercept)": "Intercept", "trained": "condition=training",
            **{f"{t}:trained": f"{t}:condition=training" for t in ("x", "y", "x2", "xy", "y2")}},
    "lagged": {"(Intercept)": "Intercept", "trained": "condition[training]",
               "aTw": "alliance_therapist_lag1_within", "aTb": "alliance_therapist_between",
               "aPw": "alliance_patient_lag1_within", "aPb": "alliance_patient_between",
               "prior": "wellbeing_lag1_within", "sc": "session_c",
               **{f"trained:{a}": f"{b}:condition[training]" for a, b in [
                   ("aTw", "alliance_therapist_lag1_within"),
                   ("aTb", "alliance_therapist_between"),
                   ("aPw", "alliance_patient_lag1_within"),
                   ("aPb", "alliance_patient_between"), ("sc", "session_c")]}},
    # the reverse lagged model of one rater: add {"prior": "<rater>_lag1_within"}
    "lagged_reverse": {"(Intercept)": "Intercept", "trained": "condition[training]",
                       "wbw": "wellbeing_lag1_within", "wbb": "wellbeing_between",
                       "sc": "session_c",
                       **{f"trained:{a}": f"{b}:condition[training]" for a, b in [
                           ("wbw", "wellbeing_lag1_within"), ("wbb", "wellbeing_between"),
                           ("sc", "session_c")]}},
}

#: How the sentence names each compared quantity.
QUANTITY_NAMES = {"estimate": "the estimates", "se": "the standard errors",
                  "df": "the Satterthwaite degrees of freedom", "icc_therapist": "the therapist ICCs",
                  "icc_patient": "the patient ICCs", "design_effect": "the design effects"}

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


class ReferenceMismatch(ValueError):
    """The package's fit and the R reference are not the same model (or not the same data)."""


@dataclass
class Reference:
    """One frozen R fit: its estimates (``term`` [``level``], ``estimate``, ``se`` [, ``df``])."""

    estimates: pd.DataFrame
    loglik: float | None = None
    source: str = ""
    model: str = ""
    path: str = ""
    extra: dict = field(default_factory=dict, repr=False)


def _se_from_vcov(names: Sequence[str], vcov: Sequence[Sequence[float]]) -> dict[str, float]:
    v = np.asarray(vcov, dtype=float)
    return dict(zip(names, np.sqrt(np.diag(v)), strict=True))


def reference(path: str | Path) -> Reference:
    """Read a frozen R reference of one of the book's models (any of the formats in ``tests/r/``).

    Formats: lmerTest tables (``fixed_satterthwaite``: ``tests/r/ddf_reference.R``), fixed effects
    with their covariance (``fixed`` and ``vcov``: ``lagged_reference.R``,
    ``varident_reference.R``), coefficients with their covariance (``terms``, ``coef``,
    ``vcov``: ``rsa_reference.R``) and surface parameters per arm (``surface``:
    ``rsa_within_reference.R``, whose ``level`` column is kept).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no frozen R fit of this model; the tests/r script that fits "
                                "it writes this file (Rscript tests/r/<script>.R)")
    d = json.loads(p.read_text())
    source = str(d.get("source", ""))
    model = str(d.get("formula") or d.get("model") or "")
    loglik = d.get("loglik")
    if "fixed_satterthwaite" in d:
        est = pd.DataFrame(d["fixed_satterthwaite"])[["term", "estimate", "se", "df"]]
    elif "surface" in d:
        est = pd.DataFrame(d["surface"])[["level", "term", "estimate", "se", "df"]]
    elif "fixed" in d and "vcov" in d:
        se = _se_from_vcov(d["vcov_names"], d["vcov"])
        est = pd.DataFrame({"term": list(d["fixed"]), "estimate": list(d["fixed"].values())})
        est["se"] = est["term"].map(se)
    elif "terms" in d and "coef" in d and "vcov" in d:
        se = _se_from_vcov(d["terms"], d["vcov"])
        est = pd.DataFrame({"term": d["terms"], "estimate": d["coef"]})
        est["se"] = est["term"].map(se)
    else:
        raise ValueError(f"{p.name}: not a reference format this module reads")
    if not source and "versions" in d:
        source = ", ".join(f"{k} {v}" for k, v in d["versions"].items())
    return Reference(est.reset_index(drop=True), None if loglik is None else float(loglik),
                     source, model, p.name, {k: v for k, v in d.items() if k in ("center", "n",
                                                                                 "nobs")})


def _relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    diff = np.abs(a - b)
    scale = np.abs(b)
    return np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), diff)


def compare(package: pd.DataFrame, ref: Reference, *, names: Mapping[str, str] | None = None,
            keys: Sequence[str] = ("term",), quantities: Sequence[str] | None = None,
            loglik: float | None = None, loglik_tol: float = 1e-3) -> pd.DataFrame:
    """The package's numbers beside the reference's, quantity by quantity.

    Parameters
    ----------
    package : DataFrame
        The package's estimates (``keys`` columns plus the quantities), e.g. ``fit.estimates``.
    ref : Reference
        From :func:`reference`.
    names : mapping, optional
        R's term names -> the package's (:data:`R_NAMES`); names not in it are kept.
    keys : sequence of str
        Columns identifying a row (``("level", "term")`` for surface parameters).
    quantities : sequence of str, optional
        Columns to compare (default: those of ``estimate``, ``se``, ``df`` that both have).
    loglik : float, optional
        The package fit's log-likelihood: checked against the reference's first.
    loglik_tol : float
        Largest absolute difference of the log-likelihoods of one model fitted twice (1e-3:
        optimisers stop within 1e-6 of the optimum here; a different model or data set moves
        the log-likelihood by far more).

    Returns
    -------
    DataFrame
        One row per compared row and quantity: the keys, ``quantity``, ``alliance``, ``R``,
        ``difference`` (alliance - R) and ``relative``.

    Raises
    ------
    ReferenceMismatch
        When the log-likelihoods differ by more than ``loglik_tol``, or a row of the reference
        is missing from the package's table.
    """
    if loglik is not None and ref.loglik is not None and abs(loglik - ref.loglik) > loglik_tol:
        raise ReferenceMismatch(
            f"{ref.path}: log-likelihood {ref.loglik:.6f} in R, {loglik:.6f} here: not the same "
            "model or data (re-run the R script after changing either)")
    r = ref.estimates.copy()
    if names:
        r["term"] = r["term"].map(lambda t: names.get(t, t))
    if "level" in keys and "level" in r and "level" in package:
        # a reference frozen when the response surface named its arm difference "difference":
        # the package's one label of a difference is "<level> - <reference>" (moderation)
        diffs = [lv for lv in pd.unique(package["level"].dropna()) if " - " in str(lv)]
        if len(diffs) == 1:
            r["level"] = r["level"].replace(DIFFERENCE, diffs[0])
    keys = list(keys)
    qs = [q for q in (quantities or ("estimate", "se", "df")) if q in r.columns
          and q in package.columns]
    merged = r[keys + qs].merge(package[keys + qs], on=keys, how="left",
                                suffixes=("_R", "_alliance"), indicator=True)
    missing = merged.loc[merged["_merge"] != "both", keys]
    if len(missing):
        raise ReferenceMismatch(f"{ref.path}: rows not in the package's table: "
                                f"{missing.to_dict(orient='records')}")
    rows = []
    for q in qs:
        a = merged[f"{q}_alliance"].to_numpy(float)
        b = merged[f"{q}_R"].to_numpy(float)
        part = merged[keys].copy()
        part["quantity"] = q
        part["alliance"] = a
        part["R"] = b
        part["difference"] = a - b
        part["relative"] = _relative(a, b)
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


def compare_icc(summary: pd.DataFrame, path: str | Path, method: str = "REML") -> pd.DataFrame:
    """ICCs and design effects of ``randomise.icc_summary`` beside ``tests/r/randomise_reference.R``'s.

    Returns the same columns as :func:`compare`, with ``measure`` as the key.
    """
    d = json.loads(Path(path).read_text())
    rows = []
    s = summary.set_index("measure")
    for measure in s.index:
        key = f"{measure}_{method.lower()}"
        if key not in d["models"]:
            raise ReferenceMismatch(f"{Path(path).name}: no {method} model of {measure}")
        m = d["models"][key]
        for q in ("icc_therapist", "icc_patient", "design_effect"):
            a, b = float(s.loc[measure, q]), float(m[q])
            rows.append({"measure": measure, "quantity": q, "alliance": a, "R": b,
                         "difference": a - b, "relative": float(_relative(np.array(a),
                                                                          np.array(b)))})
    return pd.DataFrame(rows)


def largest(table: pd.DataFrame) -> pd.Series:
    """The largest relative difference of each quantity of a :func:`compare` table."""
    return table.groupby("quantity", sort=False)["relative"].max()


def scientific(x: float) -> str:
    """A small positive number to one significant digit, as ``3 × 10⁻⁹`` (``0`` for zero).

    >>> scientific(3.2e-9), scientific(0.0), scientific(0.04)
    ('3 × 10⁻⁹', '0', '4 × 10⁻²')
    """
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def sentence(table: pd.DataFrame) -> str:
    """How far apart the package and R are, in words (the largest relative difference per quantity)."""
    big = largest(table)
    if big.empty:
        raise ValueError("nothing was compared")
    parts = [(QUANTITY_NAMES.get(q, q), scientific(float(v))) for q, v in big.items()]
    (name, value), rest = parts[0], parts[1:]
    return (f"the largest relative difference of {name} is {value}"
            + "".join(f", of {n} {v}" for n, v in rest))
