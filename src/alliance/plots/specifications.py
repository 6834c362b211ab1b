"""Figure of chapter 5's specification study: which surface specification recovers the truth."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from alliance.plots.style import FIG_WIDTH, use_style

__all__ = ["SPEC_COLORS", "plot_recovery"]

#: One colour per specification of :mod:`alliance.studies.specifications` (Okabe-Ito).
SPEC_COLORS = {"within": "#0072B2", "raw": "#D55E00", "prior": "#009E73"}

_TERM_LABELS = {"a1_training": "$a_1$, training arm", "a1_control": "$a_1$, control arm",
                "a1_difference": "$a_1$, training - control", "a4_training": "$a_4$, training arm"}


def plot_recovery(recovery: pd.DataFrame, terms=("a1_training", "a1_control", "a4_training")):
    """Mean estimate per scenario and specification beside the truth, one panel per term.

    ``recovery`` is the ``recovery`` table of
    :func:`alliance.studies.specifications.specification_recovery`, with a
    ``scenario`` column when several studies are stacked. Dot: mean estimate; thick
    bar: its 95% Monte Carlo interval (``ci_low``, ``ci_high``); thin bar: mean +- one
    empirical SD (where single trials land); dashed line: the generative model's value.
    """
    use_style()
    rec = recovery.assign(scenario=recovery["scenario"] if "scenario" in recovery else "")
    rows = list(dict.fromkeys(zip(rec["scenario"], rec["specification"])))
    fig, axes = plt.subplots(len(terms), 1, figsize=(FIG_WIDTH, (0.4 * len(rows) + 1.2) * len(terms)),
                             squeeze=False)
    y = np.arange(len(rows))[::-1]
    for ax, term in zip(axes[:, 0], terms):
        d = rec[rec["term"] == term].set_index(["scenario", "specification"]).reindex(rows)
        for k, ((_sc, sp), r) in enumerate(d.iterrows()):
            color = SPEC_COLORS.get(sp, "k")
            ax.plot([r["estimate"] - r["emp_sd"], r["estimate"] + r["emp_sd"]], [y[k]] * 2,
                    color=color, lw=1, alpha=0.6)
            ax.plot([r["ci_low"], r["ci_high"]], [y[k]] * 2, color=color, lw=4,
                    solid_capstyle="butt")
            ax.plot(r["estimate"], y[k], "o", color=color, ms=5)
        for truth in d["truth"].dropna().unique():
            ax.axvline(truth, color="k", ls="--", lw=1)
        ax.set_xlabel(_TERM_LABELS.get(term, term))
        ax.grid(axis="y", visible=False)
    for ax in axes[:, 0]:
        ax.set_yticks(y)
        ax.set_yticklabels([f"{sc}: {sp}" if sc else sp for sc, sp in rows])
    fig.tight_layout()
    return fig
