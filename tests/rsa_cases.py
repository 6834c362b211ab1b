"""The RSA package's example data sets as the RSA tests read and fit them (shared, cached).

Imported by tests/test_rsa_family.py and tests/test_rsa_lrt.py: one list of cases
(file, outcome, x, y, fit_rsa options) and one cache of fits, so that the two
reference comparisons fit the same models the same way.
"""

from __future__ import annotations

from pathlib import Path

import alliance
from alliance.rsa import fit_rsa

HERE = Path(__file__).parent
DATA = HERE / "data"
REF = HERE / "reference"

CASES = {
    "motcon": ("rsa_motcon.csv", "postVA", "ePow", "iPow", {"center": "none"}),
    "motcon2": ("rsa_motcon2.csv", "VA", "EM", "IM", {"center": "none"}),
    "selfother": ("rsa_selfother.csv", "liking", "IQ_self", "IQ_friend",
                  {"center": "pooled", "covariates": ["age", "int"]}),
}

_FITS: dict = {}


def load(name):
    """(data, outcome, x, y, options) of a case, every model column read as a number."""
    file, z, x, y, kw = CASES[name]
    cols = [z, x, y, *kw.get("covariates", [])]
    return alliance.read_table(DATA / file, numeric=cols), z, x, y, kw


def fit(name, family="default", se="hc0"):
    """``fit_rsa`` of a case with a model family and SE type, fitted once per session."""
    key = (name, family, se)
    if key not in _FITS:
        data, z, x, y, kw = load(name)
        _FITS[key] = fit_rsa(data, z, x, y, se=se, family=family, **kw)
    return _FITS[key]
