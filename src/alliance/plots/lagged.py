"""Figures of the lagged-outcomes chapter: within and between effects, and the Nickell study."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from alliance.data.schema import COLUMN_LABELS
from alliance.lagged import PARTS, LaggedResult, NickellSimulation
from alliance.plots.labels import term_label
from alliance.plots.style import ARM_COLORS, ARM_LABELS, FIG_WIDTH, wrap

__all__ = ["plot_effects", "plot_nickell"]


def plot_effects(*results: LaggedResult, standardized: bool = True, parts=PARTS):
    """Forest plot of the within and between effects per arm, one panel per model.

    Pass the forward and the reverse result to set both directions side by side;
    with ``standardized=True`` (default) estimates are in outcome SDs per SD of
    the predictor part, so panels share one axis. Returns the Figure.
    """


    panels = []
    for res in results:
        e = res.tables["effects"]
        for out in dict.fromkeys(e["outcome"]):
            panels.append(e[(e["outcome"] == out) & e["part"].isin(parts)])
    fig, axes = plt.subplots(len(panels), 1, figsize=(FIG_WIDTH, 3.4 * len(panels) + 0.4),
                             sharex=standardized, squeeze=False)
    cols = (("std_estimate", "std_ci_low", "std_ci_high") if standardized
            else ("estimate", "ci_low", "ci_high"))
    for ax, tab in zip(axes[:, 0], panels):
        terms = list(dict.fromkeys(tab["term"]))
        levels = [lv for lv in dict.fromkeys(tab["level"]) if " - " not in lv]
        y0 = np.arange(len(terms))[::-1]
        off = np.linspace(-0.15, 0.15, len(levels)) if len(levels) > 1 else [0.0]
        for k, lv in enumerate(levels):
            sub = tab[tab["level"] == lv].set_index("term").loc[terms]
            est, lo, hi = (sub[c].to_numpy() for c in cols)
            ax.errorbar(est, y0 + off[k], xerr=[est - lo, hi - est], fmt="o", capsize=3,
                        color=ARM_COLORS.get(lv, "#333333"), label=ARM_LABELS.get(lv, lv))
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y0)
        ax.set_yticklabels([wrap(term_label(t), 20) for t in terms])
        outcome = tab["outcome"].iloc[0]
        ax.set_xlabel(wrap(f"effect on {COLUMN_LABELS.get(outcome, outcome)}"
                           + (" (SD per SD)" if standardized else ""), 34))
        ax.xaxis.set_tick_params(labelbottom=True)
    axes[0][0].legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def plot_nickell(sim: NickellSimulation):
    """Replication estimates of the prior-outcome and lagged alliance effects, by specification.

    One panel per term: the estimates of every replication (points) and their mean
    (bar) for the person- and grand-mean-centred prior outcome; the dashed line is
    the truth, the dotted one the truth plus Nickell's approximate bias. Returns
    the Figure.
    """

    est = sim.tables["estimates"]
    terms = list(dict.fromkeys(est["term"]))
    specs = ["person", "grand"]
    labels = {"person": "person-mean\ncentred", "grand": "grand-mean\ncentred"}
    colors = {"person": "#D55E00", "grand": "#0072B2"}
    fig, axes = plt.subplots(len(terms), 1, figsize=(FIG_WIDTH, 3.6 * len(terms)), squeeze=False)
    rng = np.random.default_rng(0)  # horizontal jitter of the points only
    for ax, term in zip(axes[:, 0], terms):
        for k, spec in enumerate(specs):
            v = est[(est["term"] == term) & (est["specification"] == spec)]["estimate"].to_numpy()
            ax.scatter(k + rng.uniform(-0.18, 0.18, v.size), v, s=9, alpha=0.45,
                       color=colors[spec])
            ax.hlines(v.mean(), k - 0.28, k + 0.28, color="black", lw=2)
        truth = float(est.loc[est["term"] == term, "truth"].iloc[0])
        ax.axhline(truth, color="black", ls="--", lw=1, label="truth")
        if term == "prior":
            ax.axhline(truth + sim.info["nickell_approx"], color="#D55E00", ls=":", lw=1.2,
                       label="truth + Nickell approx.")
        ax.set_xticks(range(len(specs)))
        ax.set_xticklabels([labels[s] for s in specs])
        ax.set_xlim(-0.6, len(specs) - 0.4)
        ax.set_ylabel(wrap("prior-outcome coefficient" if term == "prior"
                           else "lagged alliance (within) effect", 18))
        ax.legend(loc="best")
    fig.tight_layout()
    return fig
