"""Shortcuts taken for speed give what the general path gives, to the last bit.

:func:`alliance.results.columns_frame` builds a frame from its blocks where
``pd.DataFrame(columns)`` would infer nothing; every other input goes to the constructor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance.results import columns_frame

NAMES = [f"t{i}" for i in range(13)]
RNG = np.random.default_rng(7)


def _same(fast: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert list(fast.columns) == list(ref.columns)
    assert fast.columns.dtype == ref.columns.dtype
    assert type(fast.index) is type(ref.index) and fast.index.equals(ref.index)
    assert fast.index.dtype == ref.index.dtype
    assert fast.dtypes.tolist() == ref.dtypes.tolist()
    pd.testing.assert_frame_equal(fast, ref, check_exact=True)
    assert np.array_equal(pd.util.hash_pandas_object(fast, index=True).to_numpy(),
                          pd.util.hash_pandas_object(ref, index=True).to_numpy())


CASES = {
    "a results table": {"term": NAMES, **{c: RNG.normal(size=13) for c in
                                          ("estimate", "se", "statistic", "df", "p")}},
    "levels as NumPy text": {"level": np.repeat(["control", "training - control"], [6, 7]),
                             "term": NAMES, "estimate": RNG.normal(size=13)},
    "session data": {"patient": pd.array(NAMES, dtype=pd.api.types.pandas_dtype(str)),
                     "session": np.arange(1, 14), "rating": RNG.normal(size=13),
                     "female": np.arange(13) % 2 == 0, "small": np.ones(13, dtype=np.int32),
                     "half": np.ones(13, dtype=np.float32), "strided": RNG.normal(size=26)[::2]},
    "variance components": {"group": ["patient", "therapist", "Residual"],
                            "term1": ["Intercept", "Intercept", None],
                            "term2": [None, None, None], "variance": np.ones(3),
                            "corr": np.full(3, np.nan)},
    # the constructor's own path: inference, alignment, errors
    "objects": {"a": np.array(NAMES, dtype=object), "b": np.ones(13)},
    "a Series": {"a": pd.Series(np.ones(3), index=[2, 1, 0]), "b": [1.0, 2.0, 3.0]},
    "numbers in a list": {"a": [1, 2, 3]},
    "NaN among texts": {"a": ["x", np.nan]},
    "text keys and others": {1: np.ones(2), "b": np.ones(2)},
    "no rows": {"a": np.ones(0), "b": []},
    "a scalar": {"a": 1.0, "b": np.ones(2)},
}


@pytest.mark.parametrize("name", list(CASES))
def test_columns_frame_is_the_constructors_frame(name):
    _same(columns_frame(CASES[name]), pd.DataFrame(CASES[name]))


def test_columns_frame_takes_the_index_as_the_constructor_does():
    columns = CASES["session data"]
    for index in (pd.RangeIndex(13), pd.RangeIndex(100, 113), pd.Index(NAMES[::-1])):
        fast = columns_frame(columns, index=index)
        _same(fast, pd.DataFrame(columns, index=index))
        assert fast.index is index


@pytest.mark.parametrize("columns", [{"a": np.ones(2), "b": np.ones(3)},
                                     {"a": np.ones(2)}], ids=["lengths", "index"])
def test_columns_frame_refuses_what_the_constructor_refuses(columns):
    index = pd.RangeIndex(5) if len(columns) == 1 else None
    with pytest.raises(ValueError) as ref:
        pd.DataFrame(columns, index=index)
    with pytest.raises(ValueError) as fast:
        columns_frame(columns, index=index)
    assert str(fast.value) == str(ref.value)


def test_columns_frame_copies_its_columns():
    values, text = np.arange(3.0), pd.array(["a", "b", "c"], dtype=pd.api.types.pandas_dtype(str))
    out = columns_frame({"x": values, "t": text})
    out.loc[0, "x"] = 9.0
    out.loc[0, "t"] = "z"
    assert values[0] == 0.0 and text[0] == "a"
    other = columns_frame({"x": values, "t": text})
    other.columns.name = "named"
    assert columns_frame({"x": values, "t": text}).columns.name is None
