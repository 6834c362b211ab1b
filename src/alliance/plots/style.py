"""Figure defaults and the shared colours of arms and raters.

Figures are styled once, here; chapters and modules call :func:`use_style`
and take colours from :data:`ARM_COLORS` and :data:`RATER_COLORS`. Captions
carry the titles (figures set no ``ax.set_title``).
"""

from __future__ import annotations

import matplotlib as mpl

__all__ = ["ARM_COLORS", "ARM_LABELS", "RATER_COLORS", "use_style"]

#: Colour-blind-safe colours (Okabe-Ito) for the two arms.
ARM_COLORS = {"control": "#E69F00", "training": "#0072B2"}
ARM_LABELS = {"control": "Control (no training)", "training": "Alliance training"}
#: Colours of the two raters.
RATER_COLORS = {"alliance_patient": "#009E73", "alliance_therapist": "#CC79A7"}


def use_style() -> None:
    """Set the book's matplotlib defaults (size, fonts, grid, no top/right spines)."""
    mpl.rcParams.update({
        "figure.figsize": (7.5, 4.2),
        "figure.dpi": 110,
        "savefig.dpi": 150,
        "savefig.bbox": "tight",
        "font.size": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.25,
        "legend.frameon": False,
    })
