"""The one validation path: every data set enters the package through here.

:func:`read_sessions` (session data in the canonical schema) and
:func:`read_table` (any long table, for the analyses that take their own column
names) accept a file path or a DataFrame and apply the same checks to both, so
that a file given to ``alliance fit growth`` and a DataFrame given to
:func:`alliance.growth.fit_growth` fail on the same cell with the same message.
Every public analysis calls one of them at its door; nothing behind the door
parses a value again.

Nothing is coerced silently, no row is dropped, and the input (file or
DataFrame) is never modified.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from alliance.data.cells import (
    ID_RULES,
    LineMap,
    Source,
    _parse_identifier,
    distinct_pairs,
    fail,
    parse_identifier,
    parse_numeric,
    parse_session,
    rows_text,
    shorten,
    source_of,
)
from alliance.data.read import check_names, read_text
from alliance.data.schema import CANONICAL_COLUMNS, CONDITIONS, INSTRUMENTS, RATING_COLUMNS
from alliance.errors import AllianceWarning, DataError
from alliance.moderation import moderator_levels
from alliance.options import check_columns_mapping
from alliance.results import columns_frame

__all__ = [
    "check_same_scale",
    "moderator_levels",
    "read_sessions",
    "read_table",
    "require_columns",
]


def _input(data, sep, decimal, stacklevel: int = 4) -> tuple[pd.DataFrame, Source, str, tuple]:
    """A file's text cells or a copy of a DataFrame (positional index), with its Source,
    decimal mark and notes (things worth checking that break no rule); ``stacklevel``: the
    notes' warnings name the caller of the public function that reads the data."""
    if isinstance(data, pd.DataFrame):
        src = source_of(data)
        if data.shape[0] == 0:
            raise fail(src, "empty file", "the data frame has no rows")
        # a shallow copy: pandas copies on write, and nothing here writes to the cells
        raw = data.copy(deep=False)
        # what the attrs say is in src and the notes; pandas deep-copies a frame's attrs on
        # every operation, so the private copy goes without them
        raw.attrs = {}
        if not all(type(c) is str for c in raw.columns.tolist()):
            raw.columns = [str(c) for c in raw.columns]
        check_names(raw.columns.tolist(), src)
        index = raw.index
        if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
                and index.name is None):
            raw = raw.reset_index(drop=True)
        return raw, src, decimal or ".", tuple(data.attrs.get("source_notes", ()))
    if isinstance(data, (str, os.PathLike)):
        cells, src, fmt = read_text(data, sep=sep, decimal=decimal)
        for note in fmt["notes"]:  # every command reading the file says so, not only validate
            warnings.warn(f"{src.name}: {note}", AllianceWarning, stacklevel=stacklevel)
        return cells, src, fmt["decimal"], tuple(fmt["notes"])
    raise TypeError(f"data must be a file path or a pandas DataFrame; got {type(data).__name__}")


def _finish(out: pd.DataFrame, src: Source, index=None, notes: tuple = ()) -> pd.DataFrame:
    if index is not None and index.is_unique:
        out.index = index  # a DataFrame's own row labels are kept, so results line up with it
    out.attrs["source"] = src.name
    if src.lines is not None:
        out.attrs["source_lines"] = LineMap(src.lines)
    if notes:
        out.attrs["source_notes"] = tuple(notes)
    return out


def _check_ids(ids: str) -> None:
    if ids not in ID_RULES:
        raise ValueError(f"ids must be 'text' (ids are the text written; one number written two "
                         f"ways is refused) or 'numeric' (a whole number written any way is that "
                         f"number); got {ids!r}")


def _resolve_columns(columns: Mapping[str, str] | None, available, src) -> dict[str, str]:
    columns = check_columns_mapping(columns)
    mapping = {c: c for c in CANONICAL_COLUMNS}
    if columns:
        unknown = [k for k in columns if k not in CANONICAL_COLUMNS]
        if unknown:
            raise ValueError(
                f"columns= maps unknown canonical name(s) {unknown}; canonical names are "
                f"{list(CANONICAL_COLUMNS)}"
            )
        mapping.update(columns)
    theirs = list(mapping.values())
    doubled = sorted({t for t in theirs if theirs.count(t) > 1})
    if doubled:
        raise ValueError(f"columns= maps several canonical columns onto {doubled}")
    for canon, their in mapping.items():
        if their != canon and canon in available:
            raise fail(
                src, "no overwritten columns",
                f"column '{canon}' exists in the file but columns= maps '{their}' onto it; "
                "rename one of them in a copy of the file",
            )
    missing = [f"'{t}'" + (f" (for '{c}')" if t != c else "") for c, t in mapping.items()
               if t not in available]
    if missing:
        raise fail(
            src, "required columns present",
            f"missing column(s) {', '.join(missing)}; the file has {list(available)}. "
            "Map your own names with columns={'canonical': 'yours'} "
            "(CLI: --column canonical=yours)",
        )
    return mapping


def _carry(values: pd.Series, decimal: str) -> pd.Series | np.ndarray:
    """An extra column: numbers if every present cell is one, else kept as it is."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy()
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy()
    present = values[values.notna()]
    try:  # one cell that is not a number settles it (the message of a whole column costs)
        parse_numeric(present.iloc[:1], "", Source("<probe>"), decimal=decimal)
    except DataError:
        return values
    try:
        parsed = parse_numeric(values, "", Source("<probe>"), decimal=decimal)
    except DataError:
        return values
    if values.notna().any() and np.isfinite(parsed).sum() == values.notna().sum():
        return parsed
    return values


def _check_range(values: np.ndarray, canon: str, col: str, src) -> None:
    """A rating outside its instrument's range (a missing-value code such as 9999) is an error."""
    inst = INSTRUMENTS[canon]
    bad = ~np.isnan(values) & ((values < inst.low) | (values > inst.high))
    if bad.any():
        raise fail(
            src, f"{canon} within {inst.low:g}-{inst.high:g}",
            f"column '{col}' is outside the {inst.name} range {inst.low:g}-{inst.high:g} in "
            f"{rows_text(np.flatnonzero(bad), src)} (values "
            f"{', '.join(f'{v:g}' for v in pd.unique(values[bad])[:3])}); a code for a "
            "missing rating must be an empty cell or NA",
        )


def read_sessions(source, columns: Mapping[str, str] | None = None, *, numeric: Iterable[str] = (),
                  require: Iterable[str] = (), sep: str | None = None,
                  decimal: str | None = None, ids: str = "text") -> pd.DataFrame:
    """Read and validate long session data (one row per patient x session).

    Parameters
    ----------
    source : str, path or pandas.DataFrame
        A UTF-8 delimited file or a DataFrame (copied, never modified).
    columns : mapping, optional
        ``{canonical_name: your_name}`` for columns whose names differ from the
        canonical ones (:data:`alliance.data.schema.CANONICAL_COLUMNS`). The same
        mapping every analysis takes as ``columns=`` and the CLI as ``--column``.
    sep : {",", ";", "tab"}, optional
        Delimiter of a file; default: detected from its header line.
    decimal : {".", ","}, optional
        Decimal mark; default: a point for comma-separated files and DataFrames,
        detected from the cells of semicolon- or tab-separated files.
    ids : {"text", "numeric"}
        How ids (``therapist``, ``patient``) that are numbers are read. ``"text"``
        (default): an id is the text written in the file (a DataFrame's integer
        ``7`` is ``"7"``), so one number written two ways (``1`` and ``1.0``, ``7``
        and ``007``) is refused with the rows of each spelling named, and so is an
        id column of floats, which cannot say how the id was written.
        ``"numeric"``: a whole number written any way is that number (``1``,
        ``1.0``, ``01`` and a float ``1.0`` are all the id ``"1"``). A file and a
        DataFrame read from it give the same answer either way
        (:func:`alliance.data.cells.parse_identifier`).
    numeric : iterable of str
        Further columns an analysis reads as numbers (a covariate, a bias variable, a
        numeric moderator): where present they must hold numbers (missing values
        allowed), parsed as the ratings are. Behind this door no cell is parsed again.
    require : iterable of str
        Further columns an analysis needs (present, with any values; with ``numeric``
        also numbers).

    Returns
    -------
    pandas.DataFrame
        Canonical columns first (``therapist``, ``patient``, ``condition``,
        ``session``, ``alliance_patient``, ``alliance_therapist``,
        ``wellbeing``), then any other columns (numeric ones as numbers). Ids are
        strings, ``session`` is an integer, ratings are floats with missing
        ratings as NaN. Rows keep the input's order. ``df.attrs["source"]`` names
        the input.

    Raises
    ------
    alliance.DataError
        When any rule of the data model is broken: an unreadable, empty or
        undecodable file, a row with the wrong number of fields, an unsafe or
        repeated column name, a missing column, a rating that is not a finite
        number (``"4,5"`` in a comma-separated file, ``"abc"``, ``"inf"``, a
        boolean), a score outside the instrument's range, a session that is not a
        whole number from 1 to 100,000, a missing id, an unknown condition, a
        duplicate patient x session, a patient under two therapists, a therapist
        in both arms. The message names the source, the rows (1-based data rows
        and file lines), the column and the rule.

    Examples
    --------
    >>> import alliance
    >>> df = alliance.read_sessions(alliance.example_path())
    >>> list(df.columns[:7])  # doctest: +NORMALIZE_WHITESPACE
    ['therapist', 'patient', 'condition', 'session', 'alliance_patient',
     'alliance_therapist', 'wellbeing']
    """
    return _read_sessions(source, columns, numeric, require, sep, decimal, ids)[0]


def _read_sessions_coded(source, columns: Mapping[str, str] | None = None, *,
                         numeric: Iterable[str] = (), require: Iterable[str] = (),
                         sep: str | None = None, decimal: str | None = None,
                         ids: str = "text") -> tuple[pd.DataFrame, dict]:
    """:func:`read_sessions`, and the factorisations of the id columns that validating them
    made: ``{"therapist" | "patient" | "condition": (codes, distinct ids) or None}`` (row
    ``i`` holds ``distinct[codes[i]]``, in order of first appearance, as ``pd.factorize``
    gives them; None where the ids took the general path).

    For the public analyses' doors, which hand the codes to their own fit with the frame
    they describe, in the same call (never kept beyond it), so that the ids are not
    factorised again behind the door.
    """
    return _read_sessions(source, columns, numeric, require, sep, decimal, ids)


def _read_sessions(source, columns, numeric, require, sep, decimal, ids):
    """The body of :func:`read_sessions` (and of :func:`_read_sessions_coded`): the frame and
    the ids' factorisations."""
    _check_ids(ids)
    columns = check_columns_mapping(columns)
    numeric = [c for c in dict.fromkeys(numeric) if c is not None]
    require = [c for c in dict.fromkeys(require) if c is not None]
    for c in numeric:
        if c in ("therapist", "patient", "condition"):
            raise ValueError(f"numeric=: {c!r} is an id column of the session data, not a number")
    raw, src, dec, notes = _input(source, sep, decimal, stacklevel=5)
    mapping = _resolve_columns(columns, raw.columns.tolist(), src)
    extra = [c for c in require if c not in mapping and c not in raw.columns]
    if extra:
        raise fail(src, "required columns present",
                   f"missing column(s) {extra} needed by the analysis; the data have "
                   f"{list(raw.columns)}")
    out = {}  # the columns, in order: the frame is built once at the end
    coded = {}  # the ids' factorisations where parsing gave them (for the structure check)

    for canon in ("therapist", "patient"):
        out[canon], coded[canon] = _parse_identifier(raw[mapping[canon]], mapping[canon], src,
                                                     ids=ids, as_array=True)

    ccol = mapping["condition"]
    cond, coded["condition"] = _parse_identifier(raw[ccol], ccol, src, as_array=True)
    if coded["condition"] is not None and set(coded["condition"][1]) <= set(CONDITIONS):
        bad = None  # every distinct value is an arm
    else:
        bad = ~cond.isin(CONDITIONS)
    if bad is not None and bad.any():
        seen = ", ".join(shorten(v) for v in cond[bad].unique()[:3])
        raise fail(
            src, "condition is 'training' or 'control'",
            f"column '{ccol}' holds {seen} in {rows_text(np.flatnonzero(bad), src)}; "
            f"allowed values are {list(CONDITIONS)} (recode them in a copy of the file)",
        )
    out["condition"] = cond
    out["session"] = parse_session(raw[mapping["session"]], mapping["session"], src, decimal=dec)

    for canon in RATING_COLUMNS:
        col = mapping[canon]
        values = parse_numeric(raw[col], col, src, decimal=dec)
        _check_range(values, canon, col, src)
        out[canon] = values

    if not _structure_holds(out, coded):  # the common case in NumPy; the messages in pandas below
        _refuse_structure(pd.DataFrame(out, index=raw.index), src)

    used = set(mapping.values())
    for col in raw.columns.tolist():
        if col in used:
            continue
        if col in numeric:
            out[col] = parse_numeric(raw[col], col, src, decimal=dec)
        else:
            out[col] = _carry(raw[col], dec)
    return _finish(_frame(out, raw.index), src,
                   source.index if isinstance(source, pd.DataFrame) else None, notes), coded


def _frame(columns: dict, index: pd.RangeIndex) -> pd.DataFrame:
    """The frame of ``columns`` (arrays, or Series on ``index``) on ``index``: a Series of an
    extension dtype (text ids) enters as its array, the same column without the alignment of
    indexes that are equal by construction."""
    return columns_frame({k: (v.array if isinstance(v, pd.Series)
                              and isinstance(v.dtype, pd.api.extensions.ExtensionDtype) else v)
                          for k, v in columns.items()}, index=index)


def _structure_holds(out, coded: Mapping | None = None) -> bool:
    """True when the session data (a DataFrame or a dict of its columns) have one row per
    patient x session, one therapist per patient and one arm per therapist
    (:func:`_refuse_structure` names what breaks a rule). ``coded`` may hold, per id column,
    a factorisation ``(codes, distinct ids)`` of its ids (``_parse_identifier``; None: the
    column is factorised here): only which rows share an id matters, not the codes' order."""

    def codes_of(col):
        given = (coded or {}).get(col)
        if given is not None and (given[0] >= 0).all():
            return given[0]
        return pd.factorize(np.asarray(out[col]), use_na_sentinel=False)[0]

    pcode, tcode, ccode = codes_of("patient"), codes_of("therapist"), codes_of("condition")
    session = np.asarray(out["session"])
    if distinct_pairs(pcode, session)[0].size < session.size:  # a patient x session twice
        return False
    for owner, member in ((pcode, tcode), (tcode, ccode)):
        first = np.empty(owner.max() + 1, dtype=np.intp)
        first[owner[::-1]] = member[::-1]  # the first member of each owner
        if (member != first[owner]).any():
            return False
    return True


def _refuse_structure(out: pd.DataFrame, src) -> None:
    """The error naming the first structural rule the session data break."""
    dup = out.duplicated(["patient", "session"], keep=False).to_numpy()
    if dup.any():
        first = out[dup].iloc[0]
        raise fail(
            src, "one row per patient x session",
            f"patient {shorten(first['patient'])} session {int(first['session'])} (and possibly "
            f"others) appears more than once: {rows_text(np.flatnonzero(dup), src)}",
        )
    n_ther = out.groupby("patient")["therapist"].nunique()
    if (n_ther > 1).any():
        pid = n_ther[n_ther > 1].index[0]
        rows = np.flatnonzero((out["patient"] == pid).to_numpy())
        ther = sorted(out.loc[out["patient"] == pid, "therapist"].unique())
        raise fail(
            src, "each patient has one therapist",
            f"patient {shorten(pid)} appears under therapists {ther} in {rows_text(rows, src)}; "
            "patient ids must be unique across therapists",
        )
    n_arm = out.groupby("therapist")["condition"].nunique()
    if (n_arm > 1).any():
        tid = n_arm[n_arm > 1].index[0]
        rows = np.flatnonzero((out["therapist"] == tid).to_numpy())
        raise fail(
            src, "each therapist is in one arm",
            f"therapist {shorten(tid)} appears in both 'training' and 'control' in "
            f"{rows_text(rows, src)}; therapists are the unit of randomisation",
        )
    raise AssertionError("a structural rule failed in NumPy but not in pandas")  # pragma: no cover


def read_table(source, numeric: Iterable[str] = (), required: Iterable[str] = (), *,
               identifiers: Iterable[str] = (), columns: Mapping[str, str] | None = None,
               sep: str | None = None, decimal: str | None = None,
               ids: str = "text") -> pd.DataFrame:
    """Read any long data set with the rules of :func:`read_sessions` that apply to it.

    Parameters
    ----------
    source : str, path or pandas.DataFrame
        Delimited file or DataFrame (copied, never modified).
    numeric : iterable of str
        Columns that must hold numbers (missing values allowed, as NaN); parsed
        exactly as :func:`read_sessions` parses ratings.
    required : iterable of str
        Further columns that must exist and have no empty cell (ids, groups).
    identifiers : iterable of str
        Columns that must exist and hold ids by the same rule as ``required`` but
        may have empty cells (missing, for the analysis to drop the row).
    columns : mapping, optional
        ``{name the analysis uses: your name}``: your columns renamed before anything
        is checked (the ``columns=`` of every analysis, as in :func:`read_sessions`).
    sep, decimal, ids : optional
        As in :func:`read_sessions` (``ids`` applies to ``required`` and
        ``identifiers``).

    Returns
    -------
    pandas.DataFrame
        ``numeric`` columns as floats, ``required`` ones as text ids, other
        columns as read (numbers where every present cell is one).

    Notes
    -----
    A ``numeric`` column named like a canonical rating column
    (``alliance_patient``, ``alliance_therapist``, ``wellbeing``) is session data
    in the canonical schema, so its instrument's range is checked as
    :func:`read_sessions` checks it (a missing-value code such as 9999 is an
    error, never a rating).
    """
    _check_ids(ids)
    columns = check_columns_mapping(columns)
    raw, src, dec, notes = _input(source, sep, decimal)
    if columns:
        raw = _rename(raw, columns, src)
    numeric = list(dict.fromkeys(numeric))
    required = [c for c in dict.fromkeys(required) if c not in numeric]
    identifiers = [c for c in dict.fromkeys(identifiers) if c not in numeric and c not in required]
    missing = [c for c in numeric + required + identifiers if c not in raw.columns]
    if missing:
        raise fail(src, "required columns present",
                   f"missing column(s) {missing}; the data have {list(raw.columns)}")
    out = pd.DataFrame(index=raw.index)
    for col in raw.columns:
        if col in numeric:
            out[col] = parse_numeric(raw[col], col, src, decimal=dec)
            if col in INSTRUMENTS:  # a canonical rating column: the instrument's range holds too
                _check_range(out[col].to_numpy(), col, col, src)
        elif col in required or col in identifiers:
            out[col] = parse_identifier(raw[col], col, src, ids=ids,
                                        allow_missing=col in identifiers)
        else:
            out[col] = _carry(raw[col], dec)
    return _finish(out, src, source.index if isinstance(source, pd.DataFrame) else None, notes)


def _rename(raw: pd.DataFrame, columns: dict[str, str], src) -> pd.DataFrame:
    """``raw`` with each of your columns renamed to the name the analysis uses."""
    theirs = list(columns.values())
    doubled = sorted({t for t in theirs if theirs.count(t) > 1})
    if doubled:
        raise ValueError(f"columns= maps several names onto {doubled}")
    missing = [f"'{t}' (for '{c}')" for c, t in columns.items() if t not in raw.columns]
    if missing:
        raise fail(src, "required columns present",
                   f"missing column(s) {', '.join(missing)}; the data have {list(raw.columns)}")
    for name, their in columns.items():
        if name != their and name in raw.columns and name not in theirs:
            raise fail(src, "no overwritten columns",
                       f"column '{name}' exists in the data but columns= maps '{their}' onto "
                       "it; rename one of them in a copy of the file")
    return raw.rename(columns={t: c for c, t in columns.items()})


# --------------------------------------------------------------------------- helpers for analyses


def require_columns(data: pd.DataFrame, cols: Iterable, model: str) -> None:
    """Raise :class:`DataError` naming every column of ``cols`` that ``data`` lacks."""
    missing = [c for c in cols if c is not None and c not in data.columns]
    if missing:
        raise fail(source_of(data), "required columns present",
                   f"missing column(s) {missing} needed by the {model}; the data have "
                   f"{list(data.columns)}")


def check_same_scale(values: np.ndarray, reference: np.ndarray, column: str, reference_column: str,
                     source, why: str = "") -> None:
    """A column must be on the scale of another (e.g. a bias variable on the truth's scale).

    For a rating column of the data model the scale is its instrument's range (WAI-SR
    1-5, ORS 0-40); for any other reference column, its observed range widened by its
    width on each side. A value outside it is a :class:`~alliance.DataError` naming the
    rows and the rule.
    """
    inst = INSTRUMENTS.get(reference_column)
    t = reference[np.isfinite(reference)]
    if inst is not None:
        low, high, scale = inst.low, inst.high, f"the {inst.name} range {inst.low:g}-{inst.high:g}"
    elif t.size:
        width = float(t.max() - t.min()) or 1.0
        low, high = float(t.min()) - width, float(t.max()) + width
        scale = (f"its observed range {t.min():g}-{t.max():g} widened by its width "
                 f"({low:g} to {high:g})")
    else:
        return
    bad = np.isfinite(values) & ((values < low) | (values > high))
    if bad.any():
        seen = ", ".join(f"{v:g}" for v in pd.unique(values[bad])[:3])
        raise fail(source, "bias on the truth's scale",
                   f"the bias column '{column}' is not on the scale of the truth "
                   f"'{reference_column}' ({scale}): {rows_text(np.flatnonzero(bad), source)} "
                   f"hold {seen}{why}")
