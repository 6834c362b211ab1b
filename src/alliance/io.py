"""Reading and validating long session data.

:func:`read_sessions` is the only way data enter the analyses. It reads a CSV
file (or copies a DataFrame), maps the user's column names onto the canonical
ones of :mod:`alliance.schema`, and checks every rule of the data model. A
broken rule raises :class:`alliance.DataError` naming the file, the rows and
the rule. Nothing is coerced silently, no row is dropped, and the input is
never modified.

:func:`read_table` applies the file-level rules (readable, non-empty, safe
column names, numeric columns really numeric) to any long data set, for the
analyses that work on arbitrary columns (``alliance fit rsa``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from alliance._errors import DataError
from alliance.schema import (
    CANONICAL_COLUMNS,
    CONDITIONS,
    INSTRUMENTS,
    RATING_COLUMNS,
    SAFE_NAME,
)

__all__ = ["read_sessions", "read_table"]

_MISSING_TOKENS = ["", "NA", "NaN", "nan", "N/A", "na", "."]
_MAX_LISTED = 8


def _rows(index: Iterable[int]) -> str:
    """Describe 0-based row positions as 1-based data rows and file lines."""
    idx = sorted(int(i) for i in index)
    shown = idx[:_MAX_LISTED]
    more = f" and {len(idx) - len(shown)} more" if len(idx) > len(shown) else ""
    rows = ", ".join(str(i + 1) for i in shown)
    lines = ", ".join(str(i + 2) for i in shown)
    noun = "row" if len(idx) == 1 else "rows"
    return f"data {noun} {rows}{more} (file line{'s' if len(idx) > 1 else ''} {lines})"


def _hold(mask) -> str:
    return "holds" if int(np.sum(mask)) == 1 else "hold"


def _fail(source: str, rule: str, detail: str) -> DataError:
    return DataError(f"{source}: {detail} [rule: {rule}]")


def _source_name(source) -> str:
    if isinstance(source, pd.DataFrame):
        return "<DataFrame>"
    return os.fspath(source)


def _read_raw(source) -> tuple[pd.DataFrame, str]:
    """Read a CSV file (or copy a DataFrame) as text, applying file-level rules."""
    name = _source_name(source)
    if isinstance(source, pd.DataFrame):
        raw = source.copy(deep=True)
        if raw.shape[0] == 0:
            raise _fail(name, "empty file", "the data frame has no rows")
        raw.columns = [str(c) for c in raw.columns]
        _check_names(raw.columns, name)
        return raw, name
    path = Path(source)
    if not path.is_file():
        raise _fail(name, "file exists", "no such file")
    data = path.read_bytes()
    if not data.strip():
        raise _fail(name, "empty file", "the file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(
            name,
            "file is UTF-8 text",
            f"cannot decode byte {exc.start} as UTF-8 ({exc.reason}); save the file as "
            "UTF-8 CSV",
        ) from None
    sep = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
    try:
        from io import StringIO

        raw = pd.read_csv(
            StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_values=_MISSING_TOKENS,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise _fail(name, "well-formed CSV", f"cannot parse the file: {exc}") from None
    if raw.shape[0] == 0:
        raise _fail(name, "empty file", "the file has a header but no data rows")
    dupes = [c for c in raw.columns if "." in c and c.rsplit(".", 1)[0] in raw.columns
             and c.rsplit(".", 1)[1].isdigit()]
    if dupes:
        raise _fail(name, "unique column names",
                    f"column name(s) repeated in the header: {dupes}")
    _check_names(raw.columns, name)
    return raw, name


def _check_names(columns: Iterable[str], name: str) -> None:
    bad = [c for c in columns if not SAFE_NAME.match(str(c))]
    if bad:
        raise _fail(
            name,
            "column names are safe identifiers",
            f"column name(s) {bad!r} are not safe identifiers (letters, digits, '_' and "
            "'.', starting with a letter or '_'); rename them in a copy of the file",
        )


def _numeric(raw: pd.DataFrame, col: str, name: str, label: str | None = None) -> pd.Series:
    """Parse one column as float; any non-numeric, non-missing entry is an error."""
    label = label or col
    values = raw[col]
    if pd.api.types.is_bool_dtype(values):
        raise _fail(name, "numeric column", f"column '{label}' holds booleans, not numbers")
    if pd.api.types.is_numeric_dtype(values):
        out = values.astype(float)
    else:
        out = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & out.isna()
        if bad.any():
            examples = ", ".join(repr(v) for v in values[bad].unique()[:3])
            raise _fail(
                name,
                "numeric column",
                f"column '{label}' must be numeric; {_rows(np.flatnonzero(bad))} "
                f"{_hold(bad)} {examples}",
            )
        out = out.astype(float)
    inf = np.isinf(out.to_numpy())
    if inf.any():
        raise _fail(name, "finite values", f"column '{label}' is infinite in {_rows(np.flatnonzero(inf))}")
    return out.reset_index(drop=True)


def _identifier(raw: pd.DataFrame, col: str, name: str, label: str) -> pd.Series:
    values = raw[col]
    missing = values.isna()
    if missing.any():
        raise _fail(name, "identifiers present", f"column '{label}' is empty in {_rows(np.flatnonzero(missing))}")
    out = values.astype(str).str.strip()
    blank = out == ""
    if blank.any():
        raise _fail(name, "identifiers present", f"column '{label}' is blank in {_rows(np.flatnonzero(blank))}")
    return out.reset_index(drop=True)


def _resolve_columns(columns: Mapping[str, str] | None, available, name: str) -> dict[str, str]:
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
            raise _fail(
                name,
                "no overwritten columns",
                f"column '{canon}' exists in the file but columns= maps '{their}' onto it; "
                "rename one of them in a copy of the file",
            )
    missing = [f"'{t}'" + (f" (for '{c}')" if t != c else "") for c, t in mapping.items()
               if t not in available]
    if missing:
        raise _fail(
            name,
            "required columns present",
            f"missing column(s) {', '.join(missing)}; the file has {list(available)}. "
            "Map your own names with columns={'canonical': 'yours'} "
            "(CLI: --column canonical=yours)",
        )
    return mapping


def read_sessions(source, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read and validate long session data (one row per patient x session).

    Parameters
    ----------
    source : str, path or pandas.DataFrame
        A UTF-8 CSV file (``.tsv`` is read tab-separated) or a DataFrame, which
        is copied and never modified.
    columns : mapping, optional
        ``{canonical_name: your_name}`` for columns whose names differ from the
        canonical ones (:data:`alliance.schema.CANONICAL_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        Canonical columns first (``therapist``, ``patient``, ``condition``,
        ``session``, ``alliance_patient``, ``alliance_therapist``,
        ``wellbeing``), then any other columns unchanged (numeric ones as
        numbers). Ids are strings, ``session`` is an integer, ratings are
        floats with missing ratings as NaN. Rows keep the file's order.
        ``df.attrs["source"]`` names the input.

    Raises
    ------
    alliance.DataError
        When any rule of the data model is broken: empty or undecodable file,
        unsafe column name, missing column, non-numeric rating, score outside
        the instrument's range, session not a positive integer, missing id,
        unknown condition, duplicate patient x session, a patient under two
        therapists, a therapist in both arms. The message names the file, the
        rows (1-based data rows and file lines) and the rule.

    Examples
    --------
    >>> import alliance
    >>> df = alliance.read_sessions(alliance.example_path())
    >>> list(df.columns[:7])  # doctest: +NORMALIZE_WHITESPACE
    ['therapist', 'patient', 'condition', 'session', 'alliance_patient',
     'alliance_therapist', 'wellbeing']
    """
    raw, name = _read_raw(source)
    mapping = _resolve_columns(columns, list(raw.columns), name)
    raw = raw.reset_index(drop=True)
    out = pd.DataFrame(index=raw.index)

    for canon in ("therapist", "patient"):
        out[canon] = _identifier(raw, mapping[canon], name, mapping[canon])

    cond = _identifier(raw, mapping["condition"], name, mapping["condition"])
    bad = ~cond.isin(CONDITIONS)
    if bad.any():
        seen = ", ".join(repr(v) for v in cond[bad].unique()[:3])
        raise _fail(
            name,
            "condition is 'training' or 'control'",
            f"column '{mapping['condition']}' holds {seen} in {_rows(np.flatnonzero(bad))}; "
            f"allowed values are {list(CONDITIONS)} (recode them in a copy of the file)",
        )
    out["condition"] = cond

    scol = mapping["session"]
    sess = _numeric(raw, scol, name, scol)
    miss = sess.isna()
    if miss.any():
        raise _fail(name, "session present", f"column '{scol}' is empty in {_rows(np.flatnonzero(miss))}")
    nonint = (sess != np.round(sess)) | (sess < 1)
    if nonint.any():
        raise _fail(
            name,
            "session is a positive integer",
            f"column '{scol}' must hold whole numbers 1, 2, ...; {_rows(np.flatnonzero(nonint))} "
            f"{_hold(nonint)} {', '.join(repr(v) for v in raw[scol][nonint].unique()[:3])}",
        )
    out["session"] = sess.astype("int64")

    for canon in RATING_COLUMNS:
        col = mapping[canon]
        values = _numeric(raw, col, name, col)
        inst = INSTRUMENTS[canon]
        bad = values.notna() & ((values < inst.low) | (values > inst.high))
        if bad.any():
            raise _fail(
                name,
                f"{canon} within {inst.low:g}-{inst.high:g}",
                f"column '{col}' is outside the {inst.name} range {inst.low:g}-{inst.high:g} in "
                f"{_rows(np.flatnonzero(bad))} (values "
                f"{', '.join(f'{v:g}' for v in values[bad].unique()[:3])})",
            )
        out[canon] = values

    key = out[["patient", "session"]]
    dup = key.duplicated(keep=False)
    if dup.any():
        first = out[dup].iloc[0]
        raise _fail(
            name,
            "one row per patient x session",
            f"patient {first['patient']!r} session {int(first['session'])} (and possibly others) "
            f"appears more than once: {_rows(np.flatnonzero(dup))}",
        )

    n_ther = out.groupby("patient")["therapist"].nunique()
    if (n_ther > 1).any():
        pid = n_ther[n_ther > 1].index[0]
        rows = np.flatnonzero(out["patient"] == pid)
        ther = sorted(out.loc[out["patient"] == pid, "therapist"].unique())
        raise _fail(
            name,
            "each patient has one therapist",
            f"patient {pid!r} appears under therapists {ther} in {_rows(rows)}; patient ids "
            "must be unique across therapists",
        )

    n_arm = out.groupby("therapist")["condition"].nunique()
    if (n_arm > 1).any():
        tid = n_arm[n_arm > 1].index[0]
        rows = np.flatnonzero(out["therapist"] == tid)
        raise _fail(
            name,
            "each therapist is in one arm",
            f"therapist {tid!r} appears in both 'training' and 'control' in {_rows(rows)}; "
            "therapists are the unit of randomisation",
        )

    used = set(mapping.values())
    for col in raw.columns:
        if col in used:
            continue
        values = raw[col]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            out[col] = values.to_numpy()
            continue
        parsed = pd.to_numeric(values, errors="coerce")
        if (values.notna() == parsed.notna()).all() and values.notna().any():
            out[col] = parsed.astype(float)
        else:
            out[col] = values
    out.attrs["source"] = name
    return out


def read_table(source, numeric: Iterable[str] = (), required: Iterable[str] = ()) -> pd.DataFrame:
    """Read any long data set with the file-level rules of :func:`read_sessions`.

    Parameters
    ----------
    source : str, path or pandas.DataFrame
        CSV file or DataFrame (copied, never modified).
    numeric : iterable of str
        Columns that must be numeric (missing values allowed, as NaN).
    required : iterable of str
        Further columns that must exist (for example a grouping column).

    Returns
    -------
    pandas.DataFrame
        The data with ``numeric`` columns as floats and other columns as read.
    """
    raw, name = _read_raw(source)
    numeric = list(dict.fromkeys(numeric))
    needed = list(dict.fromkeys(list(numeric) + list(required)))
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise _fail(name, "required columns present",
                    f"missing column(s) {missing}; the file has {list(raw.columns)}")
    out = raw.reset_index(drop=True).copy()
    for col in numeric:
        out[col] = _numeric(raw.reset_index(drop=True), col, name)
    for col in required:
        if col in numeric:
            continue
        miss = out[col].isna()
        if miss.any():
            raise _fail(name, "identifiers present", f"column '{col}' is empty in {_rows(np.flatnonzero(miss))}")
    out.attrs["source"] = name
    return out
