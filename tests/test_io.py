"""The data model: one test per validation rule, each with a small bad file.

The bad files live in tests/data/bad/ (each differs from tests/data/valid_small.csv
in one place) so that `alliance validate` can be tried on them by hand.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance import DataError, read_sessions, read_table
from alliance.data.schema import CANONICAL_COLUMNS

DATA = Path(__file__).parent / "data"
BAD = DATA / "bad"

# (file, rule named in the message, a further fragment the message must contain)
CASES = [
    ("missing_column.csv", "required columns present", "'wellbeing'"),
    ("mistyped_rating.csv", "numeric column", "data row 3 (file line 4)"),
    ("out_of_range.csv", "alliance_patient within 1-5", "data row 4 (file line 5)"),
    ("duplicate_session.csv", "one row per patient x session", "data rows 2, 8"),
    ("patient_two_therapists.csv", "each patient has one therapist", "'P2'"),
    ("therapist_both_arms.csv", "each therapist is in one arm", "'T1'"),
    ("noninteger_session.csv", "session is a positive integer", "'2.5'"),
    ("nonpositive_session.csv", "session is a positive integer", "'0'"),
    ("empty.csv", "empty file", "the file is empty"),
    ("header_only.csv", "empty file", "no data rows"),
    ("undecodable.csv", "file is UTF-8 text", "UTF-8"),
    ("unsafe_column_name.csv", "column names are safe identifiers", "'drop table; x'"),
    ("unknown_condition.csv", "condition is 'training' or 'control'", "'waitlist'"),
    ("missing_id.csv", "identifiers present", "column 'patient'"),
]


@pytest.mark.parametrize(("name", "rule", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_raises_one_clear_error(name, rule, fragment):
    path = BAD / name
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(DataError) as info:
        read_sessions(path)
    msg = str(info.value)
    assert msg.startswith(str(path)), "the message names the file first"
    assert f"[rule: {rule}]" in msg
    assert fragment in msg
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "input never modified"


def test_valid_small_file_reads_with_canonical_types():
    df = read_sessions(DATA / "valid_small.csv")
    assert list(df.columns) == list(CANONICAL_COLUMNS)
    assert df["session"].dtype == np.int64
    assert df["alliance_therapist"].isna().sum() == 1  # the empty field stays missing
    assert df["wellbeing"].isna().sum() == 1
    assert len(df) == 7  # nothing dropped
    assert df.attrs["source"].endswith("valid_small.csv")


def test_user_column_names_are_mapped(tmp_path):
    src = pd.read_csv(DATA / "valid_small.csv").rename(
        columns={"patient": "client_id", "alliance_patient": "wai_client"})
    path = tmp_path / "mine.csv"
    src.to_csv(path, index=False)
    df = read_sessions(path, columns={"patient": "client_id", "alliance_patient": "wai_client"})
    assert list(df.columns[:7]) == list(CANONICAL_COLUMNS)
    assert "client_id" not in df.columns
    with pytest.raises(DataError, match=r"missing column\(s\) 'patient'"):
        read_sessions(path)


def test_mapping_onto_an_existing_column_is_refused(tmp_path):
    src = pd.read_csv(DATA / "valid_small.csv")
    src["wai"] = src["alliance_patient"]
    path = tmp_path / "both.csv"
    src.to_csv(path, index=False)
    with pytest.raises(DataError, match="no overwritten columns"):
        read_sessions(path, columns={"alliance_patient": "wai"})


def test_unknown_canonical_name_in_mapping():
    with pytest.raises(ValueError, match="unknown canonical"):
        read_sessions(DATA / "valid_small.csv", columns={"alliance": "x"})


def test_dataframe_input_is_copied_not_modified():
    src = pd.read_csv(DATA / "valid_small.csv")
    snapshot = src.copy(deep=True)
    out = read_sessions(src)
    out.loc[0, "alliance_patient"] = 1.0
    pd.testing.assert_frame_equal(src, snapshot)


def test_numbers_are_never_coerced_silently(tmp_path):
    text = (DATA / "valid_small.csv").read_text().replace("20.5", "20,5")
    path = tmp_path / "comma.csv"
    path.write_text(text)
    with pytest.raises(DataError):  # a decimal comma shifts the fields: refused, not guessed
        read_sessions(path)


def test_covariates_are_carried_through():
    df = alliance.load_example()
    assert {"therapist_experience", "patient_age", "patient_female"} <= set(df.columns)
    assert df["patient_age"].dtype == float


def test_read_table_rules(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("g,x,y\n1,0.5,1\n1,abc,2\n")
    with pytest.raises(DataError, match="column 'x' must be numeric; data row 2"):
        read_table(path, numeric=["x", "y"])
    with pytest.raises(DataError, match="missing column"):
        read_table(path, numeric=["z"])
    ok = read_table(DATA / "valid_small.csv", numeric=["alliance_patient"], required=["patient"])
    assert ok["alliance_patient"].dtype == float
