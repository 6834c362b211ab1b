"""Figures of the growth chapter: model-implied trajectories and every patient's ratings."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from alliance.growth import RATER_LABEL, GrowthResult, _growth_frame
from alliance.plots.style import ARM_COLORS, ARM_LABELS, FIG_WIDTH

__all__ = ["plot_spaghetti", "plot_trajectories"]


def plot_trajectories(result: GrowthResult, observed: bool = True):
    """Model-implied mean trajectories by arm with confidence bands, one panel per rater.

    Bands are the pointwise Wald CIs of :meth:`GrowthResult.trajectories`; dots
    are the observed means of the rows used. Returns the matplotlib Figure.
    """


    traj = result.trajectories()
    raters = result._raters()
    fig, axes = plt.subplots(
        len(raters), 1, figsize=(FIG_WIDTH, 3.0 * len(raters) + 0.4), squeeze=False, sharex=True,
        sharey=True
    )
    for ax, r in zip(axes[:, 0], raters):
        for cond in ("control", "training"):
            tr = traj[(traj["rater"] == r) & (traj["condition"] == cond)]
            color = ARM_COLORS[cond]
            ax.fill_between(
                tr["session"], tr["ci_low"], tr["ci_high"], color=color, alpha=0.2, lw=0
            )
            ax.plot(tr["session"], tr["estimate"], color=color, lw=2, label=ARM_LABELS[cond])
            if observed:
                f = result.frame
                m = f[(f["rater"] == r) & (f["condition"] == cond)].groupby("session")["y"].mean()
                ax.plot(m.index, m.to_numpy(), "o", color=color, ms=4, alpha=0.8)
        ax.set_ylabel(f"{RATER_LABEL[r]}\nalliance")
        ax.set_xticks(result.sessions())
    axes[-1][0].set_xlabel("session")
    axes[0][0].legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def plot_spaghetti(data: pd.DataFrame, rater: str = "therapist"):
    """Every patient's observed ratings over sessions, one panel per arm (and rater).

    ``rater`` is ``"patient"``, ``"therapist"`` or ``"both"`` (two rows of panels).
    ``data`` are validated session data (:func:`alliance.read_sessions`, e.g.
    :func:`alliance.load_example`): figures draw what the analyses read, they never
    validate again. Returns the matplotlib Figure.
    """
    if rater not in ("patient", "therapist", "both"):
        raise ValueError(f"rater must be 'patient', 'therapist' or 'both'; got {rater!r}")
    raters = ["patient", "therapist"] if rater == "both" else [rater]
    frame, _ = _growth_frame(data, rater)
    fig, axes = plt.subplots(
        len(raters), 2, figsize=(FIG_WIDTH, 2.8 * len(raters) + 0.4), squeeze=False, sharex=True,
        sharey=True
    )
    for i, r in enumerate(raters):
        for k, cond in enumerate(("control", "training")):
            ax = axes[i][k]
            d = frame[(frame["rater"] == r) & (frame["condition"] == cond)]
            for _, p in d.groupby("patient"):
                p = p.sort_values("session")
                ax.plot(
                    p["session"],
                    p["y"],
                    color=ARM_COLORS[cond],
                    alpha=0.3,
                    lw=0.8,
                    marker="o",
                    ms=2,
                )
            m = d.groupby("session")["y"].mean()
            ax.plot(m.index, m.to_numpy(), color="black", lw=2)
            ax.set_xlabel("session")
            ax.set_xticks([2, 4, 6])
            if k == 0:
                ax.set_ylabel(f"{RATER_LABEL[r]}\nalliance")
            ax.text(0.0, 1.02, ARM_LABELS[cond].split(" (")[0], transform=ax.transAxes,
                    va="bottom")
    fig.tight_layout()
    return fig
