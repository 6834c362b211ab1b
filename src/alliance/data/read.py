"""Reading a delimited text file into a table of text cells, with the file-level rules.

:func:`read_text` is the only code that opens a data file. It returns every cell
as text (``None`` for an empty field) together with a :class:`~alliance.data.cells.Source`
that knows on which file line each data row starts, so that every later message
can name the row as an editor shows it. It enforces the rules that belong to the
file rather than to the data model:

* the path is a readable file (not a directory, not ``-``), non-empty, UTF-8
  text without NUL bytes;
* the delimiter is a comma, a semicolon or a tab: given (``sep``) or detected
  from the header line, never guessed row by row;
* every row has exactly as many fields as the header (a truncated or shifted
  row is an error, never a row of missing values);
* column names are unique *in the header itself* (``score`` and ``score.1``
  are two legitimate names) and safe identifiers;
* the decimal mark is a point or a comma: given (``decimal``) or detected for a
  semicolon- or tab-separated file from the cells themselves (a comma-separated
  file always uses points); a file that mixes both is refused.

Nothing is converted here; :mod:`alliance.data.cells` parses the cells.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from alliance.data.cells import MISSING_TOKENS, Source, fail, shorten
from alliance.data.schema import SAFE_NAME

__all__ = ["DELIMITERS", "check_names", "read_text"]

#: Delimiters a data file may use, by the name the CLI accepts.
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t"}
_DECIMAL_POINT = re.compile(r"^[+-]?\d*\.\d+(?:[eE][+-]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")


def check_names(columns: Iterable, source) -> None:
    """Column names must be unique and safe identifiers (never evaluated, but kept sane)."""
    names = [str(c) for c in columns]
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise fail(source, "unique column names", f"column name(s) repeated in the header: {dupes}")
    bad = [c for c in names if not SAFE_NAME.match(c)]
    if bad:
        shown = "[" + ", ".join(shorten(c) for c in bad[:5]) + "]"
        hint = ""
        if any(";" in c for c in bad) or any("\t" in c for c in bad):
            hint = " (the header holds a ';' or a tab: is the file delimited by it? pass sep)"
        raise fail(
            source, "column names are safe identifiers",
            f"column name(s) {shown} are not safe identifiers (letters, digits, '_' and '.', "
            f"starting with a letter or '_'); rename them in a copy of the file{hint}",
        )


def _open(path_like) -> tuple[str, str]:
    name = os.fspath(path_like)
    if name in ("-", ""):
        raise fail(name or "''", "file exists",
                   "reading from standard input is not supported; give the path of a CSV file")
    path = Path(name)
    try:
        if path.is_dir():
            raise fail(name, "file exists", "is a directory; give the path of a CSV file")
        if not path.exists():
            raise fail(name, "file exists", "no such file")
        if not path.is_file():
            raise fail(name, "file exists", "is not a regular file (a device, pipe or socket); "
                                            "give the path of a CSV file")
        data = path.read_bytes()
    except OSError as exc:
        raise fail(name, "file is readable", f"cannot read the file ({exc.strerror or exc})") from None
    if not data.strip():
        raise fail(name, "empty file", "the file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise fail(name, "file is UTF-8 text",
                   f"cannot decode byte {exc.start} (line {line}) as UTF-8 ({exc.reason}); save "
                   "the file as UTF-8 CSV") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise fail(name, "file is text", f"line {line} holds a NUL byte (a binary or damaged file)")
    return name, text


def _detect_sep(header: str, suffix: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    if suffix in (".tsv", ".tab") and counts["\t"]:
        return "\t"
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _detect_decimal(cells: pd.DataFrame, sep: str, name: str, source: Source) -> str:
    if sep == ",":
        return "."
    point = comma = None
    for col in cells.columns:
        s = cells[col].dropna()
        if point is None:
            hit = s[s.str.fullmatch(_DECIMAL_POINT.pattern)]
            if len(hit):
                point = (col, hit.index[0], hit.iloc[0])
        if comma is None:
            hit = s[s.str.fullmatch(_DECIMAL_COMMA.pattern)]
            if len(hit):
                comma = (col, hit.index[0], hit.iloc[0])
        if point and comma:
            break
    if point and comma:
        raise fail(
            name, "one decimal mark per file",
            f"the file uses both decimal points (column '{point[0]}', file line "
            f"{int(source.lines[point[1]])}: {point[2]!r}) and decimal commas (column "
            f"'{comma[0]}', file line {int(source.lines[comma[1]])}: {comma[2]!r}); pass decimal='.' "
            "or decimal=',' (CLI: --decimal) to say which it is",
        )
    return "," if comma else "."


def read_text(path_like, *, sep: str | None = None, decimal: str | None = None
              ) -> tuple[pd.DataFrame, Source, dict]:
    """Read a delimited UTF-8 file as text cells.

    Parameters
    ----------
    path_like : str or path
        The file.
    sep : {",", ";", "tab"}, optional
        Delimiter; default: detected from the header line (the most frequent of
        comma, semicolon and tab; a ``.tsv`` file is tab-separated).
    decimal : {".", ","}, optional
        Decimal mark; default: a point for comma-separated files, detected from
        the cells for the others (refused if the file mixes both).

    Returns
    -------
    cells : pandas.DataFrame
        Every field as ``str``, missing fields (:data:`MISSING_TOKENS`) as ``None``.
    source : Source
        The file name and the file line on which each data row starts.
    fmt : dict
        ``sep`` and ``decimal`` as used; ``notes``: things worth checking that
        break no rule (a last line without a line break, which is what a file
        cut off while being written looks like).
    """
    name, text = _open(path_like)
    if sep is not None and sep not in DELIMITERS:
        raise ValueError(f"sep must be one of {sorted(DELIMITERS)}; got {sep!r}")
    if decimal is not None and decimal not in (".", ","):
        raise ValueError(f"decimal must be '.' or ','; got {decimal!r}")
    header_line = text.split("\n", 1)[0]
    delim = DELIMITERS[sep] if sep is not None else _detect_sep(header_line, Path(name).suffix.lower())
    if decimal == "," and delim == ",":
        raise ValueError("decimal=',' needs a semicolon- or tab-separated file (sep=';' or 'tab')")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise fail(name, "well-formed CSV", f"cannot parse the header line: {exc}") from None
    header = [h.strip() for h in header]
    width = len(header)
    others = [d for d in (",", ";", "\t") if d != delim and d in header_line]
    if width == 1 and others:
        shown = {"\t": "tab"}.get(others[0], others[0])
        raise fail(
            name, "one delimiter per file",
            f"the header is one single column {shorten(header[0], 30)} that holds "
            f"{shown!r}: the file seems to be delimited by {shown!r}, not "
            f"{({chr(9): 'tab'}).get(delim, delim)!r}; pass sep={shown!r} (CLI: --sep {shown!r}) "
            "or leave the delimiter to be detected",
        )
    records: list[list[str]] = []
    starts: list[int] = []
    line_before = reader.line_num
    start = line_before + 1
    try:
        for rec in reader:
            start = line_before + 1
            line_before = reader.line_num
            if not rec or (len(rec) == 1 and rec[0] == "" and width > 1):
                continue  # a blank line
            if len(rec) != width:
                what = "fewer" if len(rec) < width else "more"
                raise fail(
                    name, "every row has as many fields as the header",
                    f"file line {start} has {len(rec)} field{'s' if len(rec) != 1 else ''}, "
                    f"{what} than the {width} of the header (a truncated, shifted or "
                    "mis-delimited row)",
                )
            records.append(rec)
            starts.append(start)
    except csv.Error as exc:
        start = line_before + 1  # the row being read when the parser gave up
        msg = str(exc)
        if "field larger than field limit" in msg:
            why = (f"the row starting at file line {start} holds a field longer than "
                   f"{csv.field_size_limit():,} characters (a quote left open swallows the "
                   "following lines; or a damaged file)")
        elif "unexpected end of data" in msg:
            why = (f"a quoted field in the row starting at file line {start} is never closed "
                   "(an unbalanced '\"'), so the file ends inside it; a file cut off while "
                   "being written looks like this too")
        else:
            why = f"cannot parse the row starting at file line {start}: {msg}"
        raise fail(name, "well-formed CSV", why) from None
    if not records:
        raise fail(name, "empty file", "the file has a header but no data rows")
    source = Source(name, np.asarray(starts, dtype=np.int64))
    check_names(header, name)
    cols = list(zip(*records))
    missing = set(MISSING_TOKENS)
    cells = pd.DataFrame({
        h: pd.Series([None if v.strip() in missing else v for v in col], dtype=object)
        for h, col in zip(header, cols)
    })
    dec = decimal or _detect_decimal(cells, delim, name, source)
    notes = []
    if not text.endswith(("\n", "\r")):
        notes.append(
            f"the file does not end with a line break: if it was cut off while being written, "
            f"its last row (file line {starts[-1]}) may be incomplete; check it (a file saved "
            "by some spreadsheets simply lacks the final line break)")
    return cells, source, {"sep": delim, "decimal": dec, "notes": notes}
