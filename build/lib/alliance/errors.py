"""Exceptions and warnings raised by :mod:`alliance`.

Every user-facing check raises one of these classes (never ``assert``), so a
caller can catch exactly the package's own problems.
"""

from __future__ import annotations


class AllianceError(Exception):
    """Base class of every error raised by :mod:`alliance`."""


class DataError(AllianceError, ValueError):
    """An input data set breaks a rule of the data model.

    The message names the file (or ``<DataFrame>``), the offending rows
    (1-based data rows, as a spreadsheet shows them below the header) and the rule.
    """


class FitError(AllianceError, RuntimeError):
    """A model fit is degenerate or did not converge with any optimizer.

    Raised instead of returning numbers that cannot be trusted.
    """


class AllianceWarning(UserWarning):
    """A problem worth knowing that does not invalidate a result.

    Examples: a variance component estimated on the boundary (zero), a fit
    that needed a fallback optimizer, predictors centred variable-wise.
    Recorded in each result's ``warnings`` list as well as emitted.
    """
