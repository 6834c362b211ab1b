"""Cells: the one place a value of a data set becomes a number, an id or a session.

Every door into the package -- a file read by :func:`alliance.read_sessions`,
a DataFrame passed to any analysis, a column the command line names -- parses
its cells here, so the same bad cell gives the same :class:`~alliance.DataError`
wherever it comes in. The message always has one shape::

    <source>: column '<column>' <what is wrong>; <rows> hold(s) <examples> [rule: <rule>]

``<source>`` is the file (or ``<DataFrame>``, or the name in ``df.attrs["source"]``),
``<rows>`` are 1-based data rows with their file lines when the data came from a
file. Nothing is coerced: a cell that is not a number where a number is needed
is an error naming the cell, never a missing value.
"""

from __future__ import annotations

import decimal
import math
import numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alliance.errors import DataError

__all__ = [
    "ID_RULES",
    "MAX_ID_CHARS",
    "MAX_SESSION",
    "MISSING_TOKENS",
    "LineMap",
    "Source",
    "distinct_pairs",
    "fail",
    "parse_identifier",
    "parse_numeric",
    "parse_session",
    "rows_text",
    "shorten",
    "source_of",
]

#: Texts read as a missing value (besides an empty field).
MISSING_TOKENS = ("", "NA", "NaN", "nan", "N/A", "na", ".")
#: The largest session number accepted (a guard against overflow and unit mix-ups).
MAX_SESSION = 100_000
#: The longest id accepted, in characters (hashes and UUIDs are far shorter).
MAX_ID_CHARS = 256
_CONTROL = r"[\x00-\x1f\x7f]"
_MAX_LISTED = 8
_MAX_SHOWN_CHARS = 40
_NUMBER = {
    ".": re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"),
    ",": re.compile(r"^[+-]?(?:\d+(?:,\d*)?|,\d+)(?:[eE][+-]?\d+)?$"),
}
_INFINITE = re.compile(r"^[+-]?(?:inf|infinity)$", re.IGNORECASE)


class LineMap:
    """The file line on which each data row of a file starts, kept in ``df.attrs``.

    Immutable and shared: pandas copies ``attrs`` on every operation and compares
    them when concatenating, so this holds the array without ever copying it, and
    two maps are equal only if they are the same object.
    """

    __slots__ = ("lines",)

    def __init__(self, lines):
        self.lines = np.asarray(lines, dtype=np.int64)
        self.lines.flags.writeable = False

    def __len__(self) -> int:
        return len(self.lines)

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    def __repr__(self) -> str:
        return f"LineMap({len(self)} rows)"


@dataclass(frozen=True)
class Source:
    """Where a data set came from, for messages.

    Attributes
    ----------
    name : str
        The file path, ``df.attrs["source"]`` or ``"<DataFrame>"``.
    lines : numpy.ndarray or None
        File line (1-based, header = line 1) on which each data row starts; set
        for files, so that rows can be named as a spreadsheet and an editor show
        them (a quoted field may span lines).
    index : pandas.Index or None
        The DataFrame's index labels, shown when they are not the default
        0, 1, 2, ... positions.
    """

    name: str
    lines: np.ndarray | None = None
    index: pd.Index | None = None

    def __str__(self) -> str:
        return self.name


def source_of(data) -> Source:
    """The :class:`Source` of a DataFrame (``attrs["source"]``, else ``<DataFrame>``)."""
    attrs = getattr(data, "attrs", {}) or {}
    name = str(attrs.get("source", "<DataFrame>"))
    lines = attrs.get("source_lines")
    index = getattr(data, "index", None)
    default = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
    if not isinstance(lines, LineMap) or not (default and len(lines) == len(data)):
        lines = None  # rows were reordered, added or removed since the file was read
    return Source(name, None if lines is None else lines.lines, None if default else index)


def shorten(value, limit: int = _MAX_SHOWN_CHARS) -> str:
    """``repr`` of a cell, cut to ``limit`` characters (a 5 MB id is not echoed whole)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'" + f" ({len(str(value))} characters)"


def rows_text(positions: Iterable[int], source: Source | None = None) -> str:
    """Describe 0-based row positions as 1-based data rows (and file lines or index labels)."""
    idx = sorted(int(i) for i in positions)
    shown = idx[:_MAX_LISTED]
    more = f" and {len(idx) - len(shown)} more" if len(idx) > len(shown) else ""
    noun = "row" if len(idx) == 1 else "rows"
    text = f"data {noun} {', '.join(str(i + 1) for i in shown)}{more}"
    if source is not None and source.lines is not None:
        lines = ", ".join(str(int(source.lines[i])) for i in shown)
        text += f" (file line{'s' if len(shown) > 1 else ''} {lines})"
    elif source is not None and source.index is not None:
        labels = ", ".join(str(v) if isinstance(v, numbers.Number) else shorten(v, 20)
                           for v in (source.index[i] for i in shown))
        text += f" (index {labels})"
    elif source is None or source.name.startswith("<"):
        pass
    else:  # a file read by pandas directly: header is line 1
        text += f" (file line{'s' if len(shown) > 1 else ''} {', '.join(str(i + 2) for i in shown)})"
    return text


def fail(source, rule: str, detail: str) -> DataError:
    """The package's one message shape: ``<source>: <detail> [rule: <rule>]``."""
    return DataError(f"{source}: {detail} [rule: {rule}]")


def _hold(n: int) -> str:
    return "holds" if n == 1 else "hold"


def _examples(values: pd.Series, mask: np.ndarray) -> str:
    vals = pd.Series(values.to_numpy()[mask])
    seen = []
    for v in vals:
        key = (type(v), str(v))
        if key not in [(type(s), str(s)) for s in seen]:
            seen.append(v)
        if len(seen) == 3:
            break
    return ", ".join(shorten(v) for v in seen)


def _bad(source: Source, column: str, mask: np.ndarray, values: pd.Series, rule: str,
         what: str) -> DataError:
    pos = np.flatnonzero(mask)
    return fail(source, rule, f"column '{column}' {what}; {rows_text(pos, source)} "
                              f"{_hold(len(pos))} {_examples(values, mask)}")


def _positional(s: pd.Series) -> pd.Series:
    """``s.reset_index(drop=True)``: ``s`` itself when its index is positions 0..n-1 already
    (read-only callers: nothing here writes to ``s``)."""
    index = s.index
    if type(index) is pd.RangeIndex and index.start == 0 and index.step == 1 and index.name is None:
        return s
    return s.reset_index(drop=True)


def parse_numeric(values, column: str, source: Source, *, decimal: str = ".") -> np.ndarray:
    """One column as floats (missing cells as NaN); anything else that is not a real number is an error.

    Accepted: numbers (int or float dtypes, Python and NumPy numbers), and text
    that is a number written with ``decimal`` as the decimal mark (``"4.5"``,
    ``"-1e3"``; ``"4,5"`` only with ``decimal=","``). Missing: NaN, None, and the
    texts of :data:`MISSING_TOKENS`. Refused with a :class:`DataError` naming the
    rows: booleans, infinities, complex numbers, dates, and any other text
    (``"abc"``, ``"4,5"`` with a decimal point, ``"1.234,5"``).
    """
    s = _positional(values if isinstance(values, pd.Series) else pd.Series(values))
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return _raise_all(s, column, source, "holds booleans (True/False), not numbers")
    if pd.api.types.is_complex_dtype(dtype):
        return _raise_all(s, column, source, "holds complex numbers, not real numbers",
                          rule="real numbers")
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return _raise_all(s, column, source, "holds dates or durations, not numbers")
    if pd.api.types.is_numeric_dtype(dtype):
        if isinstance(dtype, np.dtype) and dtype.kind in "iu":  # NumPy integers: none missing
            return s.to_numpy(dtype=float)  # (and all finite)
        out = s.to_numpy(dtype=float, na_value=np.nan)
        return _finite(out, s, column, source)
    # object, string or categorical: cell by cell, text parsed strictly
    obj = s.astype(object).to_numpy()
    out = np.full(len(obj), np.nan)
    kind = np.zeros(len(obj), dtype=np.int8)  # 0 missing, 1 number, 2 text, 3 bad type
    for i, v in enumerate(obj):
        if isinstance(v, str):
            kind[i] = 2
        elif v is None or v is pd.NA or v is pd.NaT:
            kind[i] = 0
        elif isinstance(v, (bool, np.bool_)):
            kind[i] = 3
        elif isinstance(v, numbers.Real):
            f = float(v)
            kind[i] = 0 if np.isnan(f) else 1
            out[i] = f
        else:
            kind[i] = 3
    if (kind == 3).any():
        bad = kind == 3
        first = obj[np.flatnonzero(bad)[0]]
        if isinstance(first, numbers.Complex) and not isinstance(first, (bool, np.bool_)):
            raise _bad(source, column, bad, s, "real numbers",
                       "holds complex numbers, not real numbers")
        what = "holds values that are not numbers (booleans, dates or other objects)"
        raise _bad(source, column, bad, s, "numeric column", what)
    text = kind == 2
    if text.any():
        t = pd.Series(obj[text]).astype(str).str.strip()
        missing = t.isin(MISSING_TOKENS).to_numpy()
        ok = t.str.fullmatch(_NUMBER[decimal].pattern).to_numpy() & ~missing
        if not (ok | missing).all():
            bad = np.zeros(len(obj), dtype=bool)
            bad[np.flatnonzero(text)[~(ok | missing)]] = True
            cells = t[~(ok | missing)]
            if cells.str.fullmatch(_INFINITE.pattern, case=False).all():
                raise _bad(source, column, bad, s, "finite values", "must hold finite numbers")
            hint = ""
            other = "," if decimal == "." else "."
            if cells.str.fullmatch(_NUMBER[other].pattern).any():
                hint = (f" (a number written with '{other}' as the decimal mark: this data set is "
                        f"read with '{decimal}'; pass decimal='{other}' (CLI: --decimal "
                        f"'{other}') if that is what the file uses)")
            raise _bad(source, column, bad, s, "numeric column", "must be numeric" + hint)
        nums = t[ok]
        if decimal == ",":
            nums = nums.str.replace(",", ".", regex=False)
        vals = np.full(len(t), np.nan)
        vals[ok] = nums.astype(float).to_numpy()
        out[text] = vals
    return _finite(out, s, column, source)


def _finite(out: np.ndarray, s: pd.Series, column: str, source: Source) -> np.ndarray:
    inf = np.isinf(out)
    if inf.any():
        raise _bad(source, column, inf, s, "finite values", "must hold finite numbers")
    return out


def _raise_all(s, column, source, what, rule="numeric column"):
    mask = s.notna().to_numpy()
    if not mask.any():
        mask = np.ones(len(s), dtype=bool)
    raise _bad(source, column, mask, s, rule, what)


def _id_type_problem(v) -> str | None:
    """Why a single cell cannot be an id (None if it can: text or a whole finite number)."""
    if isinstance(v, str):
        return None
    if isinstance(v, (bool, np.bool_)):
        return "booleans"
    if isinstance(v, numbers.Integral):
        return None
    if isinstance(v, numbers.Real):
        f = float(v)
        if not np.isfinite(f):
            return "non-finite numbers"
        return None if f == round(f) else "fractional numbers"
    if isinstance(v, numbers.Complex):
        return "complex numbers"
    if (isinstance(v, (pd.Timestamp, np.datetime64, pd.Timedelta, np.timedelta64))
            or hasattr(v, "isoformat")):
        return "dates or times"
    if isinstance(v, (bytes, bytearray)):
        return "bytes"
    return "objects that are not text or numbers"


#: How ids that are numbers are read: as the text they are written in (default), or as numbers.
ID_RULES = ("text", "numeric")
_ID_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_ID_HINT = ("pass ids='numeric' to alliance.read_sessions / read_table (CLI: --ids numeric) if "
            "numbers written either way are one id")


def _number_key(text: str):
    """The value of an id written as a number (a Decimal), or None if it is not one."""
    if not _ID_NUMBER.match(text):
        return None
    try:
        return decimal.Decimal(text)
    except decimal.InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        return None


def _canonical_number(value: decimal.Decimal) -> str | None:
    """The text of a whole number (``"1"`` for 1, 1.0, 01, 1e0); None if it is not whole."""
    if value.adjusted() > MAX_ID_CHARS or value != value.to_integral_value():
        return None
    return str(int(value))


def _canonical_text(text: str) -> str | None:
    """The canonical text of an id written as a whole number (None for any other id)."""
    key = _number_key(text)
    return None if key is None else _canonical_number(key)


def parse_identifier(values, column: str, source: Source, *, ids: str = "text",
                     allow_missing: bool = False) -> pd.Series:
    """An id column as text: present, text or whole numbers, printable, at most :data:`MAX_ID_CHARS`.

    **One identity rule for files and DataFrames: ids are text.** A cell of a file is
    the text written in it; a whole number in a DataFrame (an integer column, a
    Python ``int``) is the text of that number (``7`` is ``"7"``). So ``"1"`` and
    ``"1.0"`` -- or ``"7"`` and ``"007"`` -- are two spellings of one number, and
    whether they are one id or two is something only the user knows: by default
    (``ids="text"``) a column holding one number written two ways is refused with
    the rows of each spelling named, and so is a column of decimal numbers
    (``float``: a DataFrame's ``1.0`` cannot say whether the file said ``1`` or
    ``1.0``). With ``ids="numeric"`` the user says that an id written as a whole
    number *is* that number: ``1``, ``1.0``, ``01`` and a float ``1.0`` are all the
    id ``"1"``, in a file and in a DataFrame alike.

    Refused with a :class:`DataError` naming the rows: an empty or blank id (unless
    ``allow_missing``: then a missing cell stays missing, for the analysis to drop
    its row); booleans, fractional or non-finite numbers, complex numbers, dates
    and other objects (a DataFrame's cells); ids holding control characters (a NUL
    byte, a line break: a damaged or mis-quoted file); ids longer than
    :data:`MAX_ID_CHARS` characters (a quote left open swallows whole rows into
    one cell). Long ids are shortened in the message.
    """
    return _parse_identifier(values, column, source, ids=ids, allow_missing=allow_missing)[0]


def _parse_identifier(values, column: str, source: Source, *, ids: str = "text",
                      allow_missing: bool = False, as_array: bool = False
                      ) -> tuple[pd.Series, tuple | None]:
    """:func:`parse_identifier`, and the ids' factorisation ``(codes, distinct ids)`` where
    its shortcut for plain text ids (:func:`_plain_ids`) gave them (None otherwise): row
    ``i`` holds the id ``distinct[codes[i]]`` (``codes[i] < 0``: missing), so a caller can
    group the rows without factorising the column again. ``as_array``: a column of text ids
    that are the cells themselves is given as its text array (``values.array``, not a copy:
    for a caller that copies it into a frame) instead of a Series of it."""
    if ids not in ID_RULES:
        raise ValueError(f"ids must be one of {ID_RULES}; got {ids!r}")
    s = _positional(values if isinstance(values, pd.Series) else pd.Series(values))
    original = s
    fast = _plain_ids(s, ids, as_array=as_array)
    if fast is not None and (fast[1][0] >= 0).all():  # plain text ids, none missing: no rule
        return fast                                    # below can object to them
    missing = s.isna().to_numpy()
    if missing.any() and not allow_missing:
        raise fail(source, "identifiers present",
                   f"column '{column}' is empty in {rows_text(np.flatnonzero(missing), source)}")
    present = ~missing
    rule = "identifiers are text or whole numbers"
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise _bad(source, column, present, s, rule, "holds booleans, not ids")
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise _bad(source, column, present, s, rule, "holds dates or times, not ids")
    if pd.api.types.is_complex_dtype(dtype):
        raise _bad(source, column, present, s, rule, "holds complex numbers, not ids")
    if fast is not None:
        return fast
    floats = np.zeros(len(s), dtype=bool)  # whole decimal numbers (1.0): no spelling of their own
    if pd.api.types.is_float_dtype(dtype):
        arr = s.to_numpy(dtype=float, na_value=np.nan)
        inf = np.isinf(arr)
        if inf.any():
            raise _bad(source, column, inf, s, rule, "holds non-finite numbers, not ids")
        frac = present & (arr != np.round(arr))
        if frac.any():
            raise _bad(source, column, frac, s, rule, "holds fractional numbers, not ids")
        floats = present.copy()
        s = pd.Series([str(int(v)) if ok else None for v, ok in zip(arr, present)], dtype=object)
    elif not pd.api.types.is_integer_dtype(dtype):
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind not in ("string", "integer", "empty"):  # mixed or odd cells: look at each one
            why = s.map(lambda v: None if v is None or v is pd.NA or v is pd.NaT
                        or (isinstance(v, float) and math.isnan(v)) else _id_type_problem(v))
            bad = why.notna().to_numpy() & present
            if bad.any():
                first = why[bad].iloc[0]
                raise _bad(source, column, bad, s, rule, f"holds {first}, not ids")
            floats = present & s.map(lambda v: isinstance(v, numbers.Real) and not
                                     isinstance(v, numbers.Integral)).to_numpy(dtype=bool)
            if floats.any():
                s = s.astype(object).copy()
                s[floats] = [str(int(v)) for v in s[floats]]
    if floats.any() and ids == "text":
        raise _bad(source, column, floats, original, "identifiers are text",
                   "holds decimal numbers (floats such as 1.0), not ids: ids are text, and a float "
                   "cannot tell whether the id was written '1' or '1.0'; give the column as text "
                   "or whole numbers (int), or " + _ID_HINT)
    # Text rules are checked on the distinct values (ids repeat over sessions: a
    # 365k-row file has some 70k patients), then mapped back to the rows.
    text = s.astype(object).where(present, None)
    text = text.map(lambda v: v if v is None else str(v))
    codes, uniques = pd.factorize(text, sort=False, use_na_sentinel=True)
    uniq = pd.Series(uniques, dtype=object).astype(str).str.strip()
    if ids == "numeric":  # a whole number written any way is that number
        canon = uniq.map(_canonical_text)
        uniq = canon.where(canon.notna(), uniq).astype(str)
    has = codes >= 0
    out = pd.Series(np.where(has, uniq.to_numpy(dtype=object)[np.where(has, codes, 0)], None),
                    dtype=object)

    def rows_of(mask_unique: np.ndarray) -> np.ndarray:
        return has & np.asarray(mask_unique, dtype=bool)[np.where(has, codes, 0)]

    blank = (uniq == "").to_numpy()
    if blank.any():
        raise fail(source, "identifiers present",
                   f"column '{column}' is blank in {rows_text(np.flatnonzero(rows_of(blank)), source)}")
    control = uniq.str.contains(_CONTROL, regex=True).to_numpy()
    if control.any():
        raise _bad(source, column, rows_of(control), out, "identifiers are printable text",
                   "holds control characters (a NUL byte, a line break, ...: a damaged or "
                   "mis-quoted file)")
    long = (uniq.str.len() > MAX_ID_CHARS).to_numpy()
    if long.any():
        raise _bad(source, column, rows_of(long), out, f"identifiers at most {MAX_ID_CHARS} characters",
                   f"holds ids longer than {MAX_ID_CHARS} characters (a quote left open in a "
                   "file swallows whole rows into one cell)")
    _refuse_spellings(uniq, codes, column, source)
    if not missing.any():
        out = out.astype(str)
    return out, None


#: The dtype of an id column without missing cells (text, as ``Series.astype(str)`` makes it).
_TEXT_DTYPE = pd.Series(["a"], dtype=object).astype(str).dtype


def _plain_ids(s: pd.Series, ids: str, *, as_array: bool = False
               ) -> tuple[pd.Series, tuple] | None:
    """The ids of a text column whose distinct values no rule can object to, and their
    factorisation ``(codes, distinct ids)``; or None.

    The common case, checked on the distinct values only: every present cell is text,
    and every distinct id is printable ASCII of at most :data:`MAX_ID_CHARS` characters
    with no space at either end (so stripping changes nothing and no blank, control
    character or over-long id can be among them). The ids are then the cells themselves;
    one number written two ways is still refused (:func:`_refuse_spellings`). Any other
    column (``None``) takes the general path of :func:`parse_identifier`, which gives the
    same ids for these columns and the messages for all others. ``as_array``: see
    :func:`_parse_identifier`.
    """
    dtype = s.dtype
    if ids != "text" or isinstance(dtype, pd.CategoricalDtype):
        return None
    if not (dtype == object or (pd.api.types.is_string_dtype(dtype) and dtype == _TEXT_DTYPE)):
        return None
    if dtype == object and pd.api.types.infer_dtype(s, skipna=True) != "string":
        return None
    codes, uniques = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=True)
    uniq = [str(u) for u in uniques]
    if not uniq or not 0 < min(map(len, uniq)) <= max(map(len, uniq)) <= MAX_ID_CHARS:
        return None
    joined = "|".join(uniq)  # the distinct ids checked in one pass over one string
    if not (joined.isascii() and joined.isprintable() and joined[0] != " "
            and joined[-1] != " " and " |" not in joined and "| " not in joined):
        return None
    numbers = [u for u in uniq if u[0] in "0123456789+-."]  # only these can be numbers
    if len(numbers) > 1 and _spelling_clash(numbers) is not None:
        return None
    has = codes >= 0
    coding = (codes, uniq)
    if has.all():
        if dtype == _TEXT_DTYPE:  # already text: the cells are the ids
            if as_array:
                return s.array, coding
            out = s.copy(deep=False)
            out.name = None
            return out, coding
        return pd.Series(np.asarray(uniq, dtype=object)[codes], dtype=object).astype(str), coding
    return pd.Series(np.where(has, np.asarray(uniq, dtype=object)[np.where(has, codes, 0)], None),
                     dtype=object), coding


def _spelling_clash(uniq) -> list | None:
    """Positions of the distinct ids that are one number written in different ways, or None."""
    seen: dict = {}
    for i, text in enumerate(uniq):
        key = _number_key(text)
        if key is not None:
            seen.setdefault(key, []).append(i)
    return next((v for v in seen.values() if len({uniq[i] for i in v}) > 1), None)


def _refuse_spellings(uniq: pd.Series, codes: np.ndarray, column: str, source: Source) -> None:
    """Refuse one number written two ways among the distinct ids (``'1'`` and ``'1.0'``)."""
    clash = _spelling_clash(uniq)
    if clash is None:
        return
    parts = []
    for i in clash[:3]:
        rows = np.flatnonzero(codes == i)
        parts.append(f"{shorten(uniq[i])} in {rows_text(rows, source)}")
    raise fail(
        source, "one spelling per id",
        f"column '{column}' holds one number written in different ways ({'; '.join(parts)}): ids "
        "are text, so these would be different ids; write each id one way in a copy of the file, "
        "or " + _ID_HINT)


def parse_session(values, column: str, source: Source, *, decimal: str = ".") -> np.ndarray:
    """Session numbers as int64: present, whole, from 1 to :data:`MAX_SESSION`."""
    s = _positional(values if isinstance(values, pd.Series) else pd.Series(values))
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu":  # whole numbers: their range only
        v = s.to_numpy()
        if not ((v < 1) | (v > MAX_SESSION)).any():
            return v.astype("int64")  # a copy, as the general path's
    t = parse_numeric(s, column, source, decimal=decimal)
    miss = np.isnan(t)
    if miss.any():
        raise fail(source, "session present",
                   f"column '{column}' is empty in {rows_text(np.flatnonzero(miss), source)}")
    bad = (t != np.round(t)) | (t < 1) | (t > MAX_SESSION)
    if bad.any():
        raise _bad(source, column, bad, s, "session is a positive integer",
                   f"must hold whole numbers 1, 2, ... (at most {MAX_SESSION:,})")
    return t.astype("int64")


def distinct_pairs(owner: np.ndarray, member: np.ndarray, width: int | None = None):
    """The distinct (owner, member) pairs of two arrays of non-negative integer codes, as sorted
    keys ``owner * width + member`` (``width`` above every member code: ``member.max() + 1``
    unless given), and ``width``. Few possible pairs are marked in a table, many sorted.
    (``alliance.moderation.require_groups_nested`` keeps its own table: it may not import
    this layer.)"""
    width = int(member.max()) + 1 if width is None else int(width)
    key = owner.astype(np.int64) * width + member
    size = (int(owner.max()) + 1) * width
    if size <= 8 * key.size + 4096:
        seen = np.zeros(size, dtype=bool)
        seen[key] = True
        return np.flatnonzero(seen), width
    key = np.sort(key)
    return key[np.concatenate(([True], key[1:] != key[:-1]))], width
