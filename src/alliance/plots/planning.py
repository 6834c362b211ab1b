"""Figures of chapter 9 (planning the next trial) and of chapter 7's rates: read study results."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from alliance.plots.style import FIG_WIDTH, wrap

__all__ = ["TEST_COLORS", "plot_power_curves", "plot_rates"]

#: One colour per primary test (Okabe-Ito), shared by every power figure.
TEST_COLORS = {
    "g_ther": "#0072B2", "tc_diff": "#009E73", "a1_training": "#D55E00",
    "a1_difference": "#CC79A7", "g_pat": "#999999", "a1_control": "#E69F00",
}

_AXIS_LABELS = {
    "therapists": "therapists randomised (1:1)",
    "caseload": "patients per therapist (mean caseload)",
    "sessions": "sessions rated per patient",
    "effect": "effect size (multiple of the book's training effects)",
}


def plot_power_curves(power: pd.DataFrame, axis: str, tests=("g_ther", "tc_diff", "a1_training",
                                                              "a1_difference"),
                      targets=(0.8, 0.9), ax=None):
    """Power of each test over one design axis, with Clopper-Pearson bands.

    ``power`` is the ``power`` table of a study over ``axis`` (``therapists``,
    ``caseload``, ``sessions`` or ``effect``); dotted lines mark the target powers.
    """
    fig, ax = (plt.subplots(figsize=(FIG_WIDTH, 3.8)) if ax is None else (ax.figure, ax))
    for test in tests:
        d = power[power["test"] == test].sort_values(axis)
        if d.empty:
            continue
        color = TEST_COLORS.get(test)
        ax.plot(d[axis], d["estimate"], "o-", color=color, label=wrap(d["term"].iloc[0], 34))
        ax.fill_between(d[axis], d["ci_low"], d["ci_high"], color=color, alpha=0.15, lw=0)
    for t in targets:
        ax.axhline(t, color="grey", ls=":", lw=1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(wrap(_AXIS_LABELS.get(axis, axis), 30))
    ax.set_ylabel(wrap("power (share of trials, 95% CI)", 18))
    ax.legend(loc="upper left", bbox_to_anchor=(-0.2, -0.25), frameon=False)
    fig.tight_layout()
    return fig


def plot_rates(rates: pd.DataFrame, ax=None):
    """Rates of each finding (rows ``term``) per scenario (column ``scenario``) with their CIs."""
    fig, ax = (plt.subplots(figsize=(FIG_WIDTH, 4.0)) if ax is None else (ax.figure, ax))
    scenarios = list(dict.fromkeys(rates["scenario"]))
    terms = list(dict.fromkeys(rates["term"]))
    width = 0.8 / len(scenarios)
    cmap = plt.get_cmap("tab10")
    for k, s in enumerate(scenarios):
        d = rates[rates["scenario"] == s].set_index("term").reindex(terms)
        x = [i + (k - (len(scenarios) - 1) / 2) * width for i in range(len(terms))]
        ax.errorbar(x, d["estimate"], yerr=[d["estimate"] - d["ci_low"], d["ci_high"] - d["estimate"]],
                    fmt="o", color=cmap(k), capsize=2, ms=4, label=s)
    ax.set_xticks(range(len(terms)))
    ax.set_xticklabels([wrap(t, 12) for t in terms])
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(wrap("share of synthetic trials (95% CI)", 18))
    ax.legend(ncol=1, loc="upper left", bbox_to_anchor=(-0.2, -0.3), frameon=False)
    fig.tight_layout()
    return fig
