"""Tests of :func:`alliance.lags.lag`, the package's one lag builder.

Properties only (no external reference is needed: the rule is exact): never across
patients, never across gaps, row-order invariance, counts reported, bad input refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance.data.lags import lag, lag_name
from alliance.errors import DataError


def small() -> pd.DataFrame:
    # patient a: sessions 1, 2, 4 (gap at 3); b: 1, 2, 3 with a missing value at 2; c: 2 only
    return pd.DataFrame(
        {
            "patient": ["a", "a", "a", "b", "b", "b", "c"],
            "session": [1, 2, 4, 1, 2, 3, 2],
            "x": [1.0, 2.0, 4.0, 10.0, np.nan, 30.0, 7.0],
            "y": [1, 2, 3, 4, 5, 6, 7],
        }
    )


def test_basic_rule_and_counts():
    out = lag(small(), ["x", "y"])
    assert list(out.columns) == ["x_lag1", "y_lag1"]
    np.testing.assert_array_equal(
        out["x_lag1"].to_numpy(), [np.nan, 1.0, np.nan, np.nan, 10.0, np.nan, np.nan]
    )
    # integer columns with missing lags become float, values exact
    np.testing.assert_array_equal(out["y_lag1"].to_numpy(), [np.nan, 1, np.nan, np.nan, 4, 5, np.nan])
    rep = out.attrs["lag"]
    assert rep["n_rows"] == 7
    assert rep["n_no_previous"] == 4  # a1, a4 (gap), b1, c2 (first)
    assert rep["n_first"] == 3
    assert rep["n_gap"] == 1
    assert rep["n_missing_value"] == {"x_lag1": 1, "y_lag1": 0}  # b3 <- b2 missing
    assert rep["n_valid"] == {"x_lag1": 2, "y_lag1": 3}


def test_never_across_patients():
    # consecutive rows in file order belong to different patients: no value leaks
    d = pd.DataFrame({"patient": ["a", "b"], "session": [1, 2], "x": [1.0, 2.0]})
    assert lag(d, "x")["x_lag1"].isna().all()


def test_lag_two():
    d = small()
    out = lag(d, "x", lag=2)
    assert lag_name("x", 2) in out
    np.testing.assert_array_equal(
        out["x_lag2"].to_numpy(), [np.nan, np.nan, 2.0, np.nan, np.nan, 10.0, np.nan]
    )


def test_row_order_and_index_invariance():
    d = small()
    d.index = [f"r{i}" for i in range(len(d))]
    perm = np.random.default_rng(3).permutation(len(d))
    shuffled = d.iloc[perm]
    a = lag(d, "x")
    b = lag(shuffled, "x")
    assert list(b.index) == list(shuffled.index)
    pd.testing.assert_frame_equal(a.loc[b.index], b)


def test_input_not_modified():
    d = small()
    before = d.copy()
    lag(d, "x")
    pd.testing.assert_frame_equal(d, before)


def test_on_example_data_against_groupby_shift():
    data = alliance.load_example()
    out = lag(data, ["alliance_patient", "wellbeing"])
    # reference: groupby shift on sorted data, kept only where the previous row is exactly 1 earlier
    s = data.sort_values(["patient", "session"])
    prev = s.groupby("patient")[["session", "alliance_patient", "wellbeing"]].shift(1)
    ok = prev["session"] == s["session"] - 1
    ref = prev["alliance_patient"].where(ok)
    pd.testing.assert_series_equal(
        out.loc[s.index, "alliance_patient_lag1"], ref, check_names=False
    )
    assert out.attrs["lag"]["n_first"] == data["patient"].nunique()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_lag(bad):
    with pytest.raises(ValueError, match="positive integer"):
        lag(small(), "x", lag=bad)


def test_duplicates_refused():
    d = pd.concat([small(), small().iloc[[1]]], ignore_index=True)
    with pytest.raises(DataError, match="unique patient x session"):
        lag(d, "x")


def test_missing_column_and_time():
    with pytest.raises(DataError, match="missing column"):
        lag(small(), "nope")
    d = small()
    d.loc[2, "session"] = np.nan
    with pytest.raises(DataError, match="data row 3"):
        lag(d, "x")
    d = small()
    d["session"] = d["session"].astype(str) + "x"
    with pytest.raises(DataError, match="numeric"):
        lag(d, "x")


def test_other_names():
    d = small().rename(columns={"patient": "id", "session": "wave"})
    out = lag(d, "x", group="id", time="wave")
    assert out["x_lag1"].notna().sum() == 2


def _lag_by_lookup(d: pd.DataFrame, column: str, k: int) -> tuple[list, int, int]:
    """The rule written out row by row: the value of the same patient's row at exactly
    session - k (None if there is none); and the counts of first sessions and gaps."""
    at = {(p, s): i for i, (p, s) in enumerate(zip(d["patient"], d["session"]))}
    first = d.groupby("patient")["session"].min()
    values, n_first, n_gap = [], 0, 0
    for p, s in zip(d["patient"], d["session"]):
        i = at.get((p, s - k))
        values.append(None if i is None else d[column].iloc[i])
        if i is None:
            n_first += s - k < first[p]
            n_gap += s - k >= first[p]
    return values, n_first, n_gap


@pytest.mark.parametrize("seed", range(6))
def test_against_the_rule_written_row_by_row(seed):
    """Random patients, sessions (some half sessions, gaps, any row order), ids of several
    kinds and columns of several dtypes: every lagged value and count as the rule says."""
    rng = np.random.default_rng(seed)
    rows = {(p, s) for p, s in zip(rng.integers(0, 7, 60), rng.integers(1, 9, 60))}
    patient, session = map(np.array, zip(*sorted(rows, key=lambda _: rng.random())))
    session = session + (rng.random(len(session)) < 0.2) * 0.5 if seed % 2 else session
    ids = {0: [f"p{p}" for p in patient], 1: patient, 2: patient.astype(float)}[seed % 3]
    n = len(patient)
    d = pd.DataFrame({"patient": ids, "session": session,
                      "x": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
                      "i": rng.integers(0, 9, n),
                      "s": np.array([f"v{v}" for v in rng.integers(0, 5, n)], dtype=object)},
                     index=rng.permutation(n) * 2)
    for k in (1, 2):
        out = lag(d, ["x", "i", "s"], lag=k)
        assert list(out.index) == list(d.index)
        for c in ("x", "i", "s"):
            want, n_first, n_gap = _lag_by_lookup(d, c, k)
            got = out[lag_name(c, k)].tolist()
            assert [None if pd.isna(w) else w for w in want] == [None if pd.isna(g) else g
                                                                 for g in got]
        ints = out[f"i_lag{k}"]  # an integer column with missing lags becomes float
        assert ints.dtype == (np.int64 if ints.notna().all() else np.float64)
        rep = out.attrs["lag"]
        assert (rep["n_first"], rep["n_gap"]) == (n_first, n_gap)
        assert rep["n_no_previous"] == n_first + n_gap


@pytest.mark.parametrize("times", [[1, 2, 3], [1.5, 2.5, 3.5], [1, 2, 4_000_000_000]])
def test_repeats_refused_by_both_lookups(times):
    """Whole times in a small range are looked up in a table, others by a sorted search:
    both find the same earlier rows and name the same repeated rows."""
    d = pd.DataFrame({"patient": ["a", "b", "a", "a", "b"],
                      "session": [times[0], times[0], times[1], times[2], times[1]],
                      "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    got = lag(d, "x", lag=1)["x_lag1"].tolist()
    want = [np.nan, np.nan, 1.0, 3.0 if times[2] - times[1] == 1 else np.nan, 2.0]
    assert [None if np.isnan(v) else v for v in got] == [None if np.isnan(v) else v for v in want]
    d.loc[3, "session"] = times[0]  # a's first time twice: rows 1 and 4
    with pytest.raises(DataError, match=r"data rows 1, 4 repeat a patient x session"):
        lag(d, "x")


@pytest.mark.parametrize("seed", range(4))
def test_group_means_equal_pandas_groupby_mean(seed):
    """group_means gives pandas' groupby mean to the last bit: groups in sorted order or
    not, with missing and infinite values or not, one to five columns, a single group."""
    from alliance.data.lags import group_means

    rng = np.random.default_rng(seed)
    for trial in range(200):
        n = int(rng.integers(1, 300))
        n_groups = 1 if trial % 10 == 0 else int(rng.integers(1, max(2, n // int(rng.integers(1, 30)))))
        codes = pd.factorize(rng.integers(0, n_groups, n))[0]
        if trial % 2:  # each group's rows one run, in order (as a patient's sessions)
            codes = pd.factorize(np.sort(codes))[0]
        shape = [(n,), (n, 1), (n, 5)][trial % 3]
        v = rng.normal(size=shape) * 10.0 ** rng.integers(-8, 9, size=shape) + 1e3 * (trial % 5)
        if trial % 4 == 0:
            v[rng.random(shape) < 0.2] = np.nan
        if trial % 9 == 0:
            v.flat[rng.integers(0, v.size)] = np.inf
        frame = pd.Series(v) if v.ndim == 1 else pd.DataFrame(v)
        expected = frame.groupby(codes).mean().to_numpy()
        got = group_means(v, codes)
        assert got.shape == expected.shape
        if trial % 2 == 0:  # unsorted groups: pandas' own route
            assert np.array_equal(got, expected, equal_nan=True), (seed, trial)
        else:  # reduceat, as pandas >= 3.1 sums sorted groups (older pandas: a compensated
            # sum): the same values summed in another order differ by at most n eps sum|v|
            size = np.bincount(codes).reshape((-1,) + (1,) * (v.ndim - 1))
            scale = np.abs(frame).groupby(codes).sum().to_numpy() / size
            tol = 4 * np.finfo(float).eps * n * scale
            with np.errstate(invalid="ignore"):  # an infinite mean: equal, not subtracted
                close = (np.abs(got - expected) <= tol) | (got == expected)
            assert close.all(), (seed, trial)
