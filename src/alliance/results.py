"""The small results object every analysis returns, and its JSON form.

Every analysis function returns a subclass of :class:`Result`. Its tables are
tidy DataFrames whose estimate tables have at least the columns of
:data:`ESTIMATE_COLUMNS`; ``n_obs``, ``n_groups``, ``converged`` and
``warnings`` describe the fit. ``to_dict()`` gives the JSON object that every
``alliance fit ... --json`` command prints.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import special

from alliance.options import check_conf_level

try:  # pandas >= 2.3: a frame from its blocks, without the constructor's inference
    from pandas.api.internals import create_dataframe_from_blocks as _from_blocks
except ImportError:  # pragma: no cover - older pandas: the constructor
    _from_blocks = None

__all__ = [
    "DIFFERENCE",
    "ESTIMATE_COLUMNS",
    "MAIN_TABLE",
    "MIN_DF",
    "Result",
    "RowLog",
    "Tables",
    "check_tests",
    "columns_frame",
    "format_table",
    "labels_index",
    "records",
    "wald_columns",
    "wald_table",
]

#: Columns every estimate table carries (``level`` is added where a moderator
#: splits the estimates). ``df`` is the t test's degrees of freedom (small-sample
#: methods) or infinity for a Wald z test (JSON: null).
ESTIMATE_COLUMNS = ("term", "estimate", "se", "statistic", "df", "p", "ci_low", "ci_high")

#: The name of every result's main table (its first): ``result.tables["estimates"]``, also
#: :attr:`Result.estimates`.
MAIN_TABLE = "estimates"

#: The level name accepted, for one release, for the difference between the two levels of a
#: binary moderator, whose label is ``"<level> - <reference>"``
#: (:func:`alliance.moderation.difference_label`, e.g. ``"training - control"``).
DIFFERENCE = "difference"


class Tables(dict):
    """A result's named tables, in order; a table's former name still finds it.

    ``aliases`` maps a former name onto the current one (kept for one release, e.g.
    ``"fixed"`` for a growth model's ``"estimates"``): ``tables["fixed"]`` and
    ``"fixed" in tables`` work, while iteration, ``len`` and JSON list each table
    once, under its current name.

    Examples
    --------
    >>> t = Tables({"estimates": 1, "variance_components": 2}, {"fixed": "estimates"})
    >>> t["fixed"], "fixed" in t, list(t)
    (1, True, ['estimates', 'variance_components'])
    """

    def __init__(self, tables: Mapping | None = None, aliases: Mapping | None = None):
        super().__init__(tables or {})
        self.aliases = {k: v for k, v in dict(aliases or {}).items() if k != v}

    def _name(self, key):
        if not dict.__contains__(self, key) and key in self.aliases:
            return self.aliases[key]
        return key

    def __getitem__(self, key):
        return super().__getitem__(self._name(key))

    def __setitem__(self, key, value):
        super().__setitem__(self._name(key), value)

    def __contains__(self, key) -> bool:
        return super().__contains__(self._name(key))

    def get(self, key, default=None):
        return super().get(self._name(key), default)

    def pop(self, key, *default):
        return super().pop(self._name(key), *default)


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


def format_p(p: float, *, equals: bool = False) -> str:
    """A p value as the book prints it everywhere (APA style): ``"< .001"`` below .001,
    else three decimals without the leading zero (``".013"``, ``"1.000"``).

    The one p formatter: tables (:func:`alliance.plots.tables.format_value`,
    :func:`format_table`) and the reasons of a verdict (``alliance.findings``) use it.
    ``equals=True`` gives the phrase for prose, ``"p = .013"`` or ``"p < .001"``.
    A missing p (NaN, None) is ``"NA"``.

    Examples
    --------
    >>> format_p(0.0000231), format_p(0.0131), format_p(0.05), format_p(1.0)
    ('< .001', '.013', '.050', '1.000')
    >>> format_p(0.0131, equals=True), format_p(2.31e-05, equals=True)
    ('p = .013', 'p < .001')
    """
    if p is None or p is pd.NA or not math.isfinite(p):
        text = "NA"
    elif p < 0.001:
        text = "< .001"
    else:
        text = "1.000" if p >= 1 else f"{p:.3f}".replace("0.", ".", 1)
    if not equals:
        return text
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def format_table(table: pd.DataFrame, digits: int = 3) -> str:
    """Plain-text rendering of a table for terminals and ``summary()``."""
    shown = table.copy()
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]):
            if c == "p":
                shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else format_p(v))
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

    #: Former names of this kind of result's tables -> current names (kept for one release).
    TABLE_ALIASES: ClassVar[dict[str, str]] = {}

    def __post_init__(self):
        self.tables = Tables(self.tables, {**self.TABLE_ALIASES,
                                           **getattr(self.tables, "aliases", {})})

    @property
    def estimates(self) -> pd.DataFrame:
        """The main table (the first of :attr:`tables`, named ``"estimates"``): what the
        analysis estimates, with at least the columns of :data:`ESTIMATE_COLUMNS`."""
        return next(iter(self.tables.values()))

    def _level(self, t: pd.DataFrame, want):
        """A level asked for by a former name (``"difference"``) as the table names it."""
        if want == DIFFERENCE and "level" in t.columns and not (t["level"] == want).any():
            label = self.info.get("difference_level")
            if label is not None:
                return label
        return want

    def rows(self, table: str | None = None, **keys) -> pd.DataFrame:
        """Rows of a table (default: :attr:`estimates`) whose columns equal ``keys``.

        ``res.rows(level="training")`` or ``res.rows("variance_components", group="patient")``.
        The difference between the two levels of a binary moderator is the level
        ``"<level> - <reference>"`` (``"training - control"``); ``level="difference"``
        finds it too (its former name in response surfaces, kept for one release).
        """
        t = self.estimates if table is None else self.tables[table]
        sel = np.ones(len(t), dtype=bool)
        for col, want in keys.items():
            if col not in t.columns:
                raise KeyError(f"the table has no column {col!r}; it has {list(t.columns)}")
            if col == "level":
                want = self._level(t, want)
            sel &= (t[col] == want).to_numpy()
        return t[sel]

    def value(self, term: str | None = None, level: str | None = None, *,
              column: str = "estimate", table: str | None = None, **keys) -> float:
        """One number of a table: the row with this ``term`` (and ``level``, and ``keys``).

        The one accessor every analysis shares, e.g. ``res.value("time:training")``,
        ``res.value("temporal congruence", "training - control", column="p")``,
        ``res.value(predictor="alliance_patient", part="within", level="training")``.
        Raises ``KeyError`` listing what the table holds when no single row matches.
        """
        if term is not None:
            keys["term"] = term
        if level is not None:
            keys["level"] = level
        found = self.rows(table, **keys)
        if len(found) != 1:
            t = self.estimates if table is None else self.tables[table]
            idcols = [c for c in t.columns if t[c].dtype == object]
            avail = sorted({tuple(map(str, r)) for r in t[idcols].itertuples(index=False)})
            what = "no" if found.empty else "several"
            raise KeyError(f"{what} row with {keys}; rows by {idcols}: {avail}")
        return float(found[column].iloc[0])

    def to_dict(self) -> dict:
        """JSON-ready dict: every table as records, plus the fit facts.

        A table renamed in this release is also given under its former name
        (``fixed``, ``forces``, ``effects``, ``surface``, ...), for one release.
        """
        out = {name: records(t) for name, t in self.tables.items()}
        for old, new in getattr(self.tables, "aliases", {}).items():
            if new in out and old not in out:
                out[old] = out[new]
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


def columns_frame(columns: dict, index=None) -> pd.DataFrame:
    """``pd.DataFrame(columns, index=index)`` for a dict of columns, built from its blocks where
    the constructor would infer nothing: the same frame (columns, dtypes, values, index) in a
    fraction of the time (a results table of 8 columns: about 15 µs instead of 60).

    The shortcut takes column names that are text, and columns that are each a 1-D NumPy
    array of numbers or booleans (those of one dtype stacked into one block, as the
    constructor consolidates them), a list or a NumPy array of ``str`` (text, as the
    constructor infers it; ``None`` in a list of text is missing, a list of ``None`` only is
    objects) or a pandas array of that text dtype, all of one length (that of ``index``, if given:
    used as it is, as the constructor uses it; else positions 0..n-1). The data are copied,
    as the constructor copies them. Anything else (a Series, an object array, a scalar, another
    missing value among texts, an index that is not a pandas Index, pandas without text
    inference or with text stored by pyarrow) is handed to ``pd.DataFrame`` itself.
    """
    text = pd.api.types.pandas_dtype(str)  # (text in Python objects: pandas without pyarrow)
    fast = (_blocks_of(columns, index, text)
            if isinstance(text, pd.StringDtype) and text.storage == "python" else None)
    if fast is None:
        return pd.DataFrame(columns, index=index)
    blocks, n = fast
    return _from_blocks(blocks, index=pd.RangeIndex(n) if index is None else index,
                        columns=_column_index(tuple(columns), text).copy())


def labels_index(names) -> pd.Index:
    """``pd.Index(list(names))`` for labels that are all text (a table's terms): the Index
    made once per distinct list of labels and copied for each caller (an Index's name can be
    set), half the time of inferring its dtype again; any other labels: ``pd.Index``."""
    names = tuple(names)
    text = pd.api.types.pandas_dtype(str)
    if names and isinstance(text, pd.StringDtype) and all(type(n) is str for n in names):
        return _column_index(names, text).copy()
    return pd.Index(list(names))


@functools.lru_cache(maxsize=256)
def _column_index(names: tuple, text) -> pd.Index:
    """The column labels of :func:`columns_frame` (each frame gets its own copy: an Index's
    name can be set)."""
    return pd.Index(list(names), dtype=text)


def _blocks_of(columns: dict, index, text):
    """The blocks of :func:`columns_frame`'s shortcut and the row count; None: no shortcut."""
    if _from_blocks is None or type(columns) is not dict or not columns:
        return None
    if index is not None and not isinstance(index, pd.Index):
        return None
    n = None if index is None else len(index)
    groups: dict = {}  # NumPy dtype -> ([positions], [arrays]), in order of first appearance
    blocks = []
    for j, (name, v) in enumerate(columns.items()):
        if type(name) is not str:
            return None
        if type(v) is np.ndarray and v.dtype.kind == "U" and v.ndim == 1:  # NumPy text
            v = v.tolist()
        if type(v) is np.ndarray:
            if v.ndim != 1 or v.dtype.kind not in "fiub" or not v.dtype.isnative:
                return None
            g = groups.get(v.dtype)
            if g is None:
                groups[v.dtype] = g = ([], [])
            g[0].append(j)
            g[1].append(v)
            m = v.shape[0]
        elif type(v) is list:
            if all(type(t) is str for t in v):
                blocks.append((pd.arrays.StringArray(np.array(v, dtype=object), dtype=text),
                               np.array([j])))
            elif not all(t is None or type(t) is str for t in v):
                return None
            elif any(t is not None for t in v):  # text and None: text, None missing
                blocks.append((pd.array(v, dtype=text), np.array([j])))
            else:  # None only: objects
                v = np.array(v, dtype=object)
                g = groups.get(v.dtype)
                if g is None:
                    groups[v.dtype] = g = ([], [])
                g[0].append(j)
                g[1].append(v)
            m = len(v)
        elif isinstance(v, pd.api.extensions.ExtensionArray) and v.dtype == text:
            blocks.append((v.copy(), np.array([j])))
            m = len(v)
        else:
            return None
        if n is None:
            n = m
        elif m != n:
            return None
    if not n:
        return None
    for dtype, (where, arrays) in groups.items():
        values = np.empty((len(arrays), n), dtype=dtype)
        for i, v in enumerate(arrays):
            values[i] = v
        blocks.append((values, np.array(where)))
    return blocks, n


def _t_sf(x, nu) -> np.ndarray:
    """Upper tail of Student's t with ``nu`` degrees of freedom (the normal where ``nu`` is
    infinite; NaN where ``nu`` is not positive): ``scipy.stats.t.sf`` without its
    per-call argument handling (the same special functions, equal to the last bit).
    Where every ``nu`` is finite, or every one infinite, only that branch is evaluated
    (elementwise functions, broadcast: the same values as picking them from both)."""
    x, nu = np.asarray(x, dtype=float), np.asarray(nu, dtype=float)
    inf = np.isinf(nu)
    with np.errstate(invalid="ignore"):
        if not inf.any():
            out = special.stdtr(nu, -x)
        elif inf.all():
            out = special.ndtr(-x)
        else:
            out = np.where(inf, special.ndtr(-x), special.stdtr(np.where(inf, 1.0, nu), -x))
    return np.where(nu > 0, out, np.nan)


def _t_ppf(q, nu) -> np.ndarray:
    """Quantile of Student's t (as :func:`_t_sf`: ``scipy.stats.t.ppf``'s values)."""
    q, nu = np.asarray(q, dtype=float), np.asarray(nu, dtype=float)
    inf = np.isinf(nu)
    with np.errstate(invalid="ignore"):
        if not inf.any():
            out = special.stdtrit(nu, q)
        elif inf.all():
            out = special.ndtri(q)
        else:
            out = np.where(inf, special.ndtri(q), special.stdtrit(np.where(inf, 1.0, nu), q))
    return np.where(nu > 0, out, np.nan)


def wald_table(est, cov, names, conf_level: float = 0.95, df=None, *,
               constrained: bool = False, first: dict | None = None) -> pd.DataFrame:
    """Tidy table of Wald tests from estimates and their covariance matrix.

    Columns ``term``, ``estimate``, ``se`` (square root of the diagonal of
    ``cov``; NaN where a variance is negative), ``statistic`` (estimate / se),
    ``df``, ``p`` (two-sided), ``ci_low``, ``ci_high`` (level ``conf_level``).
    Without ``df`` (or where it is infinite) the statistic is a z referred to the
    standard normal; with ``df`` (one value or one per row: small-sample degrees of
    freedom, e.g. Satterthwaite's) it is a t referred to a t distribution with those
    degrees of freedom, and the interval uses that t quantile. The one place the
    package turns estimates into tests. ``constrained``: estimates of a constrained
    model, where a value the constraints fix has a standard error of (numerically) 0,
    at most 1e-10 times the largest estimate (at least 1): no statistic and no p there.
    ``first``: columns to put before ``term`` (name -> one value per row, e.g. a ``level``).

    Examples
    --------
    >>> t = wald_table([1.0], [[0.25]], ["b"], df=[10.0])
    >>> round(float(t["p"].iloc[0]), 4), round(float(wald_table([1.0], [[0.25]], ["b"])["p"].iloc[0]), 4)
    (0.0734, 0.0455)
    """
    tests = wald_columns(est, cov, conf_level, df, constrained=constrained)
    return columns_frame({**(first or {}), "term": list(names), **tests})


def wald_columns(est, cov, conf_level: float = 0.95, df=None, *,
                 constrained: bool = False) -> dict:
    """The test columns of :func:`wald_table` (``estimate`` to ``ci_high``, name -> array), for
    a caller that puts its own columns around them in one frame
    (:func:`alliance.moderation.contrast_table`)."""
    conf_level = check_conf_level(conf_level)
    est = np.asarray(est, dtype=float)
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    var = np.diag(cov).copy()
    se = np.sqrt(np.where(var >= 0, var, np.nan))
    nu = np.full(est.shape, np.inf) if df is None else np.broadcast_to(
        np.asarray(df, dtype=float), est.shape).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    p = 2.0 * _t_sf(np.abs(stat), nu)
    crit = _t_ppf(0.5 + conf_level / 2.0, nu)
    if constrained and est.size:  # a value the constraints fix is no test
        scale = max(1.0, float(np.nanmax(np.abs(est))))
        fixed = np.where(np.isnan(se), np.inf, se) <= 1e-10 * scale
        stat, p = np.where(fixed, np.nan, stat), np.where(fixed, np.nan, p)
    return {"estimate": est, "se": se, "statistic": stat, "df": nu, "p": p,
            "ci_low": est - crit * se, "ci_high": est + crit * se}


#: Fewest degrees of freedom a reported t test may have. A design that cannot identify a
#: term gives it (numerically) zero: 1e-6 or 1e-8 rather than exactly 0, so the rule is not
#: "df > 0"; a t test on fewer than one degree of freedom tests nothing a design meant to.
MIN_DF = 1.0


def check_tests(table: pd.DataFrame, source, what: str) -> None:
    """Refuse a table of reported tests that the design cannot support (a degenerate design).

    Every row must have a finite, positive standard error and, for a t test, at
    least :data:`MIN_DF` degrees of freedom (a Wald z test has ``df`` infinite).
    Otherwise :class:`~alliance.FitError` names the terms and the rule, instead
    of numbers such as ``df = 0.00001, p = 1`` that look like a result.

    Examples
    --------
    >>> t = wald_table([1.0, 2.0], [[0.25, 0], [0, 0.25]], ["a", "b"], df=[10.0, 1e-6])
    >>> try:
    ...     check_tests(t, "<DataFrame>", "growth")
    ... except Exception as exc:
    ...     print(type(exc).__name__, str(exc).split(": a term")[0])
    FitError <DataFrame> (growth): the design cannot test 'b' (1e-06 degrees of freedom)
    """
    from alliance.errors import FitError

    if table is None or table.empty:
        return
    df = _floats(table["df"]) if "df" in table else np.full(len(table), np.inf)
    se = _floats(table["se"])
    bad_df = ~(df >= MIN_DF)  # NaN fails too
    bad_se = ~(np.isfinite(se) & (se > 0))
    bad = bad_df | bad_se
    if not bad.any():
        return
    label = (table["term"].astype(str) + (" [" + table["level"].astype(str) + "]"
                                           if "level" in table else "")).to_numpy()
    shown = [f"'{label[i]}' ({df[i]:.2g} degrees of freedom)" if bad_df[i]
             else f"'{label[i]}' (standard error {se[i]:.2g})" for i in np.flatnonzero(bad)[:4]]
    more = f" and {int(bad.sum()) - 4} more" if bad.sum() > 4 else ""
    raise FitError(
        f"{source} ({what}): the design cannot test {', '.join(shown)}{more}: a term the design "
        "cannot separate from the groups it varies between (e.g. one therapist per arm, one "
        "patient per therapist) has no information left to test it "
        f"[rule: every reported test has a standard error and at least {MIN_DF:g} degree of "
        "freedom]")


def _floats(column: pd.Series) -> np.ndarray:
    """A table's column as floats; anything that is not a number as NaN."""
    if pd.api.types.is_float_dtype(column.dtype):
        return column.to_numpy(dtype=float)
    return pd.to_numeric(column, errors="coerce").to_numpy(float)


class RowLog:
    """Which rows an analysis used, and why each other row was left out.

    Every analysis reports its rows the same way: ``info["rows_input"]``,
    ``info["rows_used"]``, ``info["rows_dropped"]`` (a stable identifier such as
    ``"missing:wellbeing"`` or ``"no_previous_session"`` -> count, in the order
    the rules were applied; each row counted under its first failing rule) and
    ``info["describe"]`` (identifier -> the reason in words).

    Examples
    --------
    >>> import numpy as np
    >>> log = RowLog(4)
    >>> log.drop(np.array([True, False, False, False]), "missing:y", "y missing")
    >>> log.info()["rows_dropped"], int(log.keep.sum())
    ({'missing:y': 1}, 3)
    """

    def __init__(self, n: int):
        self.keep = np.ones(int(n), dtype=bool)
        self.dropped: dict[str, int] = {}
        self.describe: dict[str, str] = {}

    def drop(self, bad, key: str, text: str) -> None:
        """Leave out the rows where ``bad`` is True (and not already left out)."""
        bad = np.asarray(bad, dtype=bool)
        self.dropped[key] = self.dropped.get(key, 0) + int(np.sum(self.keep & bad))
        self.describe[key] = text
        self.keep &= ~bad

    def info(self) -> dict:
        """``rows_input``, ``rows_used``, ``rows_dropped`` (non-zero counts) and ``describe``."""
        dropped = {k: v for k, v in self.dropped.items() if v}
        return {"rows_input": int(self.keep.size), "rows_used": int(self.keep.sum()),
                "rows_dropped": dropped,
                "describe": {k: self.describe[k] for k in dropped}}
