"""Moderated effects: the one convention for "an effect per arm, and the arm difference".

A categorical moderator (the trial's arm, or any other grouping) enters a
design as one indicator per non-reference level, ``{moderator}[{level}]``, and
every moderated column ``col`` gets its product with each indicator,
``col:{moderator}[{level}]``. :func:`add_moderator` builds those columns and
:func:`moderated_contrasts` the weights that turn the fitted coefficients into
the effect in every level and each level's difference from the reference. Every
analysis with a moderator (truth and bias, lagged outcomes) uses both, so the
tables they print have one shape.

A numeric moderator (:func:`moderator_kind`; e.g. years of marriage) enters
linearly instead: :func:`add_numeric_moderator` adds the centred moderator and its
products, and :func:`numeric_moderated_contrasts` gives each effect at chosen
values of the moderator (pick-a-point) and its change per unit. The tests of
these combinations (t with small-sample degrees of freedom, or z) come from the
fitted model (:meth:`alliance.mixed.MixedFit.contrast`), so every table builder
shares them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["add_moderator", "add_numeric_moderator", "indicator_name", "moderated_contrasts",
           "moderator_kind", "numeric_moderated_contrasts", "require_groups_per_level"]


def indicator_name(moderator: str, level: str) -> str:
    """Design column of a moderator level's indicator: ``"condition[training]"``."""
    return f"{moderator}[{level}]"


def add_moderator(X: pd.DataFrame, base, values, moderator: str, levels) -> pd.DataFrame:
    """``X`` with each non-reference level's indicator and its products with the ``base`` columns.

    Parameters
    ----------
    X : pandas.DataFrame
        The unmoderated design.
    base : sequence of str
        Columns of ``X`` whose effect differs by level.
    values : array-like
        The moderator's level in each row.
    moderator : str
        Its name (used in the new columns' names).
    levels : sequence of str
        Levels, reference first.
    """
    values = np.asarray(values).astype(str)
    out = X.copy()
    for lv in levels[1:]:
        ind = (values == str(lv)).astype(float)
        name = indicator_name(moderator, lv)
        out[name] = ind
        for b in base:
            out[f"{b}:{name}"] = X[b].to_numpy() * ind
    return out


def moderated_contrasts(terms: dict[str, str], moderator: str | None, levels,
                        available) -> tuple[dict[str, dict[str, float]], list[tuple[str, str, str]]]:
    """Weights of every effect per moderator level and each level's difference from the reference.

    The one builder of the "effect by arm, and the arm difference" tables
    (truth-and-bias forces, lagged effects). With design columns named
    ``col`` (the effect in the reference level), ``{moderator}[{level}]`` (a
    level's indicator) and ``col:{moderator}[{level}]`` (its interaction), the
    effect in a level is ``col + col:{moderator}[{level}]`` and the difference
    from the reference is the interaction alone (for ``Intercept`` the indicator).

    Parameters
    ----------
    terms : dict
        ``{label: design column}`` of the effects (in table order).
    moderator : str or None
        Moderator name; ``None`` gives each effect once, at level ``"all"``.
    levels : sequence of str
        Moderator levels, reference first.
    available : iterable of str
        The fitted design's column names; effects whose column is absent are skipped.

    Returns
    -------
    L : dict
        ``{key: {column: weight}}`` for :meth:`alliance.mixed.MixedFit.contrast`.
    meta : list of (label, level, combination)
        One per key, in order: the effect's label, the level (``"all"``, a level,
        or ``"<level> - <reference>"``) and the columns summed, as text.
    """
    names = set(available)
    L: dict[str, dict[str, float]] = {}
    meta: list[tuple[str, str, str]] = []
    for label, col in terms.items():
        if col not in names:
            continue
        if moderator is None:
            L[f"{label}|all"] = {col: 1.0}
            meta.append((label, "all", col))
            continue
        ref = levels[0]
        inter = {lv: (f"{col}:{moderator}[{lv}]" if col != "Intercept" else f"{moderator}[{lv}]")
                 for lv in levels[1:]}
        L[f"{label}|{ref}"] = {col: 1.0}
        meta.append((label, ref, col))
        for lv in levels[1:]:
            L[f"{label}|{lv}"] = {col: 1.0, inter[lv]: 1.0}
            meta.append((label, lv, f"{col} + {inter[lv]}"))
        for lv in levels[1:]:
            L[f"{label}|{lv} - {ref}"] = {inter[lv]: 1.0}
            meta.append((label, f"{lv} - {ref}", inter[lv]))
    return L, meta


def require_groups_per_level(moderator: str, values, groups: dict, source, what: str) -> None:
    """A categorical moderator's levels each need at least 2 of every group nested in them.

    When every group of a random effect (each therapist, each patient) lies in one level
    of the moderator (an arm), the difference between levels is tested against the
    variation between those groups within a level: a level with a single group leaves
    the difference confounded with that group (one therapist per arm: the arm effect
    *is* that therapist's effect), and a fit would report a test that means nothing.
    Groups that cross the levels (a dyad whose members differ) are not checked.

    Raises :class:`~alliance.FitError` naming the level, the count and the rule.
    """
    from alliance.errors import FitError

    level = pd.Series(np.asarray(values)).astype(str).to_numpy()
    unit = "arm" if moderator == "condition" else f"level of '{moderator}'"
    for name, ids in groups.items():
        ids = pd.Series(np.asarray(ids)).astype(str).to_numpy()
        frame = pd.DataFrame({"g": ids, "m": level})
        if (frame.groupby("g")["m"].nunique() > 1).any():
            continue  # crossed with the moderator: not nested, nothing to check
        counts = frame.groupby("m")["g"].nunique()
        short = counts[counts < 2]
        if len(short):
            lv, n = short.index[0], int(short.iloc[0])
            raise FitError(
                f"{source} ({what}): the {unit} '{lv}' has {n} {name}; an effect that differs "
                f"between levels of '{moderator}' is tested against the variation between "
                f"{name}s within a level, which needs at least 2 {name}s per {unit} "
                f"[rule: at least 2 {name}s per {unit}]")


def moderator_kind(values) -> str:
    """``"numeric"`` for a numeric moderator with more than two distinct values, else
    ``"categorical"`` (labels, or a two-valued code such as 0/1).

    A numeric moderator enters linearly (:func:`add_numeric_moderator`); treating, say,
    years of marriage as categories would give one indicator per distinct value.
    """
    s = pd.Series(values)
    present = s.dropna()
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) \
            and present.nunique() > 2:
        return "numeric"
    return "categorical"


def add_numeric_moderator(X: pd.DataFrame, base, values, moderator: str,
                          center: float) -> pd.DataFrame:
    """``X`` with the centred moderator ``g - center`` (column ``moderator``) and its
    products with the ``base`` columns (``col:{moderator}``).

    The base columns' coefficients are then the effects at ``g = center`` and each
    product's coefficient the change of that effect per unit of ``g``.
    """
    g = np.asarray(values, dtype=float) - float(center)
    out = X.copy()
    out[moderator] = g
    for b in base:
        out[f"{b}:{moderator}"] = X[b].to_numpy() * g
    return out


def numeric_moderated_contrasts(terms: dict[str, str], moderator: str, at, center: float,
                                available) -> tuple[dict[str, dict[str, float]],
                                                    list[tuple[str, str, str]]]:
    """Weights of every effect at chosen values of a numeric moderator, and its slope.

    The numeric counterpart of :func:`moderated_contrasts` (pick-a-point): with
    design columns from :func:`add_numeric_moderator`, the effect at ``g = a`` is
    ``col + (a - center) * col:{moderator}`` (level ``"{moderator}=a"``) and its change
    per unit of ``g`` is ``col:{moderator}`` (level ``"per unit of {moderator}"``);
    for ``Intercept`` the product is the moderator column itself.

    Returns
    -------
    L, meta
        As :func:`moderated_contrasts`.
    """
    names = set(available)
    L: dict[str, dict[str, float]] = {}
    meta: list[tuple[str, str, str]] = []
    for label, col in terms.items():
        if col not in names:
            continue
        inter = moderator if col == "Intercept" else f"{col}:{moderator}"
        for a in at:
            lv = f"{moderator}={float(a):g}"
            shift = float(a) - float(center)
            L[f"{label}|{lv}"] = {col: 1.0, inter: shift}
            meta.append((label, lv, f"{col} + {shift:g} * {inter}"))
        lv = f"per unit of {moderator}"
        L[f"{label}|{lv}"] = {inter: 1.0}
        meta.append((label, lv, inter))
    return L, meta
