"""The data model: canonical columns and the instruments' score ranges.

This module is the single place where the long-format schema (one row per
patient x session) and the assumed instruments' ranges are defined. The
reader (:func:`alliance.read_sessions`), the simulator and the chapters all
take their column names and ranges from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CANONICAL_COLUMNS",
    "COLUMN_DESCRIPTIONS",
    "COLUMN_LABELS",
    "CONDITIONS",
    "ID_COLUMNS",
    "INSTRUMENTS",
    "RATING_COLUMNS",
    "SAFE_NAME",
    "Instrument",
]


@dataclass(frozen=True)
class Instrument:
    """A rating instrument: its name, its scored range and how it is scored.

    Attributes
    ----------
    name : str
        Name of the instrument.
    low, high : float
        Lowest and highest possible score (inclusive).
    scoring : str
        How the score is formed from the items.
    assumed : bool
        True where the study's instrument is not public and this one is an
        assumption (see the book's chapter 1).
    """

    name: str
    low: float
    high: float
    scoring: str
    assumed: bool = True


#: Instruments by canonical rating column. The trial's instruments are not
#: public (STUDY.md); these are plausible choices, labelled as assumptions.
INSTRUMENTS: dict[str, Instrument] = {
    "alliance_patient": Instrument(
        "Working Alliance Inventory, short revised (WAI-SR), patient form",
        1.0, 5.0, "mean of 12 items rated 1-5",
    ),
    "alliance_therapist": Instrument(
        "Working Alliance Inventory, short revised (WAI-SR), therapist form",
        1.0, 5.0, "mean of 12 items rated 1-5",
    ),
    "wellbeing": Instrument(
        "Outcome Rating Scale (ORS)", 0.0, 40.0,
        "sum of four 0-10 visual-analogue items; adult clinical cut-off 25",
    ),
}

#: The two arms of the trial, as spelled in the data.
CONDITIONS: tuple[str, str] = ("control", "training")

ID_COLUMNS: tuple[str, ...] = ("therapist", "patient", "condition", "session")
RATING_COLUMNS: tuple[str, ...] = tuple(INSTRUMENTS)
CANONICAL_COLUMNS: tuple[str, ...] = ID_COLUMNS + RATING_COLUMNS

COLUMN_DESCRIPTIONS: dict[str, str] = {
    "therapist": "therapist id (cluster, unit of randomisation)",
    "patient": "patient id, unique across therapists",
    "condition": "'training' or 'control'; constant within therapist",
    "session": "session number 1, 2, ... (positive integer)",
    "alliance_patient": "patient-rated alliance (item mean)",
    "alliance_therapist": "therapist-rated alliance (item mean, same scale)",
    "wellbeing": "patient well-being (total score)",
}

#: A column name is safe when it starts with a letter or underscore and holds
#: only letters, digits, underscores and dots. Names are never put into
#: formula text, but a strict rule keeps tables, the CLI and R exports sane.
SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


#: Display names of the rating columns (figure axes, tables).
COLUMN_LABELS = {
    "alliance_patient": "patient-rated alliance",
    "alliance_therapist": "therapist-rated alliance",
    "wellbeing": "well-being",
}
