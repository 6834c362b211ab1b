"""Percentile bootstrap of response surfaces (alliance.rsa.bootstrap) on the project's runner.

Evidence: reproducibility (same seed, any number of processes: the runner's per-draw SeedSequence);
the resampling invariants (cluster bootstrap: whole outermost units, strata of a binary moderator
kept, duplicated units relabelled); agreement of the bootstrap SD with the HC0 standard error on a
large single-level sample, where both estimate the same sampling SD (to 15%: 300 draws give the SD
to about +-4%, and HC0 is itself an estimate); and the command line.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance import cli
from alliance.rsa import bootstrap_rsa, fit_rsa
from alliance.rsa.bootstrap import _resample

# Issue 15: fit_rsa flags stationary points far outside the data with huge SEs (motcon,
# constructed ridges) with an AllianceWarning; tests/test_reliability.py tests the flag.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*stationary point lies far outside the data:alliance.errors.AllianceWarning")


def single(n=1500, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    y = 0.5 * x + rng.normal(0, 0.9, n)
    z = 0.3 * x + 0.2 * y - 0.3 * x * x + 0.4 * x * y - 0.2 * y * y + rng.normal(0, 1 + 0.3 * np.abs(x), n)
    return pd.DataFrame({"x": x, "y": y, "z": z, "g": rng.integers(0, 2, n)})


def test_reproducible_and_independent_of_processes():
    res = fit_rsa(single(n=300), "z", "x", "y", family=None)
    a = bootstrap_rsa(res, 30, seed=11)
    b = bootstrap_rsa(res, 30, seed=11, jobs=2)
    pd.testing.assert_frame_equal(a.tables["bootstrap"], b.tables["bootstrap"])
    c = bootstrap_rsa(res, 30, seed=12)
    assert not np.allclose(a.tables["bootstrap"]["ci_low"], c.tables["bootstrap"]["ci_low"], equal_nan=True)
    t = a.tables["bootstrap"].set_index("term")
    assert list(a.tables["bootstrap"].columns[:8]) == ["term", "estimate", "se", "statistic", "df",
                                                      "p", "ci_low", "ci_high"]
    # the estimates are the original fit's
    s = res.tables["surface"].set_index("term")
    np.testing.assert_allclose(t.loc[["a1", "a4", "b0"], "estimate"], s.loc[["a1", "a4", "b0"], "estimate"],
                               rtol=1e-12)
    assert (t["n_boot"] <= 30).all() and a.info["draws_failed"] == 0


def test_bootstrap_sd_agrees_with_hc0_on_a_large_sample():
    res = fit_rsa(single(), "z", "x", "y", family=None, se="hc0")
    boot = bootstrap_rsa(res, 300, seed=5).tables["bootstrap"].set_index("term")
    s = res.tables["surface"].set_index("term")
    for t in ("a1", "a2", "a3", "a4", "a5"):
        assert boot.loc[t, "se"] == pytest.approx(s.loc[t, "se"], rel=0.15), t
        assert boot.loc[t, "ci_low"] < s.loc[t, "estimate"] < boot.loc[t, "ci_high"]


def test_case_resampling_keeps_moderator_levels():
    res = fit_rsa(single(n=200), "z", "x", "y", moderator="g")
    rng = np.random.default_rng(1)
    sample = _resample(res.frame, res.spec, "binary", rng)
    assert sample["mod"].value_counts().sort_index().tolist() == \
        res.frame["mod"].value_counts().sort_index().tolist()
    boot = bootstrap_rsa(res, 10, seed=3)
    assert set(boot.tables["bootstrap"]["level"]) == {"0", "1", "1 - 0"}


def test_cluster_resampling_draws_whole_therapists_within_arms():
    data = alliance.load_example()
    res = fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient",
                  group=["therapist", "patient"], time="session", lag=1, moderator="condition",
                  covariates=["session"])
    f = res.frame
    rng = np.random.default_rng(2)
    s = _resample(f, res.spec, "binary", rng)
    per_arm = f.groupby("mod")["group:therapist"].nunique()
    assert s.groupby("mod")["group:therapist"].nunique().tolist() == per_arm.tolist()
    # each drawn unit is a therapist's complete set of rows, relabelled apart from other copies
    for label, g in s.groupby("group:therapist"):
        orig = label.split("#")[0]
        assert len(g) == int((f["group:therapist"] == orig).sum())
        assert g["group:patient"].str.endswith("#" + label.split("#")[1]).all()
    assert s["group:therapist"].nunique() == f["group:therapist"].nunique()


def test_cli_bootstrap(capsys, tmp_path):
    path = tmp_path / "d.csv"
    single(n=200).to_csv(path, index=False)
    code = cli.main(["fit", "rsa", str(path), "--outcome", "z", "--x", "x", "--y", "y",
                     "--bootstrap", "20", "--seed", "4", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    rec = {r["term"]: r for r in out["bootstrap"]}
    assert {"a1", "X0", "p11", "b0"} <= set(rec)
    assert out["info"]["bootstrap"]["seed"] == 4 and out["info"]["bootstrap"]["n_boot"] == 20


def test_bad_arguments():
    res = fit_rsa(single(n=100), "z", "x", "y", family=None)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_rsa(res, 1, seed=1)
