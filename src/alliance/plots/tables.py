"""How the book shows tables and warnings: one formatter, one place.

:func:`table` turns any results table into a display object that rounds each
quantity as a reader expects (p values as ``< .001`` or three decimals, estimates
and intervals to three decimals, test statistics to two, degrees of freedom to
one, counts as whole numbers, tiny numbers in scientific notation), drops columns
that hold nothing, never truncates text, hides the row index, and sits in a
container that scrolls sideways on a narrow screen instead of being clipped.

:func:`setup_book` is the first call of every chapter: the figure style, the
table defaults, and warnings shown as short explained notes (with file names
relative to the repository, never the build machine's paths) instead of raw
tracebacks.
"""

from __future__ import annotations

import html
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from alliance.errors import AllianceWarning
from alliance.plots.style import use_style

__all__ = ["Table", "compact_png", "explain_warning", "format_value", "setup_book", "table"]

_ROOT = Path(__file__).resolve().parents[3]

#: Explanations of the warnings the book's models raise, by a phrase the message contains.
EXPLANATIONS = {
    "boundary (singular) fit": (
        "A variance of the model is estimated as zero (or a correlation as ±1): the data do not "
        "support that part of the random-effect structure. It is a valid fit of the simpler model "
        "without it; the fixed effects and their standard errors are still valid."),
    "fallback optimizer": (
        "The first optimizer did not converge and another one was used; the reported optimum passed "
        "the engine's checks."),
    "no alliance": "Some patients have no rating of this rater and are not in the model.",
    "centred variable-wise": (
        "Each predictor was centred on its own mean, which moves the line of congruence."),
}


def _rounding(column: str) -> str:
    c = column.lower()
    if c == "p" or c.startswith("p_") or c.endswith("_p") or c in ("p_value", "pvalue"):
        return "p"
    if c in ("statistic", "z", "t") or c.endswith("statistic"):
        return "stat"
    if c == "df" or c.startswith("df_") or c.endswith("_df"):
        return "df"
    return "num"


def format_value(value, kind: str = "num") -> str:
    """One cell as the book prints it (see :func:`table`)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):d}"
    if not isinstance(value, (float, np.floating)):
        return str(value)
    v = float(value)
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if kind == "p":
        return "< .001" if v < 0.001 else f"{v:.3f}".replace("0.", ".", 1) if v < 1 else "1.000"
    if kind == "df":
        return f"{v:.1f}"
    if kind == "stat":
        return f"{v:.2f}"
    if v != 0 and abs(v) < 0.0005:
        return f"{v:.1e}"
    if abs(v) >= 1e5:
        return f"{v:,.0f}"
    if v == round(v) and abs(v) < 1e5 and kind == "count":
        return f"{v:.0f}"
    return f"{v:.3f}"


class Table:
    """A formatted table for notebooks and the book's pages (``_repr_html_``), also printable."""

    def __init__(self, frame: pd.DataFrame, caption: str | None = None):
        self.frame = frame
        self.caption = caption

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in self.frame.columns)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
            for row in self.frame.itertuples(index=False))
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (f'<div class="alliance-table"><table class="dataframe">{cap}<thead><tr>{head}'
                f"</tr></thead><tbody>{rows}</tbody></table></div>")

    def __repr__(self) -> str:
        return self.frame.to_string(index=False)


def table(data: pd.DataFrame | pd.Series, *, columns=None, rename=None, caption=None,
          keep_empty: bool = False) -> Table:
    """The book's one table formatter.

    Parameters
    ----------
    data : DataFrame or Series
        Any results table (a Series becomes two columns).
    columns : sequence of str, optional
        Columns to show, in order (default: all).
    rename : dict, optional
        Display names of columns.
    caption : str, optional
        A caption above the table.
    keep_empty : bool
        Keep columns in which every cell is missing (dropped by default).

    Returns
    -------
    Table
        Rendered as HTML in a horizontally scrolling container; the index is
        shown only when it carries labels (a Series, or a named index).
    """
    if isinstance(data, pd.Series):
        data = data.rename_axis(data.index.name or "").reset_index()
    frame = data.copy()
    if frame.index.name is not None or isinstance(frame.index, pd.MultiIndex):
        frame = frame.reset_index()
    if columns is not None:
        frame = frame[list(columns)]
    if not keep_empty:
        frame = frame.loc[:, [c for c in frame.columns if not frame[c].isna().all()]]
    out = pd.DataFrame(index=range(len(frame)))
    for c in frame.columns:
        kind = _rounding(str(c))
        if pd.api.types.is_integer_dtype(frame[c]) or (
                pd.api.types.is_float_dtype(frame[c]) and kind == "num"
                and frame[c].dropna().apply(float.is_integer).all() and frame[c].abs().max() < 1e5
                and str(c).startswith(("n", "rows", "count"))):
            kind = "count"
        out[str(c)] = [format_value(v, kind) for v in frame[c].tolist()]
    if rename:
        out = out.rename(columns=rename)
    return Table(out, caption)


def _relative(text: str) -> str:
    root = str(_ROOT)
    text = text.replace(root + "/", "").replace(root, ".")
    return re.sub(r"/(?:tmp|home|root|work)/[^\s:]*?/(src|tests|data|chapters)/", r"\1/", text)


def explain_warning(message: str) -> str:
    """A short explanation of a package warning (empty if none is known)."""
    for phrase, text in EXPLANATIONS.items():
        if phrase in message:
            return text
    return ""


def _show(message, category, filename, lineno, file=None, line=None):
    if not issubclass(category, AllianceWarning):
        return _original_show(message, category, filename, lineno, file, line)
    text = _relative(str(message))
    if text in _SHOWN:  # a refit of the same model on the same data: said once per page
        return None
    _SHOWN.add(text)
    why = explain_warning(text)
    try:
        from IPython.display import HTML, display  # only inside a notebook
    except ImportError:  # pragma: no cover - plain Python
        return _original_show(message, category, filename, lineno, file, line)
    body = html.escape(text) + (f"<br><em>{html.escape(why)}</em>" if why else "")
    display(HTML(f'<div class="admonition note alliance-warning"><p class="admonition-title">'
                 f"Note from the model</p><p>{body}</p></div>"))


_original_show = warnings.showwarning
#: The notes this page has shown (reset by :func:`setup_book`).
_SHOWN: set[str] = set()


def compact_png(fig, colors: int = 256) -> bytes:
    """A figure as a palette PNG (at most ``colors`` colours): a fraction of the bytes of a
    full-colour PNG, visually the same for the book's figures (flat colours, one colour map)."""
    import io

    from PIL import Image  # Pillow ships with matplotlib

    raw = io.BytesIO()
    fig.savefig(raw, format="png", bbox_inches="tight", dpi="figure")  # as the inline backend
    image = Image.open(io.BytesIO(raw.getvalue())).convert("RGB")
    small = image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < raw.tell() else raw.getvalue()


def _register_compact_figures() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - plain Python
        return
    ip = get_ipython()
    if ip is None:
        return
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    # the inline backend registers its own PNG formatter when it is first loaded, which
    # pyplot does lazily at the first figure: load it now, then take its place
    plt.close(plt.figure())
    ip.display_formatter.formatters["image/png"].for_type(Figure, compact_png)


def setup_book() -> None:
    """The first call of every chapter: figure style, table defaults, warnings as explained notes."""
    use_style()
    _register_compact_figures()  # every figure of the page as a compact palette PNG
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.width", 250)
    warnings.showwarning = _show
    warnings.simplefilter("default", AllianceWarning)
    _SHOWN.clear()
