"""What a response surface model is asked for, and the rows and design it is fitted on.

:class:`RSASpec` holds the options of :func:`alliance.rsa.fit_rsa` and checks
that they fit together (a lag needs a time column, random slopes need a group,
...). :func:`analysis_frame` takes the data through the package's validation
door (:func:`alliance.read_table`), builds the lagged predictors with the one lag
builder, types the moderator, drops incomplete rows (counted by reason) and
centres the predictors; :func:`design_matrix` builds the fixed-effect design
with explicit column names (no user column name ever reaches a formula).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alliance.data.cells import Source, fail, source_of
from alliance.data.lags import lag as build_lag
from alliance.data.lags import lag_columns, split_within_between
from alliance.data.validate import read_table
from alliance.moderation import require_groups_nested, require_groups_per_level
from alliance.options import check_conf_level, check_method, check_number, check_within_data
from alliance.results import columns_frame
from alliance.rsa.surface import COEF_NAMES

CUBIC_NAMES = ("x3", "x2y", "xy2", "y3")

__all__ = ["CENTRES", "RSASpec", "analysis_frame", "design_matrix"]

#: Named centring rules (a number is also accepted: the common centre itself).
CENTRES = ("pooled", "none", "variablewise")
#: Fewest complete rows a surface is fitted on.
MIN_ROWS = 10


def _parse_center(center):
    if center is None:
        return "none"
    if isinstance(center, str):
        c = center.strip().lower()
        if c in CENTRES:
            return c
        try:
            center = float(c)
        except ValueError:
            raise ValueError(
                f"center must be 'pooled', 'none', 'variablewise' or a number; got {center!r}"
            ) from None
    return check_number(center, "center",
                        rule="'pooled', 'none', 'variablewise' or a finite number")


@dataclass
class RSASpec:
    """A response surface model: the options of :func:`alliance.rsa.fit_rsa`, checked on
    construction (see its docstring for each).

    Build one to fit the same surface to several data sets, or to vary one option:
    ``fit_rsa(data, spec)``, ``fit_rsa(data, spec, level2_means=True)``.

    Examples
    --------
    >>> from alliance.rsa import RSASpec
    >>> spec = RSASpec("wellbeing", "alliance_therapist", "alliance_patient", group="patient")
    >>> spec.groups, spec.method, spec.se
    (['patient'], 'ML', 'gls')
    """

    outcome: str
    x: str
    y: str | None = None
    group: str | Sequence[str] | None = None
    time: str | None = None
    lag: int | None = None
    lag_within: str | None = None
    prior_outcome: bool = False
    lag_gaps: bool = False
    moderator: str | None = None
    moderator_levels: Sequence | None = None
    at: Sequence[float] | None = None
    covariates: Sequence[str] = ()
    center: object = "pooled"
    se: str | None = None
    random: str = "intercept"
    level2_means: bool = False
    y_as_group_mean: bool = False
    method: str = "ML"
    conf_level: float = 0.95
    model: str | None = None
    family: object = "auto"
    cubic: bool = False
    outliers: str | None = None
    outer_random: str = "intercept"
    groups: list = field(init=False)
    family_asked: object = field(init=False, repr=False)
    cubic_asked: bool = field(init=False, repr=False)
    model_asked: str | None = field(init=False, repr=False)

    def __post_init__(self):
        self.family_asked, self.cubic_asked, self.model_asked = self.family, self.cubic, self.model
        self.method = check_method(self.method)
        if self.random not in ("intercept", "full"):
            raise ValueError(f"random must be 'intercept' or 'full'; got {self.random!r}")
        self.conf_level = check_conf_level(self.conf_level)
        g = self.group
        self.groups = [] if g is None else ([g] if isinstance(g, str) else list(g))
        self.covariates = list(self.covariates)
        self.center = _parse_center(self.center)
        se = None if self.se is None else str(self.se).lower()
        if self.groups:
            if se not in (None, "gls", "model"):
                raise ValueError(
                    f"se={se!r} applies to single-level fits; multilevel fits use the GLS covariance"
                )
            se = "gls"
        else:
            se = se or "hc0"
            if se not in ("hc0", "hc1", "hc3", "classical", "ml"):
                raise ValueError(f"se must be 'hc0', 'hc1', 'hc3', 'classical' or 'ml'; got {se!r}")
            if self.level2_means or self.random == "full":
                raise ValueError("level2_means and random='full' need a group")
        self.se = se
        if self.y_as_group_mean:
            if self.y is not None:
                raise ValueError("y_as_group_mean builds Y from x; pass y=None")
            if not self.groups:
                raise ValueError("y_as_group_mean needs a group")
        elif self.y is None:
            raise ValueError("y is required (or y_as_group_mean=True)")
        if (self.lag is None) != (self.time is None):
            raise ValueError("time and lag go together (a lagged surface needs both)")
        if self.lag is not None and self.lag_unit is None:
            raise ValueError("a lagged surface needs group or lag_within (the unit lags stay within)")
        if self.prior_outcome and self.lag is None:
            raise ValueError("prior_outcome needs lag")
        if self.lag_gaps and self.lag is None:
            raise ValueError("lag_gaps needs lag")
        from alliance.rsa.models import MODELS, model_names

        asked_cubic = bool(self.cubic)
        if isinstance(self.family, str) and self.family == "auto":
            # single level without a moderator: RSA's family, as the RSA package fits it
            self.family = ("cubic" if self.cubic else "default") if not (self.groups or
                                                                          self.moderator) else None
        self.family = model_names(self.family, moderated=self.moderator is not None)
        if any(MODELS[m].order == 3 for m in self.family):
            self.cubic = True
        if self.model is None:
            self.model = "cubic" if asked_cubic else "full"
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; models are {list(MODELS)}")
        if MODELS[self.model].piecewise:
            raise ValueError(f"model {self.model!r} is piecewise, not a polynomial surface: compare "
                             "it in family=, not as the fitted model")
        if MODELS[self.model].order == 3:
            self.cubic = True
        if self.groups and any(MODELS[m].piecewise for m in self.family):
            raise ValueError("the piecewise models (absdiff, absunc) are single-level only")
        if self.family and self.groups and self.method != "ML":
            raise ValueError("the model family is compared by likelihood: use method='ML'")
        if self.outliers not in (None, "none", "bj1980"):
            raise ValueError(f"outliers must be None or 'bj1980'; got {self.outliers!r}")
        if self.outliers == "none":
            self.outliers = None
        if self.outliers and self.groups:
            raise ValueError(
                "outliers='bj1980' (Bollen & Jackman 1980) applies to single-level fits only: its "
                "cutoffs (DFFITS, Cook's distance against F(k, n - k), leverage 3k/n) assume "
                "independent rows, while in a multilevel fit rows of one therapist or patient are "
                "correlated and influence belongs to whole groups; check influential groups by "
                "refitting without each one instead")
        if self.at is not None:
            at = [float(a) for a in self.at]
            if not all(np.isfinite(at)) or not at:
                raise ValueError(f"at must be finite moderator values; got {self.at!r}")
            self.at = at
        if self.outer_random not in ("intercept", "full", "diagonal"):
            raise ValueError(f"outer_random must be 'intercept', 'full' or 'diagonal'; got "
                             f"{self.outer_random!r}")
        if self.outer_random != "intercept" and len(self.groups) < 2:
            raise ValueError("outer_random applies to the outermost of two or more groups")

    @property
    def inner(self) -> str | None:
        """The innermost grouping column (random slopes, level-2 means, default lag unit)."""
        return self.groups[-1] if self.groups else None

    @property
    def lag_unit(self) -> str | None:
        """The unit lags stay within."""
        return self.lag_within or self.inner

    def numeric_columns(self) -> list[str]:
        """Columns that must hold numbers."""
        cols = [self.outcome, self.x] + ([self.y] if self.y else []) + self.covariates
        return list(dict.fromkeys(cols + ([self.time] if self.time else [])))

    def identifier_columns(self) -> list[str]:
        """Columns read as ids (groups, the lag unit): a missing id drops the row."""
        return list(dict.fromkeys(self.groups + ([self.lag_unit] if self.lag is not None else [])))

    def id_columns(self) -> list[str]:
        """Columns that must be present (ids; missing ids drop the row)."""
        cols = self.groups + ([self.lag_unit] if self.lag is not None else [])
        return list(dict.fromkeys(cols + ([self.moderator] if self.moderator else [])))


def _holds_numbers(dtype) -> bool:
    """Whether a column of ``dtype`` holds numbers (pandas' numeric dtypes but booleans); a
    NumPy dtype read by its kind (integers, floats, complex: the same answer, without
    pandas' per-call cost)."""
    if isinstance(dtype, np.dtype):
        return dtype.kind in "iufc"
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def analysis_frame(d, spec: RSASpec, read: dict | None = None, *,
                   codes: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """The rows a surface is fitted on, with the centred polynomial terms: the door of a fit.

    Every check of the data is here, in one pass through the lower layers: with
    ``read`` (the options of :func:`alliance.read_table`, as :func:`alliance.rsa.fit_rsa`
    passes them) ``d`` is read and validated first; without it ``d`` is validated data
    already (by :func:`alliance.read_table`, or session data by
    :func:`alliance.read_sessions`) and nothing is parsed here. Then the lagged
    predictors (the one lag builder), the moderator (binary: two values, or the two
    ``moderator_levels``; else numeric), the complete rows, at least 2 groups per
    level of a binary moderator, and ``at`` and a numeric ``center`` near the data.
    ``codes``: the id columns' factorisations that validating ``d`` made
    (:func:`alliance.data.validate._read_sessions_coded`), used instead of factorising
    them again.

    Returns
    -------
    frame : pandas.DataFrame
        ``z`` (outcome), ``x_raw``, ``y_raw`` (the predictors as used: lagged if
        asked), ``cov:<c>``, ``group:<g>``, ``mod`` (coded moderator),
        ``prior_outcome``, the centred terms ``x``, ``y``, ``x2``, ``xy``, ``y2`` (and
        ``x3``, ``x2y``, ``xy2``, ``y3`` for cubic fits) and ``input_row`` (the row's
        position in the input).
    info : dict
        ``center_x``, ``center_y``, ``moderator_kind``, ``moderator_levels``,
        ``lag_report``, ``rows_input`` and ``drops``: the rows left out, in the order
        the rules were applied, as ``(rows of the input, identifier, reason)`` (the
        fit counts them with :class:`alliance.results.RowLog`); ``warnings`` (a list);
        ``group_codes``: the text group columns of the frame factorised (``group -> codes``,
        for :func:`design_matrix`); ``columns``: the frame's columns as arrays (the same
        values, read without taking them from the frame again).
    """
    if read is not None:
        d = read_table(d, **read)
        codes = None
    source = source_of(d)
    taken = {}  # each column taken from the frame once (each take copies the frame's attrs)

    def col(name):
        if name not in taken:
            taken[name] = d[name]
        return taken[name]

    not_numbers = [c for c in spec.numeric_columns()
                   if c in d.columns and not _holds_numbers(col(c).dtype)]
    if not_numbers:
        raise fail(source, "numeric column",
                   f"column(s) {not_numbers} do not hold numbers; read the data with "
                   f"alliance.read_table(numeric={not_numbers}) (fit_rsa does)")
    missing = [c for c in dict.fromkeys(spec.numeric_columns() + spec.id_columns())
               if c not in d.columns]
    if missing:
        raise fail(source, "required columns present",
                   f"missing column(s) {missing}; the data have {list(d.columns)}")
    # The columns of every input row as arrays, in the frame's order; one DataFrame of the
    # complete rows at the end (group columns keep their pandas array: text ids stay text).
    cols = {"z": col(spec.outcome).to_numpy()}
    xs = col(spec.x)
    ys = xs.groupby(col(spec.inner)).transform("mean") if spec.y_as_group_mean else col(spec.y)
    drops = []  # (rows of the input left out, identifier, reason), in the order applied
    lag_info = None
    text = pd.api.types.pandas_dtype(str)
    given = {k: v for k, v in (codes or {}).items() if v is not None and len(v[0]) == len(d)}
    id_codes = {}  # text id columns factorised once, for every use below: codes, -1 missing
    for g in dict.fromkeys(spec.groups + ([spec.lag_unit] if spec.lag is not None else [])):
        if col(g).dtype == text:  # (validation's factorisation of the column, if given)
            id_codes[g] = (given[g][0] if g in given else
                           pd.factorize(col(g).to_numpy(dtype=object))[0])  # a missing id: NaN
    if spec.lag is not None:
        xa, ya = xs.to_numpy(), ys.to_numpy()
        named = {"_x": xa, "_y": ya, "_time": col(spec.time)}
        if spec.prior_outcome:
            named["_z"] = cols["z"]
        if all(isinstance(a.dtype, np.dtype) and a.dtype.kind in "fiu"
               for a in (xa, ya, *([cols["z"]] if spec.prior_outcome else []))):
            # the lag builder on the columns themselves (the frame of them it would be given,
            # named as there, and its source: the data's name and row labels)
            unit = id_codes.get(spec.lag_unit)
            bridge = ((lambda: pd.notna(xa) & pd.notna(ya)) if spec.lag_gaps else None)
            lagged, report = lag_columns(
                col(spec.lag_unit), col(spec.time), named, spec.lag,
                Source(source.name, None, source.index), group="_unit", time="_time",
                bridge=bridge, codes=unit if unit is not None and (unit >= 0).all() else None)
            xs = np.asarray(lagged[f"_x_lag{spec.lag}"], dtype=float)
            ys = np.asarray(lagged[f"_y_lag{spec.lag}"], dtype=float)
            if spec.prior_outcome:
                cols["prior_outcome"] = np.asarray(lagged[f"_z_lag{spec.lag}"], dtype=float)
            no_previous = pd.isna(lagged[f"_time_lag{spec.lag}"])
        else:
            tmp = pd.DataFrame({"_x": xa, "_y": ya, "_z": cols["z"],
                                "_unit": col(spec.lag_unit), "_time": col(spec.time)}, index=d.index)
            tmp.attrs["source"] = source.name
            lagged = build_lag(tmp, list(named), group="_unit", time="_time", lag=spec.lag,
                               bridge=["_x", "_y"] if spec.lag_gaps else None)
            report = lagged.attrs["lag"]
            xs = lagged[f"_x_lag{spec.lag}"].to_numpy(dtype=float)
            ys = lagged[f"_y_lag{spec.lag}"].to_numpy(dtype=float)
            if spec.prior_outcome:
                cols["prior_outcome"] = lagged[f"_z_lag{spec.lag}"].to_numpy(dtype=float)
            no_previous = lagged[f"_time_lag{spec.lag}"].isna().to_numpy()
        lag_info = dict(report, group=spec.lag_unit, time=spec.time)
        lag_info["n_missing_value"] = {k: v for k, v in lag_info["n_missing_value"].items()
                                       if not k.startswith("_time")}
        lag_info["n_valid"] = {k: v for k, v in lag_info["n_valid"].items()
                               if not k.startswith("_time")}
        drops.append((no_previous, "no_previous_session",
                      "no previous session of the same unit (first session or a gap)"))
    cols["x_raw"] = np.asarray(xs, dtype=float)
    cols["y_raw"] = np.asarray(ys, dtype=float)
    for c in spec.covariates:
        cols[f"cov:{c}"] = col(c).to_numpy()
    for g in spec.groups:  # ids as text, missing ones missing (text ids already are: as they are)
        ids = col(g)
        cols[f"group:{g}"] = ids.array if ids.dtype == text else ids.astype(str).where(
            ids.notna()).array
    kind, levels, coded = None, [], None
    if spec.moderator:  # its kind, its coded values (NaN where missing), its level labels
        m = col(spec.moderator)
        if m.dtype == text:  # text: its distinct values and every row's from one factorisation
            # (in order of appearance, as pd.unique; its cells as objects: the same codes and
            # values as the column's own factorize, in half the time)
            mcodes, vals = (given[spec.moderator] if spec.moderator in given else
                            pd.factorize(m.to_numpy(dtype=object)))
        else:
            mcodes, vals = None, pd.unique(m.dropna())
        if len(vals) == 2 or spec.moderator_levels is not None:
            lv = (list(spec.moderator_levels) if spec.moderator_levels is not None
                  else sorted(vals, key=str))
            if len(lv) != 2 or not {str(v) for v in vals} <= {str(v) for v in lv}:
                raise fail(source, "binary moderator",
                           f"moderator '{spec.moderator}' has values {sorted(map(str, vals))}; "
                           f"moderator_levels {lv} must list exactly its two values")
            kind, levels = "binary", [str(v) for v in lv]
            if mcodes is not None and len(vals):  # text: each distinct value compared once
                second = np.array([v == str(lv[1]) for v in vals], dtype=float)
                coded = np.where(mcodes < 0, np.nan, second[np.maximum(mcodes, 0)])
            else:
                coded = np.where(m.isna(), np.nan, (m.astype(str) == str(lv[1])).astype(float))
        elif len(vals) < 2:
            raise fail(source, "moderator varies",
                       f"moderator '{spec.moderator}' takes a single value")
        elif not pd.api.types.is_numeric_dtype(m):
            raise fail(source, "binary or numeric moderator",
                       f"moderator '{spec.moderator}' has {len(vals)} non-numeric levels; use a "
                       "binary or a numeric moderator")
        else:
            kind, coded = "continuous", m.to_numpy(dtype=float)
        cols["mod"] = coded
    incomplete = np.zeros(len(d), dtype=bool)
    for k, v in cols.items():
        if k.startswith("group:") and k[6:] in id_codes:  # a text id is missing where its code is
            incomplete |= id_codes[k[6:]] < 0
        elif type(v) is np.ndarray and v.dtype.kind == "f":  # (pd.isna of floats: np.isnan)
            incomplete |= np.isnan(v)
        elif v.dtype.kind not in "iub":
            incomplete |= pd.isna(v)
    drops.append((incomplete, "missing_values",
                  ("a value of the outcome, a predictor, a covariate, a group or the moderator "
                   "missing")))
    keep = np.ones(len(d), dtype=bool)
    for bad, _, _ in drops:
        keep &= ~bad
    n = int(keep.sum())
    if n < MIN_ROWS:
        raise fail(source, "enough rows", f"only {n} complete rows for the response surface model")
    kept = {k: v[keep] for k, v in cols.items()}
    if kind == "binary" and spec.groups:  # groups nested in the moderator: at least 2 per level
        # on codes: each row's level (the texts of the levels present, factorised as the rule
        # factorises them) and each group's ids factorised above (only which rows share a
        # code matters, not the codes' order)
        mod = kept["mod"].astype(int)  # 0 or 1: the level of each row
        seen = np.flatnonzero(np.bincount(mod, minlength=2))  # the levels present
        # (pd.factorize of the texts of the levels present, which are distinct: rows with
        # both levels hold two values, the second of moderator_levels and another; so the
        # codes 0, 1, ... in order and the texts themselves)
        labels = np.asarray(levels, dtype=object)[seen]
        lcode = np.searchsorted(seen, mod)
        for g in spec.groups:
            if g in id_codes:
                require_groups_nested(spec.moderator, lcode, labels, g, id_codes[g][keep], source,
                                      "response surface")
            else:
                require_groups_per_level(spec.moderator, np.asarray(labels, dtype=object)[lcode],
                                         {g: kept[f"group:{g}"]}, source, "response surface")
    if kind == "continuous" and spec.at is not None:  # 1e308 overflows; far out extrapolates
        spec.at = check_within_data(spec.at, coded[np.isfinite(coded)], "at",
                                    f"the moderator '{spec.moderator}'")
    notes = []
    x_raw, y_raw = kept["x_raw"], kept["y_raw"]
    if spec.center == "pooled":
        cx = cy = float(np.mean(np.concatenate([x_raw, y_raw])))
    elif spec.center == "none":
        cx = cy = 0.0
    elif spec.center == "variablewise":
        cx, cy = float(pd.Series(x_raw).mean()), float(pd.Series(y_raw).mean())
        notes.append(
            "predictors centred variable-wise (each on its own mean): the line of congruence X = Y "
            "of the centred scores is no longer the line where the raw ratings agree"
        )
    else:  # a number: finite (checked in RSASpec) and near the data, or the powers overflow
        cx = cy = check_within_data([spec.center], np.concatenate([x_raw, y_raw]),
                                    "center", "the predictors X and Y")[0]
    x = x_raw - cx
    y = y_raw - cy
    kept.update(x=x, y=y, x2=x ** 2, xy=x * y, y2=y ** 2)
    if spec.cubic:
        kept.update(x3=x ** 3, x2y=x ** 2 * y, xy2=x * y ** 2, y3=y ** 3)
    kept["input_row"] = np.flatnonzero(keep)
    f = columns_frame(kept)
    f.attrs["source"] = source.name
    info = {"center_x": cx, "center_y": cy, "moderator_kind": kind, "moderator_levels": levels,
            "lag_report": lag_info, "warnings": notes, "rows_input": len(d), "drops": drops,
            "group_codes": {g: c[keep] for g, c in id_codes.items() if g in spec.groups},
            "columns": kept}
    return f, info


def design_matrix(f: pd.DataFrame, spec: RSASpec, kind: str | None, levels, *,
                  codes: dict | None = None, columns: dict | None = None
                  ) -> tuple[pd.DataFrame, str | None]:
    """Fixed-effect design: intercept, the five terms, moderator and its products, covariates.

    Returns the design and the moderator's column name (``None`` without a moderator).
    ``codes``: the frame's group columns factorised (``group_codes`` of
    :func:`analysis_frame`, for this very frame), used for the level-2 means; ``columns``:
    the frame's columns as arrays (``columns`` of :func:`analysis_frame`, for this very
    frame), read instead of the frame's.
    """
    cols, mod_term = design_columns(f, spec, kind, levels, codes=codes, columns=columns)
    return columns_frame(cols), mod_term


def design_columns(f: pd.DataFrame, spec: RSASpec, kind: str | None, levels, *,
                   codes: dict | None = None, columns: dict | None = None
                   ) -> tuple[dict, str | None]:
    """:func:`design_matrix`'s columns before they become a frame: ``{name: 1-D array}`` in
    the design's order (the values and dtype of the design's columns), and the moderator's column name; for a caller that reads the design's columns as arrays
    too (the same arguments as :func:`design_matrix`)."""
    n = len(f)
    column = ((lambda c: f[c].to_numpy()) if columns is None else
              (lambda c: np.asarray(columns[c])))
    cols = {"Intercept": np.ones(n)}  # the columns, in order; one DataFrame at the end
    terms = COEF_NAMES + (CUBIC_NAMES if spec.cubic else ())
    values = {t: column(t) for t in terms}
    cols.update(values)
    mod_term = None
    if kind == "binary":
        mod_term = f"{spec.moderator}={levels[1]}"
    elif kind == "continuous":
        mod_term = spec.moderator
    if kind:
        mod = column("mod")
        cols[mod_term] = mod
        for t in terms:
            cols[f"{t}:{mod_term}"] = values[t] * mod
    for c in spec.covariates:
        name = c if c not in cols else f"cov:{c}"
        cols[name] = column(f"cov:{c}")
    if spec.prior_outcome:
        cols[f"{spec.outcome}_lag{spec.lag}"] = column("prior_outcome")
    if spec.level2_means:
        # Each group's means of the five terms, and (with a moderator) their products with it:
        # every level's a1..a5 are then within-group, none borrows between-group association
        # from another level (the same a1..a5 as centring the five terms at the group's means).
        group = column(f"group:{spec.inner}")
        given = (codes or {}).get(spec.inner)
        means = split_within_between(np.column_stack([values[t] for t in COEF_NAMES]), group,
                                     codes=given if given is not None and len(given) == n
                                     else None)[0]
        for j, t in enumerate(COEF_NAMES):
            cols[f"mean_{t}"] = means[:, j]
        if kind:
            for t in COEF_NAMES:
                cols[f"mean_{t}:{mod_term}"] = cols[f"mean_{t}"] * mod
    return cols, mod_term
