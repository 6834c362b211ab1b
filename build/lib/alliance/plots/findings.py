"""Figure of the findings chapter: the estimates behind each verdict."""

from __future__ import annotations

import matplotlib.pyplot as plt

from alliance.findings import FindingsResult

__all__ = ["plot_evidence"]


def plot_evidence(result: FindingsResult):
    """Forest plot of the estimates behind each verdict, one panel per claim.

    Each panel has its own scale (the quantities are on different scales: rating
    points per session, regression weights, well-being points per alliance
    point); the dashed line marks zero.
    """

    ev = result.tables["evidence"]
    claims = sorted(ev["claim"].unique())
    fig, axes = plt.subplots(len(claims), 1, figsize=(7.5, 1.1 + 0.55 * len(ev)),
                             gridspec_kw={"height_ratios": [(ev["claim"] == c).sum() for c in claims]})
    for ax, c in zip(axes, claims):
        d = ev[ev["claim"] == c].iloc[::-1]
        labels = [t if lv == "all" else f"{t} [{lv}]" for t, lv in zip(d["term"], d["level"])]
        y = range(len(d))
        ax.errorbar(d["estimate"], y, xerr=[d["estimate"] - d["ci_low"], d["ci_high"] - d["estimate"]],
                    fmt="o", color="#0072B2", capsize=3)
        ax.axvline(0, color="grey", ls="--", lw=1)
        ax.set_yticks(list(y))
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_ylabel(f"finding {c}", rotation=0, ha="right", va="center", fontsize=9)
        ax.grid(axis="y", visible=False)
    axes[-1].set_xlabel("estimate with 95% CI (scale differs by panel)")
    fig.tight_layout()
    return fig
