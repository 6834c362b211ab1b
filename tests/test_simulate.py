"""The generative model and the shipped synthetic data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance.data.example import example_path, sha256, write_sessions
from alliance.synthetic import (
    EXAMPLE_SEED,
    SimulationParams,
    describe_parameters,
    make_data,
    simulate,
)


def test_design_matches_the_trial():
    df = simulate(seed=3)
    per_ther = df.groupby("therapist")["patient"].nunique()
    assert df["therapist"].nunique() == 40 and df["patient"].nunique() == 117
    assert per_ther.min() >= 1 and per_ther.max() <= 6
    assert per_ther.nunique() > 2, "caseloads are uneven"
    assert (df.groupby("condition")["therapist"].nunique() == 20).all(), "1:1 allocation"
    assert (df.groupby("therapist")["condition"].nunique() == 1).all()
    assert df["session"].between(1, 6).all()


def test_output_passes_validation():
    df = simulate(seed=5)
    pd.testing.assert_frame_equal(alliance.read_sessions(df), df, check_dtype=False)


def test_missingness_is_realistic():
    df = simulate(seed=11)
    last = df.groupby("patient")["session"].max()
    assert 0 < (last < 6).mean() < 0.4, "some, not most, patients drop out early"
    for col in ("alliance_patient", "alliance_therapist", "wellbeing"):
        assert 0 < df[col].isna().mean() < 0.15
    # sessions after dropout are absent, attended sessions are consecutive
    assert (df.groupby("patient")["session"].agg(lambda s: s.tolist() == list(range(1, len(s) + 1)))).all()


def test_same_seed_same_data_other_seed_other_data():
    pd.testing.assert_frame_equal(simulate(seed=9), simulate(seed=9))
    assert not simulate(seed=9).equals(simulate(seed=10))


def test_no_global_random_state_used():
    before = np.random.get_state()[1].copy()
    simulate(seed=1)
    assert np.array_equal(np.random.get_state()[1], before), "simulate drew from NumPy's global state"


def test_regenerating_reproduces_the_shipped_files_byte_for_byte(tmp_path):
    made = make_data.build(tmp_path)
    shipped = {"data": example_path().parent, "checksum": example_path().parent,
               "readme": make_data.README_DIR}
    for kind, path in made.items():
        assert path.read_bytes() == (shipped[kind] / path.name).read_bytes(), path.name


def test_load_example_verifies_checksum(tmp_path, monkeypatch):
    df = alliance.load_example()
    assert df["patient"].nunique() == 117
    # a tampered copy is refused
    bad_dir = tmp_path / "data"
    bad_dir.mkdir()
    text = example_path().read_text().replace("T01,", "T41,", 1)
    (bad_dir / "sessions.csv").write_text(text)
    (bad_dir / "sessions.csv.sha256").write_text(
        example_path().with_name("sessions.csv.sha256").read_text())
    monkeypatch.setattr(alliance.data.example, "DATA_DIR", bad_dir)
    with pytest.raises(alliance.DataError, match="does not match"):
        alliance.load_example()


def test_checksum_file_matches_data():
    recorded = example_path().with_name("sessions.csv.sha256").read_text().split()[0]
    assert recorded == sha256(example_path())


def test_every_parameter_documents_value_and_source():
    table = describe_parameters()
    assert len(table) == len(dataclasses.fields(SimulationParams))
    assert table["meaning"].str.len().gt(3).all()
    assert table["source"].str.match(r"^(published|assumption)").all()
    readme = (make_data.README_DIR / "README.md").read_text()
    for name in table["parameter"]:
        assert f"`{name}`" in readme
    assert str(EXAMPLE_SEED) in readme and sha256(example_path()) in readme


def test_write_then_read_round_trip(tmp_path):
    df = simulate(seed=2)
    path = write_sessions(df, tmp_path / "s.csv")
    back = alliance.read_sessions(path)
    pd.testing.assert_frame_equal(back, df, check_dtype=False)


def test_parameters_are_validated():
    with pytest.raises(ValueError):
        SimulationParams(n_therapists=10, n_patients=117)


def test_encoded_truth():
    t = SimulationParams().truth()
    assert t["a1"] > 0 and t["a4"] < 0 and t["a3"] == 0
    assert t["growth_difference_patient"] == 0 and t["growth_difference_therapist"] > 0
    assert t["tracking_difference"] > 0


def test_allocation_is_reproducible_and_balanced():
    units = [f"T{i}" for i in range(10)]
    a = alliance.allocate(units, seed=4, block_size=4)
    b = alliance.allocate(units, seed=4, block_size=4)
    pd.testing.assert_frame_equal(a, b)
    for _, block in a.groupby("block"):
        if len(block) % 2 == 0:
            assert (block["condition"] == "training").sum() == len(block) // 2
