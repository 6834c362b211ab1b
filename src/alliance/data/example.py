"""The shipped synthetic data set: writing, checksum and loading.

The frozen draw is package data: ``alliance/data/files/sessions.csv`` with its
SHA-256 checksum in ``sessions.csv.sha256``, installed with the package (a
wheel works outside the repository). Its codebook and provenance are the
repository's ``data/README.md``. :func:`load_example` verifies the checksum
before returning the data, so a changed file is noticed instead of analysed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alliance.data.validate import read_sessions
from alliance.errors import DataError
from alliance.outputs import sha256_file as sha256

__all__ = ["DATA_DIR", "example_path", "load_example", "sha256", "write_sessions"]

#: Folder of the shipped data inside the installed package.
DATA_DIR = Path(__file__).resolve().parent / "files"
EXAMPLE_FILE = "sessions.csv"

_FORMATS = {
    "session": "{:d}",
    "alliance_patient": "{:.4f}",
    "alliance_therapist": "{:.4f}",
    "wellbeing": "{:.1f}",
    "therapist_experience": "{:.1f}",
    "patient_age": "{:.0f}",
    "patient_female": "{:.0f}",
}


def example_path() -> Path:
    """Path of the shipped synthetic data file."""
    return DATA_DIR / EXAMPLE_FILE


def write_sessions(data: pd.DataFrame, path) -> Path:
    """Write session data as CSV with a fixed, byte-reproducible format.

    Missing values are written as empty fields, numbers with a fixed number of
    decimals per column, lines end in ``\\n``.
    """
    path = Path(path)
    cols = list(data.columns)
    lines = [",".join(cols)]
    columns = []
    for c in cols:
        fmt = _FORMATS.get(c)
        values = data[c].to_numpy()
        if fmt is None:
            columns.append(["" if pd.isna(x) else str(x) for x in values])
        else:
            columns.append(["" if (isinstance(x, float) and np.isnan(x)) else
                            fmt.format(int(x) if fmt == "{:d}" else float(x)) for x in values])
    lines += [",".join(row) for row in zip(*columns)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return path


def load_example() -> pd.DataFrame:
    """Load the shipped synthetic trial, verifying its SHA-256 checksum.

    The data are **synthetic**: one seeded draw of :func:`alliance.simulate`
    (see ``data/README.md``), not the trial's clinical data.

    Examples
    --------
    >>> import alliance
    >>> df = alliance.load_example()
    >>> df["patient"].nunique()
    117
    """
    path = example_path()
    sumfile = path.with_name(path.name + ".sha256")
    if not path.is_file() or not sumfile.is_file():
        raise DataError(f"{path}: the shipped data or its checksum file is missing")
    expected = sumfile.read_text().split()[0]
    actual = sha256(path)
    if actual != expected:
        raise DataError(
            f"{path}: SHA-256 {actual} does not match {sumfile.name} ({expected}); the shipped "
            "data were changed. Reinstall the package, or regenerate the file with "
            "`python -m alliance.synthetic.make_data`"
        )
    return read_sessions(path)
