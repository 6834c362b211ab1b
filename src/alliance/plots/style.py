"""Figure defaults and the shared colours of arms and raters.

Figures are styled once, here; chapters and modules call :func:`use_style`
and take colours from :data:`ARM_COLORS` and :data:`RATER_COLORS`. Captions
carry the titles (figures set no ``ax.set_title``).

**Drawn for a phone.** Figures are :data:`FIG_WIDTH` inches wide with
:data:`FONT_SIZE`-point text: the book shows them at that size on a laptop
(480 CSS pixels) and scales them to the 342-pixel column of a 390-pixel phone,
where their smallest text is still at least 9 points (:func:`phone_text_pt`).
Panels are stacked rather than set side by side.
"""

from __future__ import annotations

import matplotlib as mpl

__all__ = ["ARM_COLORS", "ARM_LABELS", "FIG_WIDTH", "FONT_SIZE", "PHONE_PX", "RATER_COLORS",
           "phone_text_pt", "use_style", "wrap"]

#: Width of the book's figures (inches).
FIG_WIDTH = 5.0
#: Size of every text of a figure (points): 13 pt on a 5-inch figure is 9.3 pt on a phone.
FONT_SIZE = 13
#: Width (CSS pixels) of the text column of a 390-pixel-wide phone.
PHONE_PX = 342

#: Colour-blind-safe colours (Okabe-Ito) for the two arms.
ARM_COLORS = {"control": "#E69F00", "training": "#0072B2"}
ARM_LABELS = {"control": "Control (no training)", "training": "Alliance training"}
#: Colours of the two raters.
RATER_COLORS = {"alliance_patient": "#009E73", "alliance_therapist": "#CC79A7"}


def use_style() -> None:
    """Set the book's matplotlib defaults (size, fonts, grid, no top/right spines)."""
    mpl.rcParams.update({
        "figure.figsize": (FIG_WIDTH, 3.6),
        "figure.dpi": 96,
        "savefig.dpi": 150,  # 1.6 times the CSS pixel density: sharp on high-density screens
        "savefig.bbox": "tight",
        "font.size": FONT_SIZE,
        "legend.fontsize": FONT_SIZE,
        "xtick.labelsize": FONT_SIZE,
        "ytick.labelsize": FONT_SIZE,
        "axes.labelsize": FONT_SIZE,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.25,
        "legend.frameon": False,
    })


def wrap(text: str, width: int = 22) -> str:
    """A long label on several lines (tick labels stay readable at :data:`FONT_SIZE`)."""
    import textwrap

    return textwrap.fill(str(text), width)


def phone_text_pt(fig) -> float:
    """The smallest text of ``fig`` in points as a 390-pixel phone shows it.

    The figure is saved with a tight bounding box and scaled to :data:`PHONE_PX`
    CSS pixels; a text of ``s`` points then renders at
    ``s * PHONE_PX * 0.75 / (72 * width_in_inches)`` CSS points.
    """
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    width = fig.get_tightbbox(renderer).width + 2 * mpl.rcParams["savefig.pad_inches"]
    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_figure() is not None]
    if not sizes:
        return float("inf")
    return min(sizes) * PHONE_PX * 0.75 / (72 * width)
