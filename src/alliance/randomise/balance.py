"""Balance of the arms: standardised differences, each at its variable's level.

:func:`balance` describes the allocated sample (therapist-, patient- and baseline
variables by arm); :func:`median_strata` gives the strata of a stratified allocation
(:func:`alliance.allocation.allocate`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from alliance.data.cells import fail, rows_text, source_of
from alliance.data.validate import read_sessions, require_columns
from alliance.results import Result

__all__ = ["BALANCE_DEFAULT", "BalanceResult", "balance", "median_strata"]

#: Default variables compared by :func:`balance`: ``{column: level}``.
#: ``"therapist"``: one value per therapist; ``"patient"``: one per patient;
#: ``"baseline"``: the patient's session-1 rating.
BALANCE_DEFAULT = {
    "therapist_experience": "therapist",
    "patient_age": "patient",
    "patient_female": "patient",
    "alliance_patient": "baseline",
    "alliance_therapist": "baseline",
    "wellbeing": "baseline",
}


def median_strata(data, column: str = "therapist_experience", *, columns=None) -> dict:
    """Strata for :func:`allocate`: therapists above vs at-or-below the median of a variable.

    Parameters
    ----------
    data : pandas.DataFrame or path
        Long session data (validated by :func:`alliance.read_sessions`; ``columns``
        maps your column names).
    column : str
        A therapist-level variable (constant within therapist), e.g.
        ``therapist_experience`` (years).

    Returns
    -------
    dict
        ``{therapist: "above median" | "at or below median"}`` in order of first
        appearance.

    Examples
    --------
    >>> import alliance
    >>> from alliance.randomise import median_strata
    >>> s = median_strata(alliance.load_example())
    >>> sorted(pd.Series(s).value_counts().to_dict().items())
    [('above median', 20), ('at or below median', 20)]
    """
    return _median_strata(read_sessions(data, columns, numeric=[column], require=[column]),
                          column)


def _median_strata(data: pd.DataFrame, column: str = "therapist_experience") -> dict:
    """:func:`median_strata` on validated session data (``column`` read as numbers)."""
    per = _constant_within(data, column, "therapist").dropna().astype(float)
    med = float(per.median())
    return {t: ("above median" if v > med else "at or below median") for t, v in per.items()}


def _constant_within(data: pd.DataFrame, column: str, by: str) -> pd.Series:
    """One value of ``column`` per level of ``by`` (in order of first appearance); DataError if it varies."""
    g = data.groupby(by, sort=False)[column]
    n = g.nunique(dropna=False)
    bad = n[n > 1]
    if len(bad):
        lvl = bad.index[0]
        src = source_of(data)
        raise fail(src, f"{column} constant within {by}",
                   f"column '{column}' varies within {by} {lvl!r} in "
                   f"{rows_text(np.flatnonzero((data[by] == lvl).to_numpy()), src)}")
    return g.first()


@dataclass(repr=False)
class BalanceResult(Result):
    """Result of :func:`balance`; the table ``estimates`` (``balance`` until this release, a
    name still accepted) has one row per variable.

    Columns: ``term`` (variable), ``level`` (therapist / patient / baseline),
    ``estimate`` (standardised difference training - control), ``se``,
    ``statistic``, ``df``, ``p``, ``ci_low``, ``ci_high`` (all NaN on purpose: see
    :func:`balance`), ``n_training``, ``mean_training``, ``sd_training``,
    ``n_control``, ``mean_control``, ``sd_control``, ``binary``.
    """

    TABLE_ALIASES: ClassVar[dict[str, str]] = {"balance": "estimates"}

    @property
    def max_abs(self) -> float:
        """Largest absolute standardised difference."""
        return float(self.estimates["estimate"].abs().max())


def _std_diff(xt: np.ndarray, xc: np.ndarray, binary: bool) -> tuple[float, float, float]:
    """Standardised difference (Austin 2009) and the two SDs used."""
    mt, mc = float(np.mean(xt)), float(np.mean(xc))
    if binary:
        st, sc = math.sqrt(mt * (1 - mt)), math.sqrt(mc * (1 - mc))
    else:
        st = float(np.std(xt, ddof=1)) if len(xt) > 1 else float("nan")
        sc = float(np.std(xc, ddof=1)) if len(xc) > 1 else float("nan")
    pooled = math.sqrt((st**2 + sc**2) / 2)
    d = (mt - mc) / pooled if pooled > 0 else float("nan")
    return d, st, sc


def balance(
    data,
    covariates: Mapping[str, str] | Sequence[str] | None = None,
    *,
    columns=None,
) -> BalanceResult:
    r"""Balance of the arms: standardised differences, each at its variable's level.

    For a variable :math:`x` the standardised difference between the arms is

    .. math::

        d = \frac{\bar x_T - \bar x_C}{\sqrt{(s_T^2 + s_C^2)/2}},

    with :math:`\bar x_T, s_T` the mean and SD in the training arm
    and :math:`\bar x_C, s_C` in the control arm, computed over
    **one row per unit of the variable's level**: per therapist for therapist
    variables (``therapist_experience``), per patient for patient variables
    (``patient_age``, ``patient_female``) and for baseline ratings (the
    patient's session-1 value of ``alliance_patient``, ``alliance_therapist``,
    ``wellbeing``). For a 0/1 variable :math:`s^2 = \hat p(1-\hat p)`.

    Parameters
    ----------
    data : pandas.DataFrame or path
        Long session data, validated by :func:`alliance.read_sessions`.
    covariates : mapping or sequence, optional
        ``{column: level}`` with level ``"therapist"``, ``"patient"`` or
        ``"baseline"``, or a list of columns (the level is then inferred:
        constant within therapist -> therapist, constant within patient ->
        patient, otherwise the session-1 value). Default: the columns of
        :data:`BALANCE_DEFAULT` present in ``data``.
    columns : mapping, optional
        ``{canonical: yours}`` for columns named differently from the canonical
        schema (as :func:`alliance.read_sessions`).

    Returns
    -------
    BalanceResult
        Table ``estimates`` (see :class:`BalanceResult`); ``n_groups`` counts
        therapists and patients; ``info["rows_used"]`` per variable.

    Notes
    -----
    The standardised difference is a *description* of the allocated sample,
    not a test: with randomised allocation every baseline difference is by
    definition due to chance, so the p value of a significance test of it
    answers a question nobody asked (Altman 1985; CONSORT, Moher et al. 2010).
    ``se``, ``statistic``, ``p`` and the CI are therefore NaN. A common
    reading rule flags :math:`|d| > 0.1` (Austin 2009); with 20 therapists per
    arm, differences of 0.3 or more in a therapist-level variable happen often
    by chance and matter only if the variable predicts the outcome (then
    adjust for it). Patients with no session-1 row or a missing session-1
    rating are left out of that baseline row (counted in ``n_*``).

    Validated by ``tests/test_randomise.py`` against direct computation of the
    per-therapist and per-patient means and SDs with pandas.

    References
    ----------
    Austin, P. C. (2009). Balance diagnostics for comparing the distribution of
    baseline covariates between treatment groups in propensity-score matched
    samples. *Statistics in Medicine*, 28(25), 3083-3107.

    Altman, D. G. (1985). Comparability of randomised groups. *The
    Statistician*, 34(1), 125-136.

    Examples
    --------
    >>> import alliance
    >>> from alliance.randomise import balance
    >>> bal = balance(alliance.load_example())
    >>> bal.estimates[["term", "level", "n_training", "n_control"]].head(3)
                       term      level  n_training  n_control
    0  therapist_experience  therapist          20         20
    1           patient_age    patient          ...        ...
    2        patient_female    patient          ...        ...
    """
    wanted = list(BALANCE_DEFAULT) if covariates is None else list(covariates)
    data = read_sessions(data, columns, numeric=wanted,
                         require=[] if covariates is None else wanted)
    return _balance(data, covariates)


def _balance(data: pd.DataFrame, covariates: Mapping[str, str] | Sequence[str] | None = None
             ) -> BalanceResult:
    """:func:`balance` on validated session data (the covariates read as numbers)."""
    src = source_of(data)
    therapist, patient, condition, session = "therapist", "patient", "condition", "session"
    treated, control = "training", "control"
    if covariates is None:
        spec = {c: lvl for c, lvl in BALANCE_DEFAULT.items() if c in data.columns}
        if not spec:
            raise fail(src, "covariates present",
                       f"none of the default covariates {list(BALANCE_DEFAULT)} is in the data; "
                       "pass covariates=")
    elif isinstance(covariates, Mapping):
        spec = dict(covariates)
    else:
        spec = {c: None for c in covariates}
    require_columns(data, list(spec), "balance table")
    arm_of_ther = data.groupby(therapist, sort=False)[condition].first()
    rows, used = [], {}
    for col, level in spec.items():
        if level is None:
            if data.groupby(therapist)[col].nunique(dropna=False).max() <= 1:
                level = "therapist"
            elif data.groupby(patient)[col].nunique(dropna=False).max() <= 1:
                level = "patient"
            else:
                level = "baseline"
        if level == "therapist":
            vals = _constant_within(data, col, therapist)
            arm = arm_of_ther.reindex(vals.index)
        elif level == "patient":
            vals = _constant_within(data, col, patient)
            arm = data.groupby(patient, sort=False)[condition].first().reindex(vals.index)
        elif level == "baseline":
            first = data[data[session] == data[session].min()]
            vals = first.groupby(patient, sort=False)[col].first()
            arm = first.groupby(patient, sort=False)[condition].first().reindex(vals.index)
        else:
            raise ValueError(
                f"balance: level of {col!r} must be 'therapist', 'patient' or "
                f"'baseline', got {level!r}"
            )
        ok = vals.notna().to_numpy()
        if not (pd.api.types.is_numeric_dtype(vals.dtype) or not ok.any()):
            raise fail(src, "numeric column", f"column '{col}' does not hold numbers (read the "
                       f"data with alliance.read_sessions(numeric=[{col!r}]); balance does)")
        x = vals[ok].to_numpy(dtype=float)
        a = arm[ok].to_numpy()
        xt, xc = x[a == treated], x[a == control]
        if len(xt) == 0 or len(xc) == 0:
            raise fail(src, "both arms present", f"column '{col}' has no values in one arm")
        if len(xt) < 2 or len(xc) < 2:
            # the standardised difference divides by the arms' SDs (ddof=1): one unit in an
            # arm has none, and the difference would be NaN
            raise fail(src, "two units per arm",
                       f"column '{col}' is measured per {level} and has "
                       f"{len(xt)} {level} value(s) in '{treated}' and {len(xc)} in "
                       f"'{control}'; a standardised difference needs at least 2 in each arm")
        binary = bool(np.isin(x, (0.0, 1.0)).all())
        d, st, sc = _std_diff(xt, xc, binary)
        used[col] = int(ok.sum())
        rows.append(
            {
                "term": col,
                "level": level,
                "estimate": d,
                "se": np.nan,
                "statistic": np.nan,
                "df": np.nan,
                "p": np.nan,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "n_training": len(xt),
                "mean_training": float(xt.mean()),
                "sd_training": st,
                "n_control": len(xc),
                "mean_control": float(xc.mean()),
                "sd_control": sc,
                "binary": binary,
            }
        )
    table = pd.DataFrame(rows)
    return BalanceResult(
        title="Balance of the arms (standardised differences, training - control)",
        tables={"estimates": table},
        n_obs=len(data),
        n_groups={
            "therapist": int(data[therapist].nunique()),
            "patient": int(data[patient].nunique()),
        },
        info={
            "rows_used": used,
            "arms": [treated, control],
            "sd": "sample SD (ddof=1); p(1-p) for 0/1 variables",
        },
    )
