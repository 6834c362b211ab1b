"""Figures of the truth-and-bias chapter: dyads' ratings over sessions and the forces by arm."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from alliance.data.schema import COLUMN_LABELS, CONDITIONS
from alliance.plots.style import ARM_COLORS, ARM_LABELS, FIG_WIDTH, RATER_COLORS, wrap
from alliance.truth_bias import TruthBiasResult

__all__ = ["plot_dyads", "plot_forces"]


def plot_dyads(data: pd.DataFrame, n_per_arm: int = 3, *, judgment: str = "alliance_therapist",
               truth: str = "alliance_patient", seed: int = 1, patients=None):
    """Both raters' ratings across sessions for a few dyads per arm (one panel per dyad).

    Dyads are drawn at random (``seed``) among patients with both ratings in at
    least five sessions, unless ``patients`` lists them. Returns the Figure.

    Parameters
    ----------
    seed : int
        Seed of the draw of the dyads (default 1, as every seed of the package;
        chapter 4 shows ``seed=4``'s dyads).
    """


    arms = [c for c in CONDITIONS if c in set(data["condition"])]
    both = data.dropna(subset=[judgment, truth])
    if patients is None:
        rng = np.random.default_rng(seed)
        chosen = {}
        for arm in arms:
            counts = both[both["condition"] == arm].groupby("patient").size()
            pool = sorted(counts[counts >= min(5, counts.max())].index)
            k = min(n_per_arm, len(pool))
            chosen[arm] = list(rng.choice(pool, size=k, replace=False)) if k else []
    else:
        chosen = {arm: [p for p in patients
                        if (data.loc[data["patient"] == p, "condition"] == arm).any()]
                  for arm in arms}
    ncol = max(len(v) for v in chosen.values())
    fig, axes = plt.subplots(len(arms), ncol, figsize=(FIG_WIDTH, 2.5 * len(arms) + 0.6),
                             sharex=True, sharey=True, squeeze=False)
    lo = np.nanmin(data[[judgment, truth]].to_numpy())
    hi = np.nanmax(data[[judgment, truth]].to_numpy())
    for r, arm in enumerate(arms):
        for c in range(ncol):
            ax = axes[r][c]
            if c >= len(chosen[arm]):
                ax.set_visible(False)
                continue
            pid = chosen[arm][c]
            p = data[data["patient"] == pid].sort_values("session")
            for col in (truth, judgment):
                ax.plot(p["session"], p[col], marker="o", ms=3.5,
                        color=RATER_COLORS.get(col, "grey"), label=COLUMN_LABELS.get(col, col))
            ax.text(0.0, 1.02, f"{pid}" if c else f"{ARM_LABELS.get(arm, arm).split(' (')[0]}:"
                    f" {pid}", transform=ax.transAxes, va="bottom",
                    color=ARM_COLORS.get(arm, "black"))
            ax.set_xticks([2, 4, 6])
            ax.set_ylim(lo - 0.1, hi + 0.1)
            if r == len(arms) - 1:
                ax.set_xlabel("session")
            if c == 0:
                ax.set_ylabel("alliance")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center",
               bbox_to_anchor=(0.5, 1.0), ncol=1, frameon=False)
    fig.tight_layout()
    return fig


def plot_forces(result: TruthBiasResult, terms=None):
    """Forest plot of the forces by level (left) and the level differences (right).

    Points are estimates, bars the Wald confidence intervals of the result.
    Returns the Figure.
    """


    f = result.tables["forces"]
    terms = list(terms) if terms is not None else list(dict.fromkeys(f["term"]))
    levels = [lv for lv in dict.fromkeys(f["level"]) if " - " not in lv]
    diffs = [lv for lv in dict.fromkeys(f["level"]) if " - " in lv]
    ncols = 2 if diffs else 1
    fig, axes = plt.subplots(ncols, 1, figsize=(FIG_WIDTH, (0.7 * len(terms) + 1.6) * ncols),
                             squeeze=False)
    y0 = np.arange(len(terms))[::-1]
    palette = ["#E69F00", "#0072B2", "#009E73", "#CC79A7", "#56B4E9"]

    def draw(ax, lvls, colors, labels):
        off = np.linspace(-0.18, 0.18, len(lvls)) if len(lvls) > 1 else [0.0]
        for k, lv in enumerate(lvls):
            sub = f[f["level"] == lv].set_index("term")
            ys, xs, lo, hi = [], [], [], []
            for yy, t in zip(y0, terms):
                if t in sub.index:
                    ys.append(yy + off[k])
                    xs.append(sub.loc[t, "estimate"])
                    lo.append(sub.loc[t, "estimate"] - sub.loc[t, "ci_low"])
                    hi.append(sub.loc[t, "ci_high"] - sub.loc[t, "estimate"])
            ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", color=colors[k], capsize=3,
                        label=labels[k])
        ax.axvline(0, color="black", lw=0.8)
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False, ncol=1)

    cols = [ARM_COLORS.get(lv, palette[k % len(palette)]) for k, lv in enumerate(levels)]
    draw(axes[0][0], levels, cols, [ARM_LABELS.get(lv, lv) for lv in levels])
    axes[0][0].set_xlabel("estimate (rating points)")
    for ax in axes[:, 0]:
        ax.set_yticks(y0)
        ax.set_yticklabels([wrap(t, 11) for t in terms])
    if diffs:
        draw(axes[1][0], diffs, ["#333333"] * len(diffs),
             [d.replace(" - ", " − ") for d in diffs])
        axes[1][0].set_xlabel("difference between arms")
    fig.tight_layout()
    return fig
