"""Figure of the findings chapter: the estimates behind each verdict."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt

from alliance.findings import FindingsResult
from alliance.plots.style import FIG_WIDTH

__all__ = ["plot_evidence"]

#: Marker of each role of a test (primary tests filled, further parts open).
_MARKERS = {"primary": "o", "secondary": "D", "equivalence": "s"}


def plot_evidence(result: FindingsResult):
    """Forest plot of the tests behind each verdict, one panel per claim, titled with its verdict.

    Each panel has its own scale (rating points per session, regression weights,
    well-being points per alliance point); the dashed line marks zero. Primary
    tests are filled circles, the further parts of a claim open diamonds; a part
    that claims no effect (an equivalence test) is an open square with its
    ``1 - 2 alpha`` interval (thick) beside the 95% one, and its margin as dotted
    bounds.
    """
    from alliance.findings import equivalence_interval
    ev = result.tables["evidence"]
    verdicts = result.tables["findings"].set_index("claim")["verdict"]
    claims = sorted(ev["claim"].unique())
    alpha = result.info.get("alpha", 0.05)
    fig, axes = plt.subplots(len(claims), 1, figsize=(FIG_WIDTH, 2.0 + 1.1 * len(ev)), squeeze=False,
                             gridspec_kw={"height_ratios": [(ev["claim"] == c).sum() + 0.6
                                                            for c in claims]})
    for ax, c in zip(axes[:, 0], claims):
        d = ev[ev["claim"] == c].iloc[::-1].reset_index(drop=True)
        for i, row in d.iterrows():
            filled = row["role"] == "primary"
            ax.errorbar(row["estimate"], i, xerr=[[row["estimate"] - row["ci_low"]],
                                                  [row["ci_high"] - row["estimate"]]],
                        fmt=_MARKERS.get(row["role"], "o"), color="#0072B2", capsize=3,
                        mfc="#0072B2" if filled else "white")
            if row["role"] == "equivalence" and row["margin"] == row["margin"]:
                lo, hi = equivalence_interval(row["estimate"], row["se"], row["df"], alpha)
                ax.plot([lo, hi], [i, i], color="#0072B2", lw=3.5, solid_capstyle="butt")
                for b in (-row["margin"], row["margin"]):
                    ax.plot([b, b], [i - 0.35, i + 0.35], color="#D55E00", ls=":", lw=1.5)
        ax.axvline(0, color="grey", ls="--", lw=1)
        ax.set_yticks(range(len(d)))
        ax.set_yticklabels([textwrap.fill(t, 20) for t in d["term"]])
        ax.set_ylim(-0.6, len(d) - 0.4)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        ax.set_title(f"finding {c}: {verdicts.get(c, '')}", loc="left")
        ax.grid(axis="y", visible=False)
    # short lines: a label wider than the panels would widen the figure and shrink its text on a phone
    axes[-1, 0].set_xlabel(f"estimate with 95% CI;\nno-effect parts: {1 - 2 * alpha:.0%} CI\n"
                           "(thick), margin dotted;\nthe scale differs by panel")
    fig.tight_layout()
    return fig
