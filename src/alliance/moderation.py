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

from alliance.results import columns_frame, wald_columns

__all__ = ["ARMS", "add_moderator", "add_numeric_moderator", "contrast_table", "difference_label",
           "indicator_name", "moderate", "moderated_contrasts", "moderator_kind",
           "moderator_levels", "numeric_moderated_contrasts", "require_groups_per_level"]

#: The trial's arms, reference first: a moderator with these levels has ``control`` as its
#: reference (any other moderator: its levels in sorted order).
ARMS = ("control", "training")


def difference_label(level: str, reference: str) -> str:
    """The one label of a level's difference from the reference: ``"training - control"``.

    Every table with an effect per level and the differences between levels (truth and
    bias, lagged outcomes, response surfaces) names the difference this way; the former
    response-surface name ``"difference"`` is still accepted as input for one release
    (:meth:`alliance.results.Result.rows`).
    """
    return f"{level} - {reference}"


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
    cols = _moderator_columns(X, base, values, moderator, levels)
    if not set(cols).isdisjoint(X.columns):  # a column replaced in place: as X.copy() did
        out = X.copy()
        for name, col in cols.items():
            out[name] = col
        return out
    return pd.concat([X, pd.DataFrame(cols, index=X.index)], axis=1)  # one new block


def _moderator_columns(X, base, values, moderator: str, levels, codes=None) -> dict:
    """:func:`add_moderator`'s new columns, ``{name: values}`` in order (``X``: a DataFrame
    or a dict of its columns; ``codes``: ``values`` factorised, see :func:`_level_test`)."""
    is_level = _level_test(values, codes)
    cols = {}
    for lv in levels[1:]:
        ind = is_level(str(lv)).astype(float)
        name = indicator_name(moderator, lv)
        cols[name] = ind
        for b in base:
            cols[f"{b}:{name}"] = np.asarray(X[b]) * ind
    return cols


def _numeric_moderator_columns(X, base, g: np.ndarray, moderator: str) -> dict:
    """:func:`add_numeric_moderator`'s new columns, ``{name: values}`` in order (``g``
    centred already; ``X``: a DataFrame or a dict of its columns)."""
    cols = {moderator: g}
    for b in base:
        cols[f"{b}:{moderator}"] = np.asarray(X[b]) * g
    return cols


def _level_test(values, codes=None):
    """``lambda level: np.asarray(values).astype(str) == level``: each row's moderator text
    compared with a level's. Text cells (none missing) are compared once per distinct value
    (factorised; ``codes``: the caller's factorisation of ``values``, ``(codes, distinct)``
    as ``pd.factorize`` gives it) instead of converting every cell to a fixed-width string."""
    arr = np.asarray(values) if codes is None else None
    if codes is not None or arr.dtype == object:
        codes, uniq = pd.factorize(arr) if codes is None else codes
        if (codes >= 0).all() and all(type(u) is str and "\x00" not in u for u in uniq):
            return lambda level: np.array([u == level for u in uniq], dtype=bool)[codes]
    text = np.asarray(values).astype(str)
    return lambda level: text == level


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
            L[f"{label}|{difference_label(lv, ref)}"] = {inter[lv]: 1.0}
            meta.append((label, difference_label(lv, ref), inter[lv]))
    return L, meta


def _as_text(values) -> np.ndarray:
    """``values`` as an array of their texts (``str`` of each; a missing value as ``"nan"``),
    as ``Series.astype(str)`` gives them: an object array holding only text already is."""
    arr = np.asarray(values)
    if arr.dtype == object and pd.api.types.infer_dtype(arr, skipna=False) == "string":
        return arr
    return pd.Series(arr).astype(str).to_numpy()


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
    level = _as_text(values)
    lcode, labels = pd.factorize(level)
    if not len(labels):
        return
    for name, ids in groups.items():
        require_groups_nested(moderator, lcode, labels, name, pd.factorize(_as_text(ids))[0],
                              source, what)


def require_groups_nested(moderator: str, lcode: np.ndarray, labels, name: str,
                          gcode: np.ndarray, source, what: str) -> None:
    """:func:`require_groups_per_level` for one group, on codes: row ``i`` is in the level
    ``labels[lcode[i]]`` and the group ``gcode[i]`` (non-negative integers; only which rows
    share a code matters, so a caller's own factorisation of the ids serves, and a level of
    ``labels`` that no row is in is not one of the levels checked)."""
    from alliance.errors import FitError

    k = len(labels)
    # distinct (group, level) pairs, sorted (as alliance.data.cells.distinct_pairs, which this
    # layer does not import: the levels are few, so a table always serves)
    seen = np.zeros((int(gcode.max()) + 1) * k, dtype=bool)
    seen[gcode.astype(np.int64) * k + lcode] = True
    pairs = np.flatnonzero(seen)
    if (np.bincount(pairs // k) > 1).any():
        return  # crossed with the moderator: not nested, nothing to check
    counts = np.bincount(pairs % k, minlength=k)  # groups per level
    short = [(str(labels[j]), int(counts[j])) for j in range(k) if 0 < counts[j] < 2]
    if short:
        unit = "arm" if moderator == "condition" else f"level of '{moderator}'"
        lv, n = min(short)  # the first level in sorted order, as a groupby lists them
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
    s = values if isinstance(values, pd.Series) else pd.Series(values)  # (read only)
    if (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
            and s.dropna().nunique() > 2):  # (the present values only when they can decide)
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
    for name, col in _numeric_moderator_columns(X, base, g, moderator).items():
        out[name] = col
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


#: pandas' text dtype (``str``).
_TEXT = pd.api.types.pandas_dtype(str)


def moderator_levels(values, moderator: str, source, what: str = "an effect",
                     reference_order=ARMS, *, present=None) -> list[str]:
    """Levels of a categorical moderator, reference first (``control`` for the arms).

    Levels that are all among ``reference_order`` keep that order; any others are
    sorted. A single level raises :class:`~alliance.DataError` (an effect cannot
    differ between levels of a moderator with one level). ``present``: the distinct
    texts of ``values``, if the caller has them (``values`` are then not read).
    """
    from alliance.errors import DataError

    if present is None:
        text = (values if isinstance(values, pd.Series) and values.dtype == _TEXT  # text
                else pd.Series(values).astype(str))
        present = [str(v) for v in pd.unique(text.to_numpy(dtype=object))]
    if set(present) <= set(reference_order):
        levels = [c for c in reference_order if c in present]
    else:
        levels = sorted(present)
    if len(levels) < 2:
        raise DataError(
            f"{source}: the moderator '{moderator}' has a single level {levels} among the "
            f"analysed rows; {what} cannot differ between levels. Fit with moderator=None "
            "[rule: moderator has at least two levels]")
    return levels


def moderate(X: pd.DataFrame | dict, base, values, moderator: str | None, source, at=None,
             what: str = "an effect", *, index=None, codes=None
             ) -> tuple[pd.DataFrame, list | None, dict | None]:
    """The design ``X`` with a moderator's columns: the one path of every moderated analysis.

    A categorical moderator (:func:`moderator_kind`) adds one indicator per
    non-reference level and its products with the ``base`` columns
    (:func:`add_moderator`); a numeric one the centred moderator and its products
    (:func:`add_numeric_moderator`), with pick points ``at`` (default mean - SD, mean,
    mean + SD; values must lie near the data). ``moderator=None`` leaves ``X`` as it is.
    ``X`` may also be the design's columns (a dict, name -> values, with the rows' ``index``):
    the design is then made once, with the moderator's columns (the same frame as from
    the DataFrame of those columns). ``codes``: a text moderator's ``values`` factorised by
    the caller, ``(codes, distinct)`` as ``pd.factorize`` gives them (every row a code), used
    instead of factorising them again.

    Returns
    -------
    X, levels, numeric
        The design; the categorical levels (reference first) or None; for a numeric
        moderator ``{"center", "sd", "at"}``, else None.
    """
    from alliance.options import check_within_data

    columns = isinstance(X, dict)
    if moderator is None:
        return (columns_frame(X, index=index) if columns else X), None, None
    if moderator_kind(values) == "numeric":
        g = np.asarray(values, dtype=float)
        center = float(np.mean(g))
        sd = float(np.std(g, ddof=1))
        pick = list(at) if at is not None else [center - sd, center, center + sd]
        if not pick:
            raise ValueError(f"moderator_at must be finite values of '{moderator}'; got {at!r}")
        if at is not None:  # finite and near the data: 1e308 overflows, far out extrapolates
            pick = check_within_data(pick, g, "moderator_at", f"'{moderator}'")
        X = (columns_frame({**X, **_numeric_moderator_columns(X, base, g - center, moderator)},
                           index=index)  # (a column of X replaced in place, as X.copy() does)
             if columns else add_numeric_moderator(X, base, g, moderator, center))
        return X, None, {"center": center, "sd": sd, "at": [float(a) for a in pick]}
    if at is not None:
        raise ValueError(f"moderator_at applies to a numeric moderator; '{moderator}' is "
                         "categorical")
    present = None if codes is None else [  # the distinct texts of the rows, from their codes
        str(codes[1][j]) for j in np.flatnonzero(np.bincount(codes[0], minlength=len(codes[1])))]
    levels = moderator_levels(values, moderator, source, what=what, present=present)
    if columns:  # one frame of the design's and the moderator's columns
        return (columns_frame({**X, **_moderator_columns(X, base, values, moderator, levels,
                                                         codes)}, index=index), levels, None)
    return add_moderator(X, base, values, moderator, levels), levels, None


def contrast_table(fit, terms: dict[str, str], moderator: str | None, levels=None,
                   numeric: dict | None = None) -> pd.DataFrame:
    """Every effect per moderator level and each level's difference from the reference.

    The one table of "an effect per arm, and the arm difference" (or, for a numeric
    moderator, at its pick points and per unit): ``term`` (the effect's label),
    ``level``, the test columns of ``fit.contrast`` and ``combination`` (the
    coefficients summed). ``fit`` is a :class:`~alliance.mixed.MixedFit`;
    ``terms`` maps each effect's label onto its design column.
    """
    names = fit.tables["fixed"]["term"]  # the fitted terms (fit.coef's labels)
    if numeric is not None:
        L, meta = numeric_moderated_contrasts(terms, moderator, numeric["at"], numeric["center"],
                                              names)
    else:
        L, meta = moderated_contrasts(terms, moderator, levels, names)
    # fit.contrast(L)'s test columns under the effect's label and level, the combination
    # last: one frame of them
    _, est, cov, df = fit._contrast_parts(L)
    return columns_frame({"term": [m[0] for m in meta], "level": [m[1] for m in meta],
                          **wald_columns(est, cov, fit.conf_level, df=df),
                          "combination": [m[2] for m in meta]})
