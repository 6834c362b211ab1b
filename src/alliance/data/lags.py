r"""Lagged predictors from long session data: THE lag builder of the package.

Every lagged analysis (the lagged response surface, the truth-and-bias model
with a prior rating, lagged outcomes) takes its lagged columns from
:func:`lag`. A lagged value of row :math:`(i, s)` -- patient :math:`i`,
session :math:`s` -- is the value of the *same* patient's row at session
:math:`s - k` (``lag = k``):

.. math::

    x^{(k)}_{is} = \begin{cases} x_{i,s-k} & \text{if patient } i \text{ has a row at session } s-k\\
    \text{NaN} & \text{otherwise (first sessions, a missed session in between, dropout)}\end{cases}

A lag is never taken across patients, and never across a gap: if session 3 of
a patient is absent, session 4 gets NaN (not session 2's value), because the
previous *attended* session is then two sessions back.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from alliance.data.cells import fail, parse_numeric, rows_text, source_of

__all__ = ["lag", "lag_name", "split_within_between"]

_MAX_LISTED = 8


def lag_name(column: str, lag: int = 1) -> str:
    """Name of the lagged copy of ``column``: ``f"{column}_lag{lag}"``."""
    return f"{column}_lag{int(lag)}"


def lag(
    data: pd.DataFrame,
    columns: str | Iterable[str],
    *,
    group: str = "patient",
    time: str = "session",
    lag: int = 1,
    bridge: Iterable[str] | None = None,
) -> pd.DataFrame:
    r"""Lagged copies of ``columns``: the value ``lag`` sessions earlier, same ``group``.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per ``group`` x ``time`` (any row order; not modified).
    columns : str or iterable of str
        Columns to lag (any dtype).
    group : str
        Column identifying the unit the lag stays within (default ``"patient"``).
    time : str
        Numeric time column (default ``"session"``). The lagged row must be at
        time *exactly* ``time - lag``; rows are matched by value, so gaps are
        never bridged.
    lag : int
        Positive number of sessions to look back.
    bridge : iterable of str, optional
        Bridge gaps (default: never): a row's lagged values come from the ``lag``-th
        most recent *earlier* row of the same ``group`` in which every column of
        ``bridge`` is observed, however many sessions back (a missed session, or one
        whose ratings are missing, is skipped). The multiverse's "gaps allowed" lag
        rule (:mod:`alliance.studies.multiverse`).

    Returns
    -------
    pandas.DataFrame
        Same index and row order as ``data``, one column per lagged column named
        :func:`lag_name` (``"<column>_lag<lag>"``). A row gets NaN where the same
        ``group`` has no row exactly ``lag`` time units earlier (or where the
        earlier value itself is missing). ``out.attrs["lag"]`` reports the counts:
        ``n_rows``; ``n_no_previous`` (rows without an earlier row of the same
        group ``lag`` units back); ``n_first`` (of those, rows less than ``lag``
        units after the group's first time: nothing that far back); ``n_gap`` (the
        others: a missed session in between); ``n_bridged`` (with ``bridge``: rows
        whose lagged row is further back than ``lag``); ``n_missing_value`` (per column: earlier row present, value
        missing); ``n_valid`` (per column: non-missing lagged values).

    Raises
    ------
    DataError
        A missing column, missing ``group`` or ``time`` values, a non-numeric
        ``time``, or two rows of one group at the same time (the message names
        the rows).
    ValueError
        ``lag`` not a positive integer.

    Notes
    -----
    Implemented as a left join of each row's key ``(group, time - lag)`` on the
    rows' keys ``(group, time)``; rows are never reordered, so the result lines up
    with ``data`` whatever its order.

    Examples
    --------
    >>> import pandas as pd
    >>> from alliance.data.lags import lag
    >>> d = pd.DataFrame({"patient": ["a", "a", "a", "b", "b"],
    ...                   "session": [1, 2, 4, 1, 2],
    ...                   "wellbeing": [10.0, 12.0, 15.0, 20.0, 21.0]})
    >>> out = lag(d, "wellbeing")
    >>> out["wellbeing_lag1"].tolist()
    [nan, 10.0, nan, nan, 20.0]
    >>> out.attrs["lag"]["n_gap"], out.attrs["lag"]["n_first"]
    (1, 2)
    """
    lag = _check_lag(lag)
    cols = [columns] if isinstance(columns, str) else list(columns)
    if not cols:
        raise ValueError("columns must name at least one column")
    source = source_of(data)
    missing = [c for c in [group, time, *cols] if c not in data.columns]
    if missing:
        raise fail(source, "required columns present",
                   f"missing column(s) {missing} needed to build lags; the data have "
                   f"{list(data.columns)}")
    ok = (lambda: data[list(bridge)].notna().all(axis=1).to_numpy()) if bridge is not None else None
    lagged, report = lag_columns(data[group], data[time], {c: data[c] for c in cols}, lag,
                                 source, group=group, time=time, bridge=ok)
    out = pd.DataFrame(lagged, index=data.index)
    out.attrs["lag"] = report
    return out


def lag_columns(groups: pd.Series, times: pd.Series, columns: dict, lag: int, source, *,
                group: str, time: str, bridge=None, codes: np.ndarray | None = None
                ) -> tuple[dict, dict]:
    """:func:`lag` on columns already taken from a frame: ``{lag_name(name, lag): lagged
    values}`` and the report (``out.attrs["lag"]`` of :func:`lag`).

    ``groups`` and ``times`` are the group and time columns (Series), ``columns`` maps each
    name to lag to its column (a Series, or a NumPy array of numbers) in the same row order;
    ``bridge`` (a callable) gives the rows whose bridge columns are all observed; ``codes``
    may give ``groups`` factorised by :func:`group_codes` (the caller's, reused). ``lag`` is a
    positive int; ``group``, ``time`` and ``source`` name things in the report and errors.
    """
    lag = _check_lag(lag)
    g = groups.reset_index(drop=True) if codes is None or bridge is not None else None
    if codes is None:
        codes = group_codes(g)  # the groups as integers (ids equal as pandas compares them)
    if codes is None:
        bad = np.flatnonzero(g.isna().to_numpy())
        raise fail(source, "identifiers present", f"column '{group}' is empty in {rows_text(bad, source)}")
    t = parse_numeric(times, time, source)
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise fail(source, "time present", f"column '{time}' is missing in {rows_text(bad, source)}")
    tv = t
    n = len(tv)
    prev = _earlier_row(codes, tv, lag)  # each row's row at time - lag of its group (-1: none)
    if prev is None:  # two rows of one group at one time: the rows named
        _refuse_repeats(codes, tv, source, group, time)
    n_bridged = None
    if bridge is not None:
        strict = np.where(prev >= 0, prev, np.nan)
        matched = _previous_observed(pd.DataFrame({"_g": g, "_t": pd.Series(t)}), bridge(), lag)
        n_bridged = int(np.sum(~np.isnan(matched) & ~(matched == strict)))
        prev = np.where(np.isnan(matched), -1, matched).astype(np.intp)
    has_prev = prev >= 0
    pos = np.where(has_prev, prev, 0)

    lagged_columns = {}
    n_missing_value = {}
    n_valid = {}
    all_prev = bool(has_prev.all())
    for c, col in columns.items():
        name = lag_name(c, lag)
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiu":  # plain numbers: NumPy
            vals = np.asarray(col)[pos]
            if not all_prev:
                if vals.dtype.kind != "f":  # an integer column with missing lags becomes float
                    vals = vals.astype(float)
                vals[~has_prev] = np.nan
            isna = np.isnan(vals) if vals.dtype.kind == "f" else np.zeros(n, dtype=bool)
        else:  # any other dtype (a Series): pandas' own missing value for it
            lagged = col.reset_index(drop=True).iloc[pos].reset_index(drop=True)
            lagged = lagged.where(pd.Series(has_prev))
            if not all_prev and pd.api.types.is_integer_dtype(col.dtype):
                lagged = lagged.astype(float)
            vals = lagged.to_numpy()
            isna = pd.isna(vals)
        lagged_columns[name] = vals
        n_missing_value[name] = int(np.sum(isna & has_prev))
        n_valid[name] = int(np.sum(~isna))
    first_time = np.full(codes.max() + 1 if n else 0, np.inf)
    np.minimum.at(first_time, codes, tv)  # each group's first time
    no_prev = ~has_prev
    is_first = no_prev & (tv - lag < first_time[codes])
    report = {
        "lag": lag,
        "group": group,
        "time": time,
        "n_rows": n,
        "n_no_previous": int(no_prev.sum()),
        "n_first": int(is_first.sum()),
        "n_gap": int((no_prev & ~is_first).sum()),
        "n_missing_value": n_missing_value,
        "n_valid": n_valid,
        **({} if n_bridged is None else {"n_bridged": n_bridged}),
    }
    return lagged_columns, report


def _check_lag(lag) -> int:
    if isinstance(lag, (bool, np.bool_)) or not isinstance(lag, (int, np.integer)) or lag < 1:
        raise ValueError(f"lag must be a positive integer; got {lag!r}")
    return int(lag)


def group_codes(g: pd.Series) -> np.ndarray | None:
    """``pd.factorize(g)[0]`` (codes in order of appearance), or None if a group is missing.

    A column of text ids (pandas' ``str`` dtype) is factorised on its cells as an object
    array: the same codes, half the time of the extension array's route."""
    if g.dtype == _TEXT and isinstance(g.array.dtype, pd.StringDtype) \
            and g.array.dtype.storage == "python":
        codes = pd.factorize(g.to_numpy(dtype=object))[0]  # a missing text id is NaN: -1
        return None if (codes < 0).any() else codes
    if g.isna().to_numpy().any():
        return None
    return pd.factorize(g)[0]


#: pandas' text dtype (``str``), as validated ids have it.
_TEXT = pd.api.types.pandas_dtype(str)



def _earlier_row(codes: np.ndarray, tv: np.ndarray, lag: int) -> np.ndarray | None:
    """Each row's row of the same group at exactly ``time - lag`` (-1 where there is none),
    or None when two rows of one group share a time.

    Each row's key (group, time) and the key it looks up, (group, time - lag), as one
    integer. Whole-number times in a small range index a table of every (group, time)
    directly; any other times share one table of distinct values with the looked-up
    times (exact float equality, as a join on the values), found by a sorted search.
    """
    n = len(tv)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    n_groups = int(codes.max()) + 1
    low, high = float(tv.min()), float(tv.max())
    width = high - low + lag + 1  # times low - lag .. high
    if (max(abs(low), abs(high)) < 2.0 ** 52 and n_groups * width <= 8 * n + 4096
            and np.array_equal(tv, np.floor(tv))):
        width = int(width)
        base = codes.astype(np.int64) * width
        key = base + (tv - (low - lag)).astype(np.int64)
        table = np.full(n_groups * width, -1, dtype=np.intp)
        rows = np.arange(n, dtype=np.intp)
        table[key] = rows
        if (table[key] != rows).any():  # a key written twice: one of its rows lost
            return None
        return table[key - lag]
    times, where = np.unique(np.concatenate([tv, tv - lag]), return_inverse=True)
    key = codes.astype(np.int64) * len(times) + where[:n]
    wanted = codes.astype(np.int64) * len(times) + where[n:]
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    if (sorted_key[1:] == sorted_key[:-1]).any():
        return None
    at = np.minimum(np.searchsorted(sorted_key, wanted), n - 1)
    return np.where(sorted_key[at] == wanted, order[at], -1)


def _refuse_repeats(codes: np.ndarray, tv: np.ndarray, source, group: str, time: str) -> None:
    """The error naming every row whose (group, time) another row repeats."""
    times, where = np.unique(tv, return_inverse=True)
    key = codes.astype(np.int64) * len(times) + where
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    same = sorted_key[1:] == sorted_key[:-1]
    dup = np.zeros(len(tv), dtype=bool)
    dup[order[1:][same]] = True
    dup[order[:-1][same]] = True
    raise fail(source, f"unique {group} x {time}",
               f"{rows_text(np.flatnonzero(dup), source)} repeat a {group} x {time} "
               f"combination; a lag needs one row per {group} and {time}")


def _previous_observed(keys: pd.DataFrame, ok: np.ndarray, lag: int) -> np.ndarray:
    """Position of each row's ``lag``-th most recent earlier row of its group with ``ok``; NaN if none.

    ``keys`` has the group ``_g`` and time ``_t`` (unique per group, checked by the caller).
    """
    out = np.full(len(keys), np.nan)
    order = keys.assign(_ok=ok, _pos=np.arange(len(keys))).sort_values(["_g", "_t"], kind="stable")
    for _, sub in order.groupby("_g", sort=False):
        seen: list[int] = []
        for pos, good in zip(sub["_pos"].to_numpy(), sub["_ok"].to_numpy()):
            if len(seen) >= lag:
                out[pos] = seen[-lag]
            if good:
                seen.append(int(pos))
    return out


def _dense(codes: np.ndarray) -> np.ndarray:
    """Integer codes renumbered 0, 1, ... in the order of their values (-1 stays -1)."""
    codes = np.asarray(codes)
    ok = codes >= 0
    if not ok.any():
        return np.full(codes.shape, -1, dtype=np.intp)
    present = np.zeros(int(codes.max()) + 1, dtype=bool)
    present[codes[ok]] = True
    number = np.cumsum(present) - 1
    return np.where(ok, number[np.maximum(codes, 0)], -1)


def split_within_between(values, patient, codes: np.ndarray | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's own mean of ``values`` (NaN ignored) and the deviation from it.

    ``values`` are one rating per row, ``patient`` the patient of each row. The
    patient mean is the mean of *all* that patient's non-missing values among the
    rows given (every available session, whatever else is missing in the row).
    Returns ``(patient_mean, values - patient_mean)`` row by row; a patient
    without any value gets NaN. ``values`` may also be an (n, k) array of k columns,
    split column by column in one pass (the same numbers as k calls). ``codes``: the
    patients already factorised by the caller (one integer per row, -1 for no id; only which
    rows share a code matters), used instead of factorising ``patient``.
    """
    v = np.asarray(values, dtype=float)
    # grouped on integer codes (pandas' compensated group sums: the same bits as a groupby
    # transform on the ids, without pandas' label lookup of an array key); no id: NaN
    codes = pd.factorize(np.asarray(patient))[0] if codes is None else _dense(codes)
    has = codes >= 0
    if has.all():  # every row has its patient: no rows to leave out
        pm = np.take(group_means(v, codes), codes, axis=0)
    else:
        pm = np.full(v.shape, np.nan)
        if has.any():
            pm[has] = group_means(v[has], codes[has])[codes[has]]
    return pm, v - pm


def group_means(v: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Each group's mean of ``v`` (one row per row of ``codes``, the groups 0..G-1; NaN
    ignored, NaN where a group has no value): ``pd.Series(v).groupby(codes).mean()`` (a
    DataFrame's for 2-D ``v``) to the last bit.

    Where pandas itself sums with NumPy -- the groups in sorted order (each group's rows one
    run, as a patient's sessions are) and no missing value: ``np.add.reduceat`` over each
    run, divided by its size -- the same sums without pandas' per-call cost (a tenth of it
    at the book's size); any other grouping by pandas.
    """
    n = len(codes)
    if n and (codes[1:] >= codes[:-1]).all() and not np.isnan(v).any():
        first = np.empty(n, dtype=bool)  # the first row of each run
        first[0] = True
        np.not_equal(codes[1:], codes[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        sizes = np.empty(len(starts))  # each run's length, as a float
        np.subtract(starts[1:], starts[:-1], out=sizes[:-1], casting="unsafe")
        sizes[-1] = n - starts[-1]
        sums = np.add.reduceat(v, starts, axis=0)
        return sums / (sizes if v.ndim == 1 else sizes[:, None])
    frame = pd.Series(v) if v.ndim == 1 else pd.DataFrame(v)
    return frame.groupby(codes).mean().to_numpy()
