"""Shortcuts taken for speed give what the general path gives, to the last bit.

:func:`alliance.results.columns_frame` builds a frame from its blocks where
``pd.DataFrame(columns)`` would infer nothing; every other input goes to the constructor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance import load_example
from alliance.results import columns_frame

NAMES = [f"t{i}" for i in range(13)]


@pytest.fixture(scope="module")
def example() -> pd.DataFrame:
    return load_example()
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


def _t_both_branches(x, nu, tail: bool) -> np.ndarray:
    """The Student t of :mod:`alliance.results` evaluated on both branches, one picked per
    element (the general path)."""
    from scipy import special

    x, nu = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(nu, dtype=float))
    inf = np.isinf(nu)
    with np.errstate(invalid="ignore"):
        if tail:
            out = np.where(inf, special.ndtr(-x), special.stdtr(np.where(inf, 1.0, nu), -x))
        else:
            out = np.where(inf, special.ndtri(x), special.stdtrit(np.where(inf, 1.0, nu), x))
    return np.where(nu > 0, out, np.nan)


@pytest.mark.parametrize("kind", ["finite", "infinite", "mixed"])
def test_t_distribution_one_branch_is_both_branches(kind):
    from alliance.results import _t_ppf, _t_sf

    rng = np.random.default_rng(3)
    nu = {"finite": rng.uniform(0.5, 80.0, 40), "infinite": np.full(40, np.inf),
          "mixed": np.r_[rng.uniform(0.5, 80.0, 30), np.full(5, np.inf),
                         [0.0, -1.0, np.nan, 1e-9, 3.0]]}[kind]
    x = rng.normal(scale=3.0, size=nu.size)
    x[:2] = [np.nan, np.inf]
    assert np.array_equal(_t_sf(x, nu), _t_both_branches(x, nu, True), equal_nan=True)
    for q in (0.975, np.full(nu.size, 0.9)):
        got = _t_ppf(q, nu)
        assert got.shape == nu.shape
        assert np.array_equal(got, _t_both_branches(q, nu, False), equal_nan=True)


@pytest.mark.parametrize("moderator", [None, "condition", "patient_age"])
def test_contrast_table_is_the_fits_contrast_relabelled(example, moderator):
    """One frame of the labels and the tests: the table of ``fit.contrast`` with the effect's
    label, its level and its combination set in place (the general path)."""
    from alliance.moderation import contrast_table, moderated_contrasts, numeric_moderated_contrasts
    from alliance.truth_bias import FORCES, fit_truth_bias

    res = fit_truth_bias(example, moderator=moderator)
    fit, info = res.fit, res.info
    names = fit.tables["fixed"]["term"]
    if info["moderator_numeric"] is not None:
        num = info["moderator_numeric"]
        L, meta = numeric_moderated_contrasts(FORCES, moderator, num["at"], num["center"], names)
    else:
        L, meta = moderated_contrasts(FORCES, moderator, info["levels"], names)
    ref = fit.contrast(L)
    ref["term"] = [m[0] for m in meta]
    ref.insert(1, "level", [m[1] for m in meta])
    ref["combination"] = [m[2] for m in meta]
    fast = contrast_table(fit, FORCES, moderator, info["levels"], info["moderator_numeric"])
    _same(fast, ref)
    _same(res.tables["estimates"], ref)


@pytest.mark.parametrize("order", ["C", "F"])
def test_triangular_inverse_is_solve_triangular(order):
    from scipy import linalg as sla

    from alliance.mixed.inference import triangular_inverse

    rng = np.random.default_rng(5)
    R = np.linalg.qr(rng.normal(size=(40, 7)) * [1, 1e3, 1e-3, 5, 1, 1, 100])[1]
    R = np.asarray(R, order=order)
    assert np.array_equal(triangular_inverse(R), sla.solve_triangular(R, np.eye(7)))
    singular = R.copy()
    singular[3, 3] = 0.0
    for bad, error in ((singular, np.linalg.LinAlgError), (np.where(R == R[0, 0], np.nan, R),
                                                            ValueError)):
        with pytest.raises(error) as ref:
            sla.solve_triangular(bad, np.eye(7))
        with pytest.raises(error) as fast:
            triangular_inverse(bad)
        assert str(fast.value) == str(ref.value)


def _satterthwaite_sums(inf, L) -> np.ndarray:
    """:meth:`Satterthwaite.df` by its general sums (the path every other ``L`` takes): the
    same method with the identity's shortcut switched off."""
    general = type(inf).__new__(type(inf))
    general.__dict__.update(inf.__dict__)
    general._identity = lambda L: False
    return general.df(L)


@pytest.mark.filterwarnings("ignore::alliance.AllianceWarning")  # a boundary fit: still a fit
@pytest.mark.parametrize("model", ["truth_bias", "rsa", "rsa_within", "growth"])
def test_satterthwaite_df_of_each_coefficient_is_the_general_sum(example, model):
    from alliance.findings import lagged_surface
    from alliance.growth import fit_growth
    from alliance.truth_bias import fit_truth_bias

    fit = {"truth_bias": lambda: fit_truth_bias(example, therapist_effects="intercept"),
           "rsa": lambda: lagged_surface(example),
           "rsa_within": lambda: lagged_surface(example, level2_means=True),
           "growth": lambda: fit_growth(example, "both")}[model]().fit
    inf = fit.inference("satterthwaite")
    p = len(fit._beta)
    for L in (np.eye(p), np.asfortranarray(np.eye(p))):
        assert inf._identity(np.asarray(L))
        assert np.array_equal(inf.df(L), _satterthwaite_sums(inf, L), equal_nan=True)
    L = np.eye(p)
    L[0, 1] = 1.0  # not the identity: the sums themselves
    assert not inf._identity(L)
    assert np.array_equal(inf.df(L), _satterthwaite_sums(inf, L), equal_nan=True)
    assert np.array_equal(fit.tables["fixed"]["df"].to_numpy(), _satterthwaite_sums(inf, np.eye(p)),
                          equal_nan=True)


@pytest.mark.parametrize("names", [NAMES, ("a", "b"), [1, 2, 3], ["a", 1], []],
                         ids=["text", "tuple", "numbers", "mixed", "none"])
def test_labels_index_is_the_index_of_the_labels(names):
    from alliance.results import labels_index

    fast, ref = labels_index(names), pd.Index(list(names))
    assert type(fast) is type(ref) and fast.dtype == ref.dtype and fast.equals(ref)
    assert fast.name is None
    fast.name = "named"  # each caller's own Index
    assert labels_index(names).name is None


@pytest.mark.parametrize("options", [
    {"level2_means": True},  # the five group means: columns of an (n, 5) array
    {},  # the book's surface: one covariate (an integer column)
    {"moderator": None, "level2_means": True, "covariates": ("session", "therapist_experience")},
])
def test_covariate_means_of_the_design_columns_are_those_of_the_design(example, options):
    """The covariate means read off the arrays a design is made of (:func:`design_columns`)
    are those of the design's own columns, to the last bit."""
    from alliance.data.validate import _read_sessions_coded
    from alliance.findings import LAGGED_SURFACE
    from alliance.rsa import rsa_spec
    from alliance.rsa.spec import analysis_frame, design_columns, design_matrix
    from alliance.rsa.surface import covariate_means

    data, codes = _read_sessions_coded(example, None)
    spec = rsa_spec(LAGGED_SURFACE, **options)
    f, info = analysis_frame(data, spec, codes=codes)
    args = (f, spec, info["moderator_kind"], info["moderator_levels"])
    kw = {"codes": info["group_codes"], "columns": info["columns"]}
    cols, mod_term = design_columns(*args, **kw)
    X, mod_term2 = design_matrix(*args, **kw)
    _same(columns_frame(cols), X)
    assert mod_term == mod_term2
    fast, ref = covariate_means(X, mod_term, columns=cols), covariate_means(X, mod_term)
    assert list(fast) == list(ref) and len(ref) >= 1
    assert all(type(fast[c]) is float and fast[c].hex() == ref[c].hex() for c in ref)


@pytest.mark.parametrize("dtype", ["b1", "i1", "i8", "u2", "f2", "f4", "f8", "c16", "O", "U3",
                                   "S2", "M8[ns]", "m8[ns]", "V8", "Int64", "Float64",
                                   "boolean", "category", "str"])
def test_holds_numbers_by_kind_is_pandas_rule(dtype):
    """The surface's door reads a NumPy dtype by its kind: the answer of pandas' rule
    (numeric, not boolean) for every kind; other dtypes go to pandas' rule itself."""
    from alliance.rsa.spec import _holds_numbers

    dt = pd.api.types.pandas_dtype(dtype)
    assert _holds_numbers(dt) == (pd.api.types.is_numeric_dtype(dt)
                                  and not pd.api.types.is_bool_dtype(dt))
