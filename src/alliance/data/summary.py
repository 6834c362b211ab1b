"""Sample structure, descriptive tables and missingness of session data.

These are the numbers of chapter 1: how many therapists and patients each arm
has, how patients spread over therapists, means by arm x session x rater, and
which ratings are missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.data.schema import CONDITIONS, RATING_COLUMNS

__all__ = [
    "attendance",
    "caseloads",
    "descriptives",
    "long_ratings",
    "missingness",
    "sample_structure",
    "validation_summary",
]


def validation_summary(data: pd.DataFrame) -> dict:
    """A short description of a validated data set (what ``alliance validate`` prints)."""
    rated = {c: int(data[c].notna().sum()) for c in RATING_COLUMNS}
    return {
        "rows": len(data),
        "therapists": int(data["therapist"].nunique()),
        "patients": int(data["patient"].nunique()),
        "therapists_per_arm": {k: int(v) for k, v in
                               data.groupby("condition")["therapist"].nunique().items()},
        "patients_per_arm": {k: int(v) for k, v in
                             data.groupby("condition")["patient"].nunique().items()},
        "sessions": [int(s) for s in sorted(data["session"].unique())],
        "ratings_present": rated,
        "extra_columns": [c for c in data.columns if c not in
                          ("therapist", "patient", "condition", "session", *RATING_COLUMNS)],
        "notes": list(data.attrs.get("source_notes", ())),
    }


def sample_structure(data: pd.DataFrame) -> pd.DataFrame:
    """Therapists, patients and rows per arm, with patients per therapist.

    Returns
    -------
    pandas.DataFrame
        One row per arm plus ``total``: ``therapists``, ``patients``, ``rows``,
        ``patients_per_therapist_mean``, ``..._min``, ``..._max``.
    """
    def one(d: pd.DataFrame) -> dict:
        per = d.groupby("therapist")["patient"].nunique()
        return {
            "therapists": int(d["therapist"].nunique()),
            "patients": int(d["patient"].nunique()),
            "rows": len(d),
            "patients_per_therapist_mean": float(per.mean()),
            "patients_per_therapist_min": int(per.min()),
            "patients_per_therapist_max": int(per.max()),
        }

    rows = {arm: one(data[data["condition"] == arm]) for arm in CONDITIONS
            if (data["condition"] == arm).any()}
    rows["total"] = one(data)
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "condition"
    return out.reset_index()


def caseloads(data: pd.DataFrame) -> pd.DataFrame:
    """How many therapists treated 1, 2, ... patients, by arm (wide table)."""
    per = data.groupby(["condition", "therapist"])["patient"].nunique().rename("patients")
    table = per.reset_index().groupby(["patients", "condition"]).size().unstack(fill_value=0)
    table.columns.name = None
    return table.reset_index()


def long_ratings(data: pd.DataFrame, columns=RATING_COLUMNS) -> pd.DataFrame:
    """Stack the rating columns: one row per patient x session x measure."""
    keep = ["therapist", "patient", "condition", "session"]
    out = data.melt(id_vars=keep, value_vars=list(columns), var_name="measure", value_name="score")
    return out


def descriptives(data: pd.DataFrame) -> pd.DataFrame:
    """Mean, SD and number of ratings by measure x arm x session.

    Returns
    -------
    pandas.DataFrame
        Columns ``measure``, ``condition``, ``session``, ``n``, ``mean``, ``sd``.
    """
    long = long_ratings(data).dropna(subset=["score"])
    out = (long.groupby(["measure", "condition", "session"])["score"]
           .agg(n="count", mean="mean", sd="std").reset_index())
    out["measure"] = pd.Categorical(out["measure"], categories=list(RATING_COLUMNS), ordered=True)
    return out.sort_values(["measure", "condition", "session"]).reset_index(drop=True)


def attendance(data: pd.DataFrame) -> pd.DataFrame:
    """Patients still attending at each session, by arm (dropout curve)."""
    table = data.groupby(["session", "condition"])["patient"].nunique().unstack(fill_value=0)
    table.columns.name = None
    return table.reset_index()


def missingness(data: pd.DataFrame) -> pd.DataFrame:
    """Missing ratings among attended sessions, and sessions lost to dropout.

    Returns
    -------
    pandas.DataFrame
        One row per measure x arm: ``attended`` (rows), ``missing`` (NaN
        ratings among them), ``missing_share``, ``absent_sessions`` (patient x
        session cells with no row, counting sessions 1..max per patient).
    """
    n_sessions = int(data["session"].max())
    rows = []
    for arm, d in data.groupby("condition"):
        expected = d["patient"].nunique() * n_sessions
        for col in RATING_COLUMNS:
            miss = int(d[col].isna().sum())
            rows.append({
                "measure": col, "condition": arm, "attended": len(d), "missing": miss,
                "missing_share": miss / len(d) if len(d) else np.nan,
                "absent_sessions": int(expected - len(d)),
            })
    return pd.DataFrame(rows)


