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


class OptionError(AllianceError, ValueError):
    """An argument (CLI: an option) whose value the function cannot use.

    The message names the argument, states the allowed values or range and
    repeats the value given (``alpha must be a number between 0 and 0.5
    (exclusive); got 2``). The command line turns it into one line and exit
    code 2, naming the option (``--alpha``) instead of the argument.
    """


class OptionTypeError(AllianceError, TypeError):
    """An argument of the wrong type (``conf_level="0.9"``); the message is as for
    :class:`OptionError`."""
