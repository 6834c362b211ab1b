"""Figures of the randomisation chapter: covariate balance and randomisation distributions."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

from alliance.plots.labels import term_label
from alliance.plots.style import ARM_COLORS, FIG_WIDTH, wrap
from alliance.randomise import BalanceResult, PermutationResult

__all__ = ["plot_balance", "plot_permutation"]


def plot_balance(result: BalanceResult, threshold: float = 0.1, labels: Mapping | None = None):
    """Dot plot of the standardised differences of :func:`balance`.

    Dashed lines mark ``±threshold``; marker shape shows the level
    (therapist, patient, baseline). Returns a matplotlib Figure.
    """


    t = result.estimates.iloc[::-1].reset_index(drop=True)
    labels = dict(labels or {})
    names = [wrap(labels.get(r.term, term_label(r.term)), 16) for r in t.itertuples()]
    markers = {"therapist": "s", "patient": "o", "baseline": "D"}
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 0.6 * len(t) + 1.6))
    lim = max(threshold * 1.5, float(t["estimate"].abs().max()) * 1.15)
    ax.axvspan(-threshold, threshold, color="0.9", zorder=0)
    ax.axvline(0, color="0.3", lw=0.8)
    for s in (-threshold, threshold):
        ax.axvline(s, color="0.5", lw=0.8, ls="--")
    for lvl, mk in markers.items():
        sel = t["level"] == lvl
        if sel.any():
            ax.scatter(
                t.loc[sel, "estimate"],
                np.flatnonzero(sel),
                marker=mk,
                s=45,
                color=ARM_COLORS["training"],
                label=lvl,
                zorder=3,
            )
    ax.set_yticks(range(len(t)))
    ax.set_yticklabels(names)
    ax.set_xlim(-lim, lim)
    ax.set_xlabel(wrap("standardised difference (training − control)", 30))
    ax.legend(loc="upper center", bbox_to_anchor=(0.3, -0.32), ncol=3, frameon=False,
              title="level of the characteristic", columnspacing=0.8, handletextpad=0.2)
    fig.tight_layout()
    return fig


def plot_permutation(
    result: PermutationResult,
    model_p: float | None = None,
    xlabel: str = "statistic under re-randomisation",
):
    """Histogram of the permutation distribution with the observed statistic.

    The solid line marks the observed value, the dotted line its mirror image
    (the two-sided region). Returns a matplotlib Figure.
    """


    dist, obs = result.distribution, result.observed
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.6))
    ax.hist(dist, bins=min(40, max(10, len(dist) // 12)), color="0.65", edgecolor="white")
    ax.axvline(
        obs,
        color=ARM_COLORS["training"],
        lw=2,
        label=f"observed (permutation p = {result.p_value:.3f})",
    )
    if result.info.get("alternative") == "two-sided":
        ax.axvline(-obs, color=ARM_COLORS["training"], lw=1.2, ls=":", label="mirror of observed")
    if model_p is not None:
        ax.plot([], [], " ", label=f"model-based p = {model_p:.3g}")
    ax.set_xlabel(wrap(xlabel, 34))
    ax.set_ylabel("permutations")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.25), frameon=False)
    fig.tight_layout()
    return fig
