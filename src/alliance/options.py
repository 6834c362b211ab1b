"""The one check of every common argument, shared by the functions and the command line.

Each public function checks its arguments at its door with these helpers, and
the command line checks its options with the same helpers (under the option's
own name), so a value that cannot be used gives the same one-line message
either way::

    alpha must be a number between 0 and 0.5 (exclusive); got 2
    --alpha must be a number between 0 and 0.5 (exclusive); got 2   (alliance power --alpha 2)

A value of the wrong type (text, a boolean, a list) raises
:class:`~alliance.errors.OptionTypeError` (a ``TypeError``); a value of the right
type outside its range (NaN, infinity, a negative seed, a level of 1.5, a number
of draws that cannot fit in memory) raises :class:`~alliance.errors.OptionError`
(a ``ValueError``). The command line turns both into exit code 2.

This is a base-layer module: it imports nothing from the package but the errors.

Examples
--------
>>> from alliance.options import check_alpha, check_seed
>>> check_alpha(0.05)
0.05
>>> try:
...     check_seed(-1)
... except ValueError as exc:
...     print(exc)
seed must be a whole number >= 0 (the entropy of numpy's SeedSequence; a negative seed is refused, not folded onto a positive one); got -1
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Mapping

from alliance.errors import OptionError, OptionTypeError

__all__ = [
    "DF_METHODS",
    "DF_SPELLINGS",
    "MAX_DRAWS",
    "MAX_JOBS",
    "METHODS",
    "as_list",
    "available_memory",
    "check_alpha",
    "check_columns_mapping",
    "check_conf_level",
    "check_count",
    "check_df",
    "check_finite",
    "check_jobs",
    "check_memory",
    "check_method",
    "check_number",
    "check_seed",
    "check_within_data",
]

#: The most draws one Monte Carlo study (or one design point of it) may ask for.
MAX_DRAWS = 1_000_000
#: The most local worker processes a command may start.
MAX_JOBS = 256

#: The criteria of every mixed model (``method=``; any capitalisation, ``--method`` on the
#: command line): restricted or full maximum likelihood.
METHODS = ("REML", "ML")

#: How every analysis tests its fixed effects and contrasts (``df=``, ``--df``): t tests with
#: Satterthwaite's or Kenward-Roger's degrees of freedom (Kenward-Roger needs REML), or Wald z.
DF_METHODS = ("satterthwaite", "kenward-roger", "z")

#: Accepted spellings of the ``df=`` methods -> the method.
DF_SPELLINGS = {
    "satterthwaite": "satterthwaite",
    "kenward-roger": "kenward-roger",
    "kr": "kenward-roger",
    "kenward_roger": "kenward-roger",
    "z": "z",
    "wald": "z",
    "none": "z",
}


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:55] + "...'"


def _type_name(value) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return "a boolean"
    return f"a {type(value).__name__}"


def check_number(value, name: str, *, low=None, high=None, low_open: bool = False,
                 high_open: bool = False, integer: bool = False, rule: str | None = None):
    """``value`` as a float (or int with ``integer``), finite and within [low, high].

    ``rule`` is the allowed range in words (default: built from the bounds). A
    value of another type raises :class:`OptionTypeError`, one outside the range
    (NaN and infinities included) :class:`OptionError`; both say
    ``<name> must be <rule>; got <value>``.

    Examples
    --------
    >>> check_number(3, "sessions", low=2, integer=True)
    3
    >>> try:
    ...     check_number(float("nan"), "effect", low=-10, high=10)
    ... except ValueError as exc:
    ...     print(exc)
    effect must be a number from -10 to 10; got nan
    """
    if rule is None:
        what = "a whole number" if integer else "a number"
        if low is not None and high is not None:
            if low_open or high_open:
                rule = f"{what} between {low:g} and {high:g} (exclusive)"
            else:
                rule = f"{what} from {low:g} to {high:g}"
        elif low is not None:
            rule = f"{what} {'>' if low_open else '>='} {low:g}"
        elif high is not None:
            rule = f"{what} {'<' if high_open else '<='} {high:g}"
        else:
            rule = f"a finite {what[2:]}"
    bad_type = (isinstance(value, bool) or type(value).__name__ == "bool_"
                or not isinstance(value, numbers.Real))
    if not bad_type and integer and not isinstance(value, numbers.Integral):
        bad_type = True
    if bad_type:
        raise OptionTypeError(f"{name} must be {rule}; got {_shown(value)} ({_type_name(value)})")
    out = int(value) if integer else float(value)
    f = float(out) if not integer else None
    if f is not None and not math.isfinite(f):
        raise OptionError(f"{name} must be {rule}; got {_shown(value)}")
    if low is not None and (out < low or (low_open and out == low)):
        raise OptionError(f"{name} must be {rule}; got {_shown(value)}")
    if high is not None and (out > high or (high_open and out == high)):
        raise OptionError(f"{name} must be {rule}; got {_shown(value)}")
    return out


def check_alpha(alpha, name: str = "alpha") -> float:
    """A significance level: a number between 0 and 0.5, both excluded.

    0.5 is the bound because an equivalence test at level ``alpha`` uses the
    ``1 - 2 alpha`` confidence interval, and no test is meant at a level of one half.
    """
    return check_number(alpha, name, low=0, high=0.5, low_open=True, high_open=True,
                        rule="a number between 0 and 0.5 (exclusive)")


def check_conf_level(level, name: str = "conf_level") -> float:
    """A confidence level: a number between 0 and 1, both excluded (e.g. 0.95)."""
    return check_number(level, name, low=0, high=1, low_open=True, high_open=True,
                        rule="between 0 and 1 (exclusive), e.g. 0.95")


def check_method(method, name: str = "method") -> str:
    """A mixed model's criterion: ``"REML"`` or ``"ML"`` in any capitalisation (returned upper).

    Examples
    --------
    >>> check_method("reml")
    'REML'
    """
    if not isinstance(method, str):
        raise OptionTypeError(f"{name} must be 'REML' or 'ML'; got {_shown(method)} "
                              f"({_type_name(method)})")
    out = method.strip().upper()
    if out not in METHODS:
        raise OptionError(f"{name} must be 'REML' or 'ML'; got {method!r}")
    return out


def check_df(df, name: str = "df", *, method: str | None = None) -> str:
    """How fixed effects are tested: ``"satterthwaite"``, ``"kenward-roger"`` or ``"z"``.

    Other spellings of :data:`DF_SPELLINGS` are accepted. With ``method``, Kenward-Roger
    on an ML fit is refused (it is defined for REML fits, as in pbkrtest and lmerTest).

    Examples
    --------
    >>> check_df("KR", method="REML")
    'kenward-roger'
    """
    if not isinstance(df, str):
        raise OptionTypeError(f"{name} must be 'satterthwaite', 'kenward-roger' or 'z'; got "
                              f"{_shown(df)} ({_type_name(df)})")
    key = df.strip().lower().replace(" ", "-")
    if key not in DF_SPELLINGS:
        raise OptionError(f"{name} must be 'satterthwaite', 'kenward-roger' or 'z'; got {df!r}")
    out = DF_SPELLINGS[key]
    if out == "kenward-roger" and method is not None and check_method(method) != "REML":
        raise OptionError(f"{name} 'kenward-roger' needs a REML fit (method 'REML'), as in "
                          "pbkrtest and lmerTest; refit with method='REML' or use "
                          "df='satterthwaite'")
    return out


def check_seed(seed, name: str = "seed", *, generator: bool = False):
    """A seed: a whole number >= 0 (or, with ``generator``, a ``numpy.random.Generator``).

    NumPy's ``SeedSequence`` takes non-negative entropy only; a negative seed is
    refused rather than silently mapped onto another seed.
    """
    if generator and type(seed).__name__ == "Generator" and hasattr(seed, "bit_generator"):
        return seed
    return check_number(seed, name, low=0, integer=True,
                        rule="a whole number >= 0 (the entropy of numpy's SeedSequence; a "
                             "negative seed is refused, not folded onto a positive one)")


def check_count(n, name: str, *, low: int = 1, high: int | None = None,
                why: str = "") -> int:
    """A whole number of things (draws, bootstrap samples, sessions) from ``low`` to ``high``."""
    rule = (f"a whole number from {low:,} to {high:,}{why}" if high is not None
            else f"a whole number >= {low:,}{why}")
    return check_number(n, name, low=low, high=high, integer=True, rule=rule)


def check_jobs(jobs, name: str = "jobs") -> int:
    """Local worker processes: a whole number from 1 to :data:`MAX_JOBS`."""
    return check_count(jobs, name, low=1, high=MAX_JOBS)


def check_finite(value, name: str) -> float:
    """Any finite number."""
    return check_number(value, name, rule="a finite number")


def check_within_data(values, observed: Iterable[float], name: str, what: str) -> list[float]:
    """Values picked on a variable of the data (``at``, a centre): finite and near the data.

    Allowed: the observed range of ``what`` widened by its own width on each side
    (a value further out is an extrapolation the data cannot support, and a value
    such as 1e308 overflows the model's products). Returns the values as floats.
    """
    obs = [float(v) for v in observed if v is not None and math.isfinite(float(v))]
    vals = (list(values) if isinstance(values, (list, tuple)) or hasattr(values, "__array__")
            else [values])
    out = [check_finite(v, name) for v in vals]
    if not obs:
        return out
    lo, hi = min(obs), max(obs)
    width = hi - lo if hi > lo else max(abs(lo), 1.0)
    low, high = lo - width, hi + width
    bad = [v for v in out if not low <= v <= high]
    if bad:
        raise OptionError(
            f"{name} must lie within the observed range of {what} ({lo:g} to {hi:g}) widened by its "
            f"width on each side, i.e. from {low:g} to {high:g} (further out is an extrapolation "
            f"the data cannot support); got {', '.join(f'{v:g}' for v in bad)}")
    return out


def check_columns_mapping(columns, name: str = "columns") -> dict | None:
    """``columns=``: ``None`` or a mapping ``{canonical: yours}`` of text to text."""
    if columns is None:
        return None
    if not isinstance(columns, Mapping):
        raise OptionTypeError(
            f"{name} must be a mapping {{canonical: yours}} such as {{'patient': 'client_id'}}; "
            f"got {_shown(columns)} ({_type_name(columns)})")
    bad = [(k, v) for k, v in columns.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise OptionTypeError(f"{name} must map column names (text) onto column names (text); "
                              f"got {_shown(bad[0])}")
    return dict(columns)


def available_memory() -> int | None:
    """Bytes of memory available to new work on this machine (None if it cannot be told)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(needed: float, name: str, what: str, available: int | None = None) -> None:
    """Refuse work estimated to need more memory than the machine has available.

    ``needed`` is the estimate in bytes; the message names the option and the
    estimate (``therapists ...: a trial of 3e+09 rows needs about 24,000 GB ...``).
    """
    avail = available_memory() if available is None else available
    if avail is None or needed <= avail:
        return
    raise OptionError(f"{name}: {what} needs about {needed / 1e9:,.1f} GB of memory, more than the "
                      f"{avail / 1e9:,.1f} GB available on this machine; choose a smaller design")


def as_list(values) -> list:
    """A scalar or an iterable of values as a list (strings are scalars)."""
    if values is None:
        return []
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        return [values]
    return list(values)

