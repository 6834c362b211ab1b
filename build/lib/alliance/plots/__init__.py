"""Every figure of the book and of ``alliance report``, one module per chapter.

Figures read results (or validated data) and never refit; each returns a
matplotlib Figure styled by :func:`use_style`, with the title left to the caption.
"""

from __future__ import annotations

from alliance.plots.style import ARM_COLORS, ARM_LABELS, RATER_COLORS, use_style

__all__ = ["ARM_COLORS", "ARM_LABELS", "RATER_COLORS", "use_style"]
