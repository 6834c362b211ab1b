"""Input checks shared by the analysis functions.

Every analysis takes a DataFrame plus column names; these helpers give the
same errors everywhere: the data set's name (``df.attrs["source"]``), the rows
and the rule.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from alliance._errors import DataError
from alliance.io import _rows
from alliance.schema import CONDITIONS

__all__ = ["source_of", "require_columns", "numeric_column", "moderator_levels"]


def source_of(data) -> str:
    """The name a DataFrame was read from (``attrs["source"]``), or ``<DataFrame>``."""
    return data.attrs.get("source", "<DataFrame>") if hasattr(data, "attrs") else "<DataFrame>"


def require_columns(data: pd.DataFrame, cols: Iterable, source: str, model: str) -> None:
    """Raise :class:`DataError` naming every column of ``cols`` that ``data`` lacks."""
    missing = [c for c in cols if c is not None and c not in data.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing} needed by the {model}; the data "
            f"have {list(data.columns)} [rule: required columns present]"
        )


def numeric_column(data: pd.DataFrame, col: str, source: str) -> np.ndarray:
    """A column as floats; non-numeric entries, booleans and infinities are errors."""
    s = data[col]
    if pd.api.types.is_bool_dtype(s):
        raise DataError(f"{source}: column '{col}' holds booleans, not numbers [rule: numeric column]")
    if not pd.api.types.is_numeric_dtype(s):
        parsed = pd.to_numeric(s, errors="coerce")
        bad = s.notna() & parsed.isna()
        if bad.any():
            raise DataError(f"{source}: column '{col}' must be numeric; "
                            f"{_rows(np.flatnonzero(bad.to_numpy()))} are not [rule: numeric column]")
        s = parsed
    out = s.to_numpy(dtype=float)
    if np.isinf(out).any():
        raise DataError(f"{source}: column '{col}' is infinite in "
                        f"{_rows(np.flatnonzero(np.isinf(out)))} [rule: finite values]")
    return out


def moderator_levels(values: pd.Series, moderator: str, source: str,
                     what: str = "an effect") -> list[str]:
    """Levels of a categorical moderator, reference first (``control`` for the arms)."""
    present = [str(v) for v in pd.unique(values.astype(str))]
    if set(present) <= set(CONDITIONS):
        levels = [c for c in CONDITIONS if c in present]
    else:
        levels = sorted(present)
    if len(levels) < 2:
        raise DataError(
            f"{source}: the moderator '{moderator}' has a single level {levels} among the analysed "
            f"rows; {what} cannot differ between levels. Fit with moderator=None "
            "[rule: moderator has at least two levels]"
        )
    return levels
