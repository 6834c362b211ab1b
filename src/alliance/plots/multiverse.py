"""Figures of the robustness chapter: the specification curve of each finding."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from alliance.plots.labels import term_label
from alliance.plots.style import FIG_WIDTH, wrap
from alliance.studies.multiverse import CHOICE_COLUMNS, MultiverseResult

__all__ = ["AGREE_COLORS", "plot_specification_curve"]

#: Colours of specifications that agree with the finding and of those that do not (Okabe-Ito).
AGREE_COLORS = {True: "#0072B2", False: "#D55E00"}

_CHOICE_LABELS = {"centring": "centring", "therapist_level": "therapist level", "method": "method",
                  "within_between": "within/between", "prior_control": "prior control",
                  "lag_rule": "lag rule", "residual": "residual", "session_control": "session",
                  "df_method": "df"}


def plot_specification_curve(result: MultiverseResult, finding: int):
    """The specification curve of one finding: sorted estimates above, the choices beneath.

    Top: every fitted specification's estimate of the finding's key estimate with its
    confidence interval, sorted by estimate, coloured by whether it agrees with the
    finding (claimed direction and p < alpha); the book's specification is circled
    in black, the dashed line marks zero. Bottom: one row per value of each choice
    that varies for this finding; a dot marks the value each specification uses
    (the book's value of each choice is listed first). Specifications that could not
    be fitted are not drawn (the summary table counts them).
    """
    t = result.tables["specifications"]
    t = t[(t["finding"] == finding) & (t["error"] == "")]
    if t.empty:
        raise ValueError(f"finding {finding} has no fitted specification to plot")
    t = t.sort_values(["estimate", "spec"], kind="stable").reset_index(drop=True)
    rows = []  # (choice, value) pairs in the order the grid lists them: the book's value first
    by_spec = t.sort_values("spec")
    for c in CHOICE_COLUMNS:
        values = list(by_spec[c].dropna().unique())
        if len(values) > 1:
            rows += [(c, v) for v in values]
    n = len(t)
    names = [wrap(f"{_CHOICE_LABELS[c]}: {v}", 18) for c, v in rows]
    row_h = 0.05 + 0.21 * max([s.count("\n") + 1 for s in names] or [1])
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(FIG_WIDTH - 0.3, 3.4 + row_h * len(rows)), sharex=True,
        gridspec_kw={"height_ratios": [3.4, max(1.0, row_h * len(rows))], "hspace": 0.05})
    x = np.arange(n)
    small = n > 60
    for agree in (True, False):
        sel = (t["agrees"] == agree).to_numpy()
        if not sel.any():
            continue
        d = t[sel]
        top.vlines(x[sel], d["ci_low"], d["ci_high"], color=AGREE_COLORS[agree],
                   alpha=0.35, lw=0.8 if small else 1.2)
        top.scatter(x[sel], d["estimate"], s=6 if small else 16, color=AGREE_COLORS[agree],
                    zorder=3, label="agrees (claimed direction, p < α)" if agree
                    else "does not agree")
    b = np.flatnonzero(t["book"].to_numpy())
    if b.size:
        top.scatter(x[b], t["estimate"].iloc[b], s=70, facecolors="none", edgecolors="black",
                    lw=1.2, zorder=4, label="the book's specification")
    top.axhline(0, color="grey", ls="--", lw=1)
    top.set_ylabel(wrap(f"{term_label(t['term'].iloc[0])}: estimate with CI", 22))
    top.legend(loc="lower left", bbox_to_anchor=(-0.9, 1.0), frameon=False)
    top.grid(axis="x", visible=False)
    for k, (c, v) in enumerate(rows):
        used = (t[c] == v).to_numpy()
        bottom.scatter(x[used], np.full(used.sum(), k), s=4 if small else 10, color="#333333",
                       marker="s" if small else "o")
    bottom.set_yticks(range(len(rows)))
    bottom.set_yticklabels(names)
    bottom.set_ylim(len(rows) - 0.5, -0.5)
    bottom.grid(axis="x", visible=False)
    bottom.set_xlabel("specifications,\nsorted by estimate")
    bottom.set_xlim(-1, n)
    fig.subplots_adjust(left=0.45, right=0.98)
    return fig
