"""One notation: every symbol a page writes in mathematics is defined once on the notation page.

The notation page (``notation.md``) is the book's single source of symbols. Each of its
symbol tables (a Markdown table whose first header cell is ``symbol``) defines, per row, the
symbol that the row's first math span begins with. This test extracts every symbol from the
mathematics of every page in ``_toc.yml`` (inline ``$...$`` and display ``$$...$$`` math in
the Markdown, including figure captions, exercises and solutions; never code) and fails on a
symbol that the notation page does not define, or defines twice.

What counts as a symbol: a Latin letter (case matters: ``x`` and ``X`` are two symbols), a
Greek letter or other command that is not pure layout (``\\beta``, ``\\Psi``), an accent that
carries meaning (``\\bar``: a mean, ``\\tilde``: a within-patient deviation, ``\\hat``: an
estimate) and an upright name (``\\mathrm{DE}``, ``\\operatorname{sign}``). Letters in
subscripts and superscripts are symbols too (``\\mu_P`` uses ``P``): a label that is not
itself a symbol is a word in ``\\text{...}`` (``\\tau^2_{\\text{therapist}}``), which is
ignored, as are digits and layout commands (``\\frac``, ``\\sum``, ``\\quad``...).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from alliance.course import page_text

ROOT = Path(__file__).resolve().parents[1]
NOTATION = ROOT / "notation.md"

#: LaTeX commands that only lay out or combine symbols (never a symbol themselves)
LAYOUT = {
    "frac", "tfrac", "dfrac", "sqrt", "sum", "prod", "left", "right", "big", "bigl", "bigr", "Big",
    "Bigl", "Bigr", "quad", "qquad", "dots", "ldots", "cdots", "cdot", "times", "top", "ge", "geq",
    "le", "leq", "ne", "neq", "approx", "sim", "log", "exp", "in", "pm", "mp", "to", "infty",
    "mid", "underbrace", "overbrace", "textstyle", "displaystyle", "begin", "end", "lvert",
    "rvert", "vert", "lVert", "rVert", "langle", "rangle", "partial", "equiv", "propto", "min",
    "max", "ln", "cap", "cup", "setminus", "lbrace", "rbrace", "prime", "circ", "ast", "star",
    "tag", "label", "nonumber", "notag", "limits", "nolimits", "widetilde", "overline",
    "underline", "phantom", "hphantom", "vphantom", "mathbf", "boldsymbol", "bm", "mathit",
    "mathcal", "leftarrow", "rightarrow", "Rightarrow", "iff", "land", "lor", "neg", "forall",
    "exists", "colon", "lfloor", "rfloor", "lceil", "rceil",
}
#: commands whose braced argument is words, not symbols
WORDS = {"text", "textrm", "textit", "textbf", "mbox", "texttt", "begin", "end", "label", "tag"}
#: commands whose braced argument is an upright name, which is one symbol (``\mathrm{DE}``)
NAMES = {"mathrm", "operatorname"}
#: accents that carry a meaning of their own (``\widehat`` is the wide ``\hat``)
ACCENT_ALIASES = {"widehat": "hat", "widetilde": "tilde"}
TOKEN = re.compile(r"\\([A-Za-z]+)|\\.|([A-Za-z])")
ROLE_TARGET = re.compile(r"\{(?:glue:text|glue|ref|numref|doc|term|cite:[pt]|cite|eq|download)\}`[^`]*`")


def toc_pages() -> list[Path]:
    """Every page of the book, in ``_toc.yml`` order (the root first)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc.get("parts", toc.get("chapters", [])))
    return [ROOT / f"{f}.md" for f in files]


def prose(text: str) -> str:
    """The Markdown a reader sees as text (:func:`alliance.course.page_text`), without roles' targets
    and inline code."""
    text = ROLE_TARGET.sub(" ", page_text(text))
    return re.sub(r"`[^`\n]*`", " ", text)  # inline code


def math_spans(text: str) -> list[str]:
    """Every ``$$...$$`` and ``$...$`` span of the prose, in order."""
    spans = []
    for m in re.finditer(r"\$\$(.+?)\$\$|(?<![\\$])\$([^$\n]+?)\$", text, flags=re.DOTALL):
        spans.append(m.group(1) if m.group(1) is not None else m.group(2))
    return spans


def _braced(s: str, i: int) -> tuple[str, int]:
    """The brace group starting at or after ``s[i]`` (``("", i)`` if none)."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s) or s[i] != "{":
        return "", i
    depth, j = 0, i
    while j < len(s):
        if s[j] == "{":
            depth += 1
        elif s[j] == "}":
            depth -= 1
            if depth == 0:
                return s[i + 1:j], j + 1
        j += 1
    return s[i + 1:], len(s)


def symbols(math: str) -> list[str]:
    """The symbols of one math span, in order (see the module docstring)."""
    out, i = [], 0
    while i < len(math):
        m = TOKEN.match(math, i)
        if not m:
            i += 1
            continue
        i = m.end()
        if m.group(2):
            out.append(m.group(2))
            continue
        name = m.group(1)
        if name is None:  # an escaped character such as \{ or \,
            continue
        if name in WORDS:
            _, i = _braced(math, i)
            continue
        if name in NAMES:
            arg, i = _braced(math, i)
            out.append(f"\\{name}{{{arg.strip()}}}")
            continue
        if name == "mathbb":
            arg, i = _braced(math, i)
            out.append(f"\\mathbb{{{arg.strip()}}}")
            continue
        if name in LAYOUT:
            continue
        out.append("\\" + ACCENT_ALIASES.get(name, name))
    return out


def definitions() -> Counter:
    """How often the notation page's symbol tables define each symbol."""
    defined: Counter = Counter()
    in_table = False
    for line in NOTATION.read_text().splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].lower() == "symbol":
            in_table = True
            continue
        if not in_table or set(cells[0]) <= set("-: "):
            continue
        spans = math_spans(cells[0])
        assert spans, f"notation.md: a row of a symbol table has no symbol: {line}"
        first = symbols(spans[0])
        assert first, f"notation.md: no symbol in {cells[0]!r}"
        defined[first[0]] += 1
    return defined


def test_the_notation_page_has_symbol_tables_and_a_glossary():
    text = NOTATION.read_text()
    assert len(definitions()) > 40
    assert "```{glossary}" in text


def test_no_symbol_is_defined_twice():
    twice = {s: n for s, n in definitions().items() if n > 1}
    assert not twice, f"notation.md defines these symbols more than once: {twice}"


@pytest.mark.parametrize("page", toc_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_symbol_of_a_page_is_defined_on_the_notation_page(page):
    defined = definitions()
    used: dict[str, list[str]] = {}
    for span in math_spans(prose(page.read_text())):
        for sym in symbols(span):
            if sym not in defined:
                used.setdefault(sym, []).append(span.strip()[:60])
    assert not used, (f"{page.relative_to(ROOT)} writes symbols that notation.md does not define "
                      f"(symbol: the math it appears in): {used}")


def test_the_extractor_reads_math_as_described():
    assert symbols(r"\tau^2_{\text{therapist}} + \bar P_i") == ["\\tau", "\\bar", "P", "i"]
    assert symbols(r"\mathrm{DE} = 1 + (\bar m - 1)\,\mathrm{ICC}") == [
        "\\mathrm{DE}", "\\bar", "m", "\\mathrm{ICC}"]
    assert symbols(r"\widehat{\text{power}} \le \frac{1}{B}") == ["\\hat", "B"]
    text = "```{code-cell} ipython3\nx = '$a$'\n```\nA $b_1$ and `$c$`, {glue:text}`d`.\n"
    assert [symbols(s) for s in math_spans(prose(text))] == [["b"]]
    nested = "````{solution} ex\n:class: dropdown\n\nSee $k$.\n```python\ny = '$q$'\n```\n````\n"
    assert [symbols(s) for s in math_spans(prose(nested))] == [["k"]]
