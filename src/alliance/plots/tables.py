"""How the book shows tables and warnings: one table function, one place.

:func:`table` turns any results table into a great_tables table that rounds each
quantity as a reader expects (p values in APA style, ``< .001`` or ``.023``;
estimates and intervals to three decimals, test statistics to two, degrees of
freedom to one, whole numbers as whole numbers, tiny numbers in scientific
notation), names columns and model terms in plain language
(:mod:`alliance.plots.labels`), aligns text left (wrapping) and numbers right,
drops columns that hold nothing, hides the row index, carries a caption, and sits
in a box that scrolls sideways on a narrow screen and that a keyboard can reach.

:func:`setup_book` is the first call of every chapter: the figure style, the
table defaults, and warnings shown as short explained notes (with file names
relative to the repository, never the build machine's paths) instead of raw
tracebacks.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from alliance.errors import AllianceWarning
from alliance.plots.style import use_style
from alliance.results import format_p

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


_P_COLUMNS = ("p", "p_value", "pvalue", "p_holm", "p_vs")
#: Columns whose cells are codes a reader should see in plain language (model terms, tests).
_TERM_COLUMNS = ("term", "term1", "term2", "predictor", "test", "outcome", "quantity", "model",
                 "measure")
#: Columns whose cells are arms or levels.
_VALUE_COLUMNS = ("level", "condition", "moderator", "rater", "group")


def _rounding(column: str) -> str:
    c = column.lower()
    if c in _P_COLUMNS or c.startswith(("p_", "p (")) or c.endswith("_p"):
        return "p"
    if c in ("statistic", "z", "t") or c.endswith("statistic"):
        return "stat"
    if c == "df" or c.startswith("df_") or c.endswith("_df"):
        return "df"
    return "num"


def format_value(value, kind: str = "num") -> str:
    """One cell as the book prints it (see :func:`table`).

    ``kind`` is ``"p"`` (APA style: ``< .001``, else three decimals without the
    leading zero), ``"stat"`` (two decimals), ``"df"`` (one decimal; ``∞`` for a
    Wald z), ``"count"`` (a whole number), ``"mixed"`` (whole numbers as whole
    numbers, others to at most three decimals) or ``"num"`` (three decimals; tiny
    values in scientific notation).

    Examples
    --------
    >>> format_value(0.0004, "p"), format_value(0.0312, "p"), format_value(40.0, "count")
    ('< .001', '.031', '40')
    >>> format_value(117.0, "mixed"), format_value(0.25, "mixed"), format_value(float("inf"), "df")
    ('117', '0.25', '∞')
    """
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,d}" if abs(int(value)) >= 10_000 else f"{int(value):d}"
    if not isinstance(value, (float, np.floating)):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if kind == "p":
        return format_p(v)
    if kind == "df":
        return f"{v:.1f}"
    if kind == "stat":
        return f"{v:.2f}"
    if kind in ("count", "mixed") and v == round(v) and abs(v) < 1e15:
        return f"{v:,.0f}" if abs(v) >= 10_000 else f"{v:.0f}"
    if v != 0 and abs(v) < 0.0005:
        return f"{v:.1e}"
    if abs(v) >= 1e5:
        return f"{v:,.0f}"
    if kind == "mixed":
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:.1f}"
    return f"{v:.3f}"


def _kind(name: str, col: pd.Series) -> str:
    kind = _rounding(name)
    if kind != "num":
        return kind
    values = col.dropna()
    if pd.api.types.is_integer_dtype(col):
        return "count"
    if pd.api.types.is_float_dtype(col) and len(values):
        finite = values[np.isfinite(values.to_numpy(dtype=float))]
        if len(finite) and (finite == finite.round()).all():
            return "count"  # every value whole: integers as integers (40, not 40.000)
        return "num"
    return "mixed"  # an object column mixing numbers and text: each value as it is


def _is_numeric(col: pd.Series) -> bool:
    values = col.dropna()
    if pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_numeric_dtype(col):
        return True
    return len(values) > 0 and all(isinstance(v, (int, float, np.integer, np.floating))
                                   and not isinstance(v, (bool, np.bool_)) for v in values)


def _plain(name: str, col: pd.Series) -> pd.Series:
    """Codes in a cell as a reader should see them (terms, tests, arms and levels)."""
    from alliance.plots.labels import VALUE_LABELS, term_label

    if name in _TERM_COLUMNS:
        return col.map(lambda v: term_label(v) if isinstance(v, str) else v)
    if name in _VALUE_COLUMNS:
        return col.map(lambda v: VALUE_LABELS.get(v, v) if isinstance(v, str) else v)
    return col


_USED_IDS: set[str] = set()


def _table_id(frame: pd.DataFrame, caption) -> str:
    digest = hashlib.sha1((frame.to_csv() + str(caption)).encode()).hexdigest()[:10]
    base = f"tbl-{digest}"
    tid, k = base, 1
    while tid in _USED_IDS:  # the same table twice on one page: ids stay unique
        k += 1
        tid = f"{base}-{k}"
    _USED_IDS.add(tid)
    return tid


#: CSS added to great_tables' own (scoped to the table): numbers never break, text wraps
#: at a readable width, the table sits at the left of the column. The narrowest text column
#: (6em) lets the widest table (the report's evidence behind the verdicts, 15 columns) fit a
#: 1366-px screen in the widest common fallback font too (DejaVu Sans, where Arial and its
#: metric twins are not installed: at 7em it overflowed by 13 px there).
_EXTRA_CSS = (
    "#{id} .gt_table {{ margin-left: 0; font-variant-numeric: tabular-nums; }}"
    " #{id} td.gt_right {{ white-space: nowrap; }}"
    " #{id} td.gt_left {{ white-space: normal; min-width: 6em; max-width: 40em;"
    " overflow-wrap: anywhere; }}"
    " #{id} .gt_col_heading {{ white-space: normal; overflow-x: visible; min-width: 4em; }}"
    " #{id} .gt_heading {{ white-space: normal; }}"
    " #{id}:focus-visible {{ outline: 2px solid #0072B2; outline-offset: 2px; }}"
)


def _prune_css(raw: str) -> str:
    """great_tables' stylesheet without the rules for parts this table does not have.

    Its stylesheet styles every part a table can have (footnotes, spanners, summary
    rows, ...): about 8 kB per table. A rule is kept when every class it names is used
    by the table (or it names none).
    """
    m = re.search(r"<style>(.*?)</style>", raw, re.DOTALL)
    if not m:
        return raw
    body = raw[:m.start()] + raw[m.end():]
    used = set()
    for classes in re.findall(r'class="([^"]*)"', body):
        used.update(classes.split())
    rules = [r.strip() for r in m.group(1).split("}") if r.strip()]
    kept = [r + " }" for r in rules
            if all(c in used for c in re.findall(r"\.([A-Za-z_][\w-]*)", r.split("{", 1)[0]))]
    return raw[:m.start()] + "<style>\n" + "\n".join(kept) + "\n</style>" + raw[m.end():]


class Table:
    """A table for notebooks, the book's pages and the report, rendered by great_tables.

    ``frame`` holds the cells as shown (formatted strings, plain-language headers);
    ``numeric`` names the columns that are right-aligned; ``caption`` is the
    table's title, also its accessible name. ``_repr_html_`` gives great_tables'
    HTML in a box that scrolls sideways on a narrow screen and that a keyboard can
    reach (``tabindex=0``, ``role=region``, ``aria-label``); ``str()`` and
    ``repr()`` give plain text.
    """

    def __init__(self, frame: pd.DataFrame, caption: str | None = None,
                 numeric: tuple[str, ...] = ()):
        self.frame = frame
        self.caption = caption
        self.numeric = tuple(numeric)
        self._html: str | None = None

    def gt(self, table_id: str | None = None):
        """The ``great_tables.GT`` object (restyle it further if you like)."""
        import great_tables as gt

        tid = table_id or _table_id(self.frame, self.caption)
        frame = self.frame.copy()
        frame.columns = [f"c{i}" for i in range(frame.shape[1])]
        g = gt.GT(frame, id=tid)
        g = g.cols_label(**{f"c{i}": str(c) for i, c in enumerate(self.frame.columns)})
        right = [f"c{i}" for i, c in enumerate(self.frame.columns) if c in self.numeric]
        left = [f"c{i}" for i, c in enumerate(self.frame.columns) if c not in self.numeric]
        if right:
            g = g.cols_align("right", columns=right)
        if left:
            g = g.cols_align("left", columns=left)
        if self.caption:
            g = g.tab_header(title=self.caption).opt_align_table_header("left")
        g = g.tab_options(table_font_size="0.9em", table_margin_left="0",
                          heading_title_font_size="100%", data_row_padding="4px",
                          container_padding_y="4px")
        return g.opt_css(_EXTRA_CSS.format(id=tid))

    def _repr_html_(self) -> str:
        if self._html is None:
            tid = _table_id(self.frame, self.caption)
            raw = self.gt(tid).as_raw_html()
            # great_tables writes a few rules without its id scope (tbody, tr, td, th): scope them
            raw = re.sub(r"#" + tid + r" thead, tbody, tfoot, tr, td, th \{",
                         ", ".join(f"#{tid} {s}" for s in ("thead", "tbody", "tfoot", "tr", "td",
                                                           "th")) + " {", raw)
            raw = re.sub(r"\n\s*tr \{ background-color: transparent; \}",
                         f"\n#{tid} tr {{ background-color: transparent; }}", raw)
            raw = _prune_css(re.sub(r"[ \t]*\n\s*", "\n", raw))  # a lighter page
            name = self.caption or "Table: " + ", ".join(map(str, self.frame.columns[:4]))
            raw = raw.replace(
                f'<div id="{tid}" style="',
                f'<div id="{tid}" class="alliance-table" role="region" tabindex="0" '
                f'aria-label="{html.escape(name, quote=True)}" style="', 1)
            self._html = raw
        return self._html

    def __repr__(self) -> str:
        text = self.frame.to_string(index=False)
        return f"{self.caption}\n{text}" if self.caption else text


def table(data: pd.DataFrame | pd.Series, *, columns=None, rename=None, caption=None,
          keep_empty: bool = False, merge_ci: bool = True) -> Table:
    """The book's one table function: any results table as a reader should see it.

    Rendered by great_tables: text left-aligned and wrapping, numbers right-aligned
    with sensible digits (whole numbers as whole numbers, p in APA style as
    ``< .001`` or ``.023``, estimates to three decimals, test statistics to two,
    degrees of freedom to one), plain-language headers and term labels
    (:mod:`alliance.plots.labels`: never an internal code such as ``ci_low`` or
    ``g_ther``), no row index, a caption, and a box that scrolls sideways on a
    phone and that a keyboard can reach.

    Parameters
    ----------
    data : DataFrame or Series
        Any results table (a Series becomes two columns; a named index becomes
        columns; an unnamed row index is never shown).
    columns : sequence of str, optional
        Columns to show, in order (default: all).
    rename : dict, optional
        Headers of your own for some columns (machine name -> header); the others
        get their label from :data:`alliance.plots.labels.COLUMN_LABELS`.
    caption : str
        The table's title: what it shows, in a sentence (also its accessible name).
    keep_empty : bool
        Keep columns in which every cell is missing (dropped by default).
    merge_ci : bool
        Show ``ci_low`` and ``ci_high`` as one column ``CI`` holding ``[low, high]``.

    Returns
    -------
    Table
        Displays itself in notebooks and in the book (``_repr_html_``).

    Examples
    --------
    >>> import pandas as pd
    >>> t = table(pd.DataFrame({"term": ["time:training"], "estimate": [0.0412],
    ...                         "p": [0.0004], "n": [40.0]}), caption="Growth")
    >>> t.frame.columns.tolist(), t.frame.iloc[0].tolist()
    (['Term', 'Estimate', 'p', 'n'], ['Time × training (growth difference)', '0.041', '< .001', '40'])
    """
    from alliance.plots.labels import column_label

    if isinstance(data, pd.Series):
        data = data.rename_axis(data.index.name or "item").reset_index()
    frame = data.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = [" ".join(str(p) for p in c if str(p)) for c in frame.columns]
    if frame.index.name is not None or isinstance(frame.index, pd.MultiIndex):
        frame = frame.reset_index()
    elif not isinstance(frame.index, pd.RangeIndex) and frame.index.dtype == object:
        frame = frame.rename_axis("item").reset_index()  # labels in an unnamed index
    frame.columns = [str(c) for c in frame.columns]
    if columns is not None:
        frame = frame[[str(c) for c in columns]]
    if not keep_empty:
        frame = frame.loc[:, [c for c in frame.columns if not frame[c].isna().all()]]
    rename = {str(k): v for k, v in (rename or {}).items()}
    out: dict[str, list[str]] = {}
    numeric: list[str] = []
    skip = set()
    for c in frame.columns:
        if c in skip:
            continue
        col = _plain(c, frame[c])
        kind = _kind(c, col)
        header = rename.get(c) or column_label(c)
        upper = c[:-len("ci_low")] + "ci_high"
        if merge_ci and c.endswith("ci_low") and upper in frame.columns:
            both = kind if kind == _kind(upper, frame[upper]) else "num"  # one style per column
            lo = [format_value(v, both) for v in frame[c].tolist()]
            hi = [format_value(v, both) for v in frame[upper].tolist()]
            prefix = c[:-len("ci_low")]
            header = rename.get(prefix + "ci") or (
                "CI" if not prefix else column_label(prefix.rstrip("_")) + " CI")
            out[header] = [f"[{a}, {b}]" if a or b else "" for a, b in zip(lo, hi, strict=True)]
            numeric.append(header)
            skip.add(upper)
            continue
        out[header] = [format_value(v, kind) for v in col.tolist()]
        if _is_numeric(col):
            numeric.append(header)
    shown = pd.DataFrame(out, index=range(len(frame)))
    return Table(shown, caption, tuple(numeric))


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


def compact_png(fig, colors: int = 64) -> bytes:
    """A figure as a palette PNG (at most ``colors`` colours): a fraction of the bytes of a
    full-colour PNG, visually the same for the book's figures (flat colours, one colour map).

    The PNG records, as text chunks, the CSS width it is drawn for
    (``alliance:css-width``, pixels at 96 per inch) and its smallest text as a phone
    shows it (``alliance:phone-text-pt``, :func:`alliance.plots.style.phone_text_pt`);
    the browser test reads both.
    """
    import io

    from PIL import Image  # Pillow ships with matplotlib
    from PIL.PngImagePlugin import PngInfo

    from alliance.plots.style import phone_text_pt

    raw = io.BytesIO()
    fig.savefig(raw, format="png", bbox_inches="tight")  # at savefig.dpi (use_style: 150)
    image = Image.open(io.BytesIO(raw.getvalue()))
    dpi = round(image.info.get("dpi", (150, 150))[0]) or 150
    info = PngInfo()
    info.add_text("alliance:css-width", str(round(image.width * 96 / dpi)))
    info.add_text("alliance:phone-text-pt", f"{phone_text_pt(fig):.2f}")
    small = image.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT,
                                          dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True, pnginfo=info, dpi=(dpi, dpi))
    if out.tell() >= raw.tell():
        out = io.BytesIO()
        image.save(out, format="PNG", pnginfo=info, dpi=(dpi, dpi))
    return out.getvalue()


def _figure_png(fig):
    """The notebook output of a figure: its compact PNG, shown at the width it is drawn for."""
    import io

    from PIL import Image

    data = compact_png(fig)
    width = Image.open(io.BytesIO(data)).text.get("alliance:css-width")
    return (data, {"width": int(width)}) if width else data


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
    ip.display_formatter.formatters["image/png"].for_type(Figure, _figure_png)


def setup_book() -> None:
    """The first call of every chapter: figure style, table defaults, warnings as explained notes."""
    use_style()
    _register_compact_figures()  # every figure of the page as a compact palette PNG
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.width", 250)
    warnings.showwarning = _show
    warnings.simplefilter("default", AllianceWarning)
    _SHOWN.clear()
