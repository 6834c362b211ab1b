"""The simulation runner: draws reproducible one by one, whatever runs them; resumable; failures kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance.draws import draw_rng, read_store, run_draws
from alliance.outputs import OutputError

CALLS: list[int] = []  # draws computed by _draw in this process


def _draw(draw, rng, scale=1.0):
    CALLS.append(draw)
    if draw == 7:
        raise ValueError("draw 7 fails on purpose")
    return {"x": float(rng.normal()) * scale, "n": int(rng.integers(0, 100))}


def test_a_draw_is_the_same_whatever_runs_it():
    serial = run_draws(_draw, 40, seed=11, chunk_size=6)
    pooled = run_draws(_draw, 40, seed=11, jobs=2, chunk_size=4)
    cols = ["draw", "x", "n", "error"]
    pd.testing.assert_frame_equal(serial[cols], pooled[cols])
    subset = run_draws(_draw, 40, seed=11, draws=[3, 30, 12])
    pd.testing.assert_frame_equal(subset[cols], serial.iloc[[3, 12, 30]][cols].reset_index(drop=True),
                                  check_dtype=False)
    assert list(serial["draw"]) == list(range(40))
    # draw i's generator is the i-th child of SeedSequence(seed).spawn(n)
    child = np.random.default_rng(np.random.SeedSequence(11).spawn(40)[5])
    assert draw_rng(11, 5).normal() == child.normal()


def test_failures_are_recorded_not_hidden():
    out = run_draws(_draw, 10, seed=1)
    assert out.loc[7, "error"] == "ValueError: draw 7 fails on purpose"
    assert np.isnan(out.loc[7, "x"]) and (out.drop(index=7)["error"] == "").all()


def test_a_killed_run_resumes_without_losing_or_repeating(tmp_path, monkeypatch):
    full = run_draws(_draw, 30, seed=3, chunk_size=5)
    store = tmp_path / "store"
    run_draws(_draw, 30, seed=3, chunk_size=5, store=store, draws=range(12))  # "killed" early
    assert len(list(store.glob("chunk-*.csv"))) == 3  # draws 0-4, 5-9, 10-11
    CALLS.clear()
    resumed = run_draws(_draw, 30, seed=3, chunk_size=5, store=store)
    calls = list(CALLS)
    both = read_store(store)
    pd.testing.assert_frame_equal(resumed[["draw", "x", "n"]], both[["draw", "x", "n"]])
    assert list(both["draw"]) == list(range(30))
    pd.testing.assert_frame_equal(both[["draw", "x", "n"]], full[["draw", "x", "n"]],
                                  check_dtype=False)
    assert sorted(calls) == list(range(12, 30)) and len(calls) == len(set(calls))


def test_a_store_never_mixes_the_draws_of_two_studies(tmp_path):
    store = tmp_path / "store"
    run_draws(_draw, 10, seed=3, chunk_size=5, store=store)
    before = sorted((p.name, p.read_bytes()) for p in store.iterdir())
    for kwargs in ({"seed": 4}, {"seed": 3, "kwargs": {"scale": 2.0}}):
        with pytest.raises(OutputError, match="another study") as err:
            run_draws(_draw, 20, chunk_size=5, store=store, **kwargs)
        assert str(store) in str(err.value)
    with pytest.raises(OutputError, match="function"):
        run_draws(_other, 20, seed=3, store=store)
    assert sorted((p.name, p.read_bytes()) for p in store.iterdir()) == before, "left as it was"
    # the same study extends its store; a store without its record is refused
    assert len(run_draws(_draw, 20, seed=3, chunk_size=5, store=store)) == 20
    (store / "study.json").unlink()
    with pytest.raises(OutputError, match="no study.json"):
        run_draws(_draw, 20, seed=3, store=store)


def _other(draw, rng):
    return {"x": 0.0}
