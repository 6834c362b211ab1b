"""Figures of the sample: trajectories by arm and missingness (chapter 1)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection

from alliance.data.schema import COLUMN_LABELS, RATING_COLUMNS
from alliance.data.summary import attendance, missingness
from alliance.plots.style import ARM_COLORS, ARM_LABELS, FIG_WIDTH, wrap

__all__ = ["plot_missingness", "plot_trajectories"]


def plot_trajectories(data: pd.DataFrame, measures=RATING_COLUMNS):
    """Mean trajectories by arm (±1 SE) with thin per-patient lines, one panel per measure.

    Returns the matplotlib Figure.
    """


    measures = list(measures)
    fig, axes = plt.subplots(len(measures), 1, figsize=(FIG_WIDTH, 2.6 * len(measures) + 0.6),
                             squeeze=False, sharex=True)
    for ax, col in zip(axes[:, 0], measures):
        for arm, d in data.groupby("condition"):
            color = ARM_COLORS.get(arm, "grey")
            # one thin line per patient, drawn as one LineCollection (a Line2D per patient
            # took minutes for 100k patients); NaN ratings break a line as in ax.plot
            codes = pd.factorize(d["patient"], sort=True)[0]
            order = np.argsort(codes, kind="stable")
            pts = np.column_stack([d["session"].to_numpy(dtype=float)[order],
                                   d[col].to_numpy(dtype=float)[order]])
            cuts = np.flatnonzero(np.diff(codes[order])) + 1
            ax.add_collection(LineCollection(np.split(pts, cuts), colors=color, alpha=0.08,
                                             linewidths=0.7))
            m = d.groupby("session")[col].agg(["mean", "sem"])
            ax.errorbar(m.index, m["mean"], yerr=m["sem"], color=color, lw=2, capsize=2,
                        label=ARM_LABELS.get(arm, arm))
        ax.autoscale_view()
        ax.set_ylabel(wrap(COLUMN_LABELS.get(col, col), 14))
        ax.set_xticks(sorted(data["session"].unique()))
    axes[-1][0].set_xlabel("session")
    axes[0][0].legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=1, frameon=False)
    fig.tight_layout()
    return fig


def plot_missingness(data: pd.DataFrame):
    """Attendance by session and arm (left) and the share of missing ratings (right)."""


    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(FIG_WIDTH, 6.4))
    att = attendance(data)
    for arm in [c for c in att.columns if c != "session"]:
        ax1.plot(att["session"], att[arm], marker="o", color=ARM_COLORS.get(arm),
                 label=ARM_LABELS.get(arm, arm))
    ax1.set_xlabel("session")
    ax1.set_ylabel("patients attending")
    ax1.set_ylim(bottom=0)
    ax1.legend(loc="lower left")
    miss = missingness(data)
    width = 0.38
    for k, arm in enumerate(sorted(miss["condition"].unique())):
        m = miss[miss["condition"] == arm]
        x = np.arange(len(m)) + (k - 0.5) * width
        ax2.bar(x, 100 * m["missing_share"], width, color=ARM_COLORS.get(arm),
                label=ARM_LABELS.get(arm, arm))
    ax2.set_xticks(np.arange(len(RATING_COLUMNS)))
    ax2.set_xticklabels([COLUMN_LABELS[c].replace(" ", "\n", 1) for c in RATING_COLUMNS])
    ax2.set_ylabel(wrap("% of attended sessions missing", 18))
    fig.tight_layout()
    return fig
