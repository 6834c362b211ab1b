"""The notebooks a reader downloads stand alone: glued values and figures written into them.

A chapter prints its numbers with MyST-NB's ``glue`` (``{glue:text}`key:fmt```
in the prose, ``{glue:figure}`` directives for figures). Plain Jupyter knows
neither, so the executed notebook that the build writes would show the
placeholders instead of the numbers, and no figure. :func:`standalone` turns
the executed notebook into the one the download menu offers:

* every ``{glue:text}``, ``{glue}``/``{glue:any}`` and ``{glue:md}`` role in a
  markdown cell is replaced by its value, formatted exactly as on the page
  (MyST-NB's own ``format_plain_text``);
* every ``{glue:figure}`` (and ``{glue}``/``{glue:any}`` directive) becomes the
  glued image, embedded in the markdown cell as a notebook attachment
  (``![alt](attachment:<key>.png)``, shown by Jupyter, JupyterLab, VS Code and
  nbconvert), followed by its number and caption;
* ``{numref}`` and ``{ref}`` roles become the figure number or section title
  they show on the page (when the build can resolve them), ``{cite}`` roles the
  citation keys of the book's bibliography, label targets HTML anchors,
  admonitions, exercises and solutions block quotes, and ``{literalinclude}``
  blocks the source code they show;
* the code cells that compute the glued values are kept, so that "Run all" in a
  fresh kernel with the package installed computes the same values again; cells
  the page hides keep their code, collapsed (``metadata.jupyter.source_hidden``);
* cells tagged ``book-only`` (what only the book's build can compute: a page's reading
  time from its source, a comparison with the repository's frozen R fits) are left
  out; their glued values are already in the text;
* sphinx-design tabs become one section per tab (the tab's title in bold),
  ``{term}`` roles their text, and the instructor's ``{course-plan}`` a pointer to
  the page;
* a first markdown cell says what the notebook is and how to re-run it.

Nothing here depends on Sphinx: the build calls :func:`standalone` with the
figure numbers and labels it knows (``get_it.py``), and the tests call it on small
notebooks.
"""

from __future__ import annotations

import base64
import copy
import re

__all__ = ["BOOK_ONLY", "GLUE_LEFT", "glue_values", "standalone"]

#: What must not be left in a downloadable notebook's markdown (MyST-NB's glue syntax).
GLUE_LEFT = re.compile(r"\{glue(?::[a-z]+)?\}")

_ROLE = re.compile(r"\{(glue(?::(?:text|any|md))?)\}`([^`]+)`")
# a fenced glue directive: ``` or ::: fences (colon_fence), any length; options as :key: value
_DIRECTIVE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{(?P<name>glue(?::(?:figure|any))?)\}[ \t]+(?P<key>\S+)[ \t]*\n"
    r"(?P<body>.*?)^(?P=fence)[ \t]*$\n?",
    re.DOTALL | re.MULTILINE)
_OPTION = re.compile(r"^:([\w-]+):[ \t]*(.*)$")
_TARGET = re.compile(r"^\(([\w.:-]+)\)=[ \t]*$", re.MULTILINE)
# admonitions and sphinx-exercise's directives (plain and gated), shown as block quotes
_BLOCK = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{(?P<name>admonition|note|tip|hint|important|warning|caution|"
    r"attention|seealso|exercise|solution|exercise-start|solution-start|exercise-end|solution-end)"
    r"\}[ \t]*(?P<arg>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$\n?",
    re.DOTALL | re.MULTILINE)
_INCLUDE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{literalinclude\}[ \t]+(?P<path>\S+)[ \t]*\n(?P<body>.*?)"
    r"^(?P=fence)[ \t]*$\n?", re.DOTALL | re.MULTILINE)
_CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
_TERM = re.compile(r"\{term\}`([^`]+)`")
# sphinx-design tabs (colon fences): the set's fences and options go, each tab's title stays
_TAB_SET = re.compile(r"^:{3,}\{tab-set\}[ \t]*\n((?::[\w-]+:.*\n)*)|^:{3,}[ \t]*$\n?",
                      re.MULTILINE)
_TAB_ITEM = re.compile(r"^:{3,}\{tab-item\}[ \t]*(?P<title>[^\n]*)\n(?P<opts>(?::[\w-]+:.*\n)*)",
                       re.MULTILINE)
_COURSE_PLAN = re.compile(r"^(`{3,}|:{3,})\{course-plan\}[ \t]*\n(?:.*?\n)?^\1[ \t]*$\n?",
                          re.MULTILINE | re.DOTALL)
#: Cells only the book's build can run (see the module docstring).
BOOK_ONLY = "book-only"
_NUMREF = re.compile(r"\{numref\}`([^`]+)`")
_REF = re.compile(r"\{ref\}`([^`]+)`")
_EXPLICIT = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.DOTALL)
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")


def _bundle(output: dict) -> tuple[str, dict] | None:
    book = (output.get("metadata") or {}).get("scrapbook")
    if not book or "name" not in book:
        return None
    prefix = book.get("mime_prefix", "") or ""
    return book["name"], {(k[len(prefix):] if prefix and k.startswith(prefix) else k): v
                          for k, v in (output.get("data") or {}).items()}


def glue_values(nb: dict, glue_json: dict | None = None) -> dict[str, dict]:
    """``{key: mime bundle}`` of every ``glue`` call of an executed notebook.

    MyST-NB marks a glued output with ``metadata.scrapbook.name`` (MIME types prefixed
    by ``scrapbook.mime_prefix`` when ``display=False``; the prefix is removed here).
    It keeps the outputs of ``display=True`` calls in the notebook it writes but moves
    those of ``display=False`` calls to ``<page>.glue.json`` beside it: pass that file's
    content as ``glue_json``. A key glued twice keeps its last value (as the page does).
    """
    out: dict[str, dict] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            found = _bundle(output)
            if found:
                out[found[0]] = found[1]
    for key, output in (glue_json or {}).items():
        found = _bundle(output)
        out[key] = found[1] if found else dict(output.get("data") or {})
    return out


def _text(src) -> str:
    return "".join(src) if isinstance(src, list) else (src or "")


def _format_plain(text: str, fmt: str) -> str:
    try:  # MyST-NB's own formatting, so the notebook prints what the page prints
        from myst_nb.core.variables import format_plain_text
    except ImportError:  # pragma: no cover - the book's environment always has myst_nb
        from ast import literal_eval

        def format_plain_text(text, fmt):
            try:
                value = literal_eval(text)
            except (SyntaxError, ValueError):
                value = text
            if not fmt:
                return str(value)
            kind = fmt[-1]
            value = (str(value) if kind == "s" else int(value) if kind in "bcdoxX"
                     else float(value) if kind in "eEfFgGn%" else value)
            return format(value, fmt)
    return format_plain_text(text, fmt)


def _image(bundle: dict):
    for mime in _IMAGE_TYPES:
        if mime in bundle:
            data = _text(bundle[mime])
            if mime == "image/svg+xml":
                data = base64.b64encode(data.encode("utf-8")).decode("ascii")
            return mime, data.replace("\n", "")
    return None


def _alt(text: str) -> str:
    return " ".join(text.split()).replace("[", "(").replace("]", ")")


class _Rewriter:
    def __init__(self, glue: dict, figures: dict, labels: dict, where: str, include=None):
        self.glue, self.figures, self.labels, self.where = glue, figures, labels, where
        self.include = include

    def literal(self, m: re.Match) -> str:
        if self.include is None:
            return m.group(0)
        options = {}
        for line in m["body"].split("\n"):
            opt = _OPTION.match(line)
            if opt:
                options[opt.group(1)] = opt.group(2).strip()
        text = self.include(m["path"], options)
        return f"```{options.get('language', '')}\n{text.rstrip()}\n```\n"

    def value(self, key: str) -> dict:
        if "::" in key:
            raise KeyError(f"{self.where}: glue from another document ({key!r}) is not supported "
                           "in a downloadable notebook")
        if key not in self.glue:
            raise KeyError(f"{self.where}: no glued value {key!r} in the executed notebook")
        return self.glue[key]

    def attach(self, cell: dict, key: str, alt: str) -> str:
        found = _image(self.value(key))
        if found is None:
            raise KeyError(f"{self.where}: glued value {key!r} is not an image")
        mime, data = found
        ext = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg",
               "image/gif": "gif"}[mime]
        name = f"{re.sub(r'[^A-Za-z0-9_.-]', '-', key)}.{ext}"
        cell.setdefault("attachments", {})[name] = {mime: data}
        return f"![{_alt(alt or key)}](attachment:{name})"

    def role(self, cell: dict, kind: str, content: str) -> str:
        if "::" in content:
            self.value(content)  # raises: glue from another document
        if kind == "glue:text":
            key, _, fmt = content.rpartition(":") if ":" in content else (content, "", "")
            bundle = self.value(key)
            if "text/plain" not in bundle:
                raise KeyError(f"{self.where}: glued value {key!r} has no text")
            return _format_plain(_text(bundle["text/plain"]), fmt)
        bundle = self.value(content)
        if kind == "glue:md" or "text/markdown" in bundle:
            return _text(bundle["text/markdown"])
        if kind in ("glue", "glue:any") and _image(bundle):
            return self.attach(cell, content, content)
        if "text/plain" in bundle:
            return _format_plain(_text(bundle["text/plain"]), "")
        raise KeyError(f"{self.where}: glued value {content!r} has nothing a notebook can show")

    def directive(self, cell: dict, m: re.Match) -> str:
        key = m["key"]
        options, caption = {}, []
        lines = m["body"].split("\n")
        i = 0
        while i < len(lines) and _OPTION.match(lines[i]):
            k, v = _OPTION.match(lines[i]).groups()
            options[k] = v.strip()
            i += 1
        caption = "\n".join(lines[i:]).strip()
        bundle = self.value(key)
        if _image(bundle):
            shown = self.attach(cell, key, options.get("alt") or caption or key)
        elif "text/markdown" in bundle:
            shown = _text(bundle["text/markdown"])
        elif "text/plain" in bundle:
            shown = _format_plain(_text(bundle["text/plain"]), "")
        else:
            raise KeyError(f"{self.where}: glued value {key!r} has nothing a notebook can show")
        parts = []
        name = options.get("name")
        if name:
            parts.append(f'<a id="{name}"></a>')
        parts.append(shown)
        number = self.figures.get(name) if name else None
        if caption or number:
            lead = f"**{number[0] % number[1]}.** " if number else ""
            parts.append(f"{lead}{caption}")
        return "\n\n".join(parts) + "\n"

    def numref(self, content: str) -> str:
        m = _EXPLICIT.match(content)
        text, label = (m.group(1), m.group(2)) if m else (None, content)
        if label not in self.figures:
            return f"`{label}`"
        fmt, number = self.figures[label]
        if text:
            return text.replace("%s", number).replace("{number}", number)
        return fmt % number

    def ref(self, content: str) -> str:
        m = _EXPLICIT.match(content)
        if m:
            return m.group(1)
        return self.labels.get(content, content)

    def block(self, m: re.Match) -> str:
        name, arg = m["name"], m["arg"].strip()
        lines = m["body"].split("\n")
        options = {}
        while lines and _OPTION.match(lines[0]):
            k, v = _OPTION.match(lines[0]).groups()
            options[k] = v.strip()
            lines.pop(0)
        body = "\n".join(lines).strip()
        if name.endswith("-end"):
            return ""
        kind = name.removesuffix("-start")
        if kind == "exercise":
            label = options.get("label")
            head = self.numref(label) if label in self.figures else "Exercise"
            head += f": {arg}" if arg else ""
        elif kind == "solution":
            head = "Solution" + (f" to {self.numref(arg)}" if arg in self.figures else "")
        elif kind == "admonition":
            head = arg
        else:
            head = kind.capitalize() + (f": {arg}" if arg else "")
        anchor = f'<a id="{options["label"]}"></a>\n\n' if "label" in options else ""
        text = "\n\n".join(part for part in (f"**{head}**" if head else "", body) if part)
        quoted = "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))
        return anchor + quoted + "\n"

    def markdown(self, cell: dict) -> None:
        src = _text(cell.get("source"))
        src = _TARGET.sub(lambda m: f'<a id="{m.group(1)}"></a>', src)
        src = _DIRECTIVE.sub(lambda m: self.directive(cell, m), src)
        src = _BLOCK.sub(self.block, src)
        src = _INCLUDE.sub(self.literal, src)
        src = _COURSE_PLAN.sub("*(The week plan, with the reading and lab times of the build, is "
                               "on the book's page.)*\n", src)
        src = _TAB_ITEM.sub(lambda m: f"**{m['title'].strip()}**\n\n", src)
        src = _TAB_SET.sub("", src)
        src = _TERM.sub(lambda m: (_EXPLICIT.match(m.group(1)).group(1)
                                   if _EXPLICIT.match(m.group(1)) else m.group(1)), src)
        src = _CITE.sub(lambda m: "(" + "; ".join(k.strip() for k in m.group(1).split(",")) + ")",
                        src)
        src = _ROLE.sub(lambda m: self.role(cell, m.group(1), m.group(2)), src)
        src = _NUMREF.sub(lambda m: self.numref(m.group(1)), src)
        src = _REF.sub(lambda m: self.ref(m.group(1)), src)
        cell["source"] = src


_HIDE_SOURCE = {"hide-input", "remove-input", "hide-cell", "remove-cell"}
_HIDE_OUTPUT = {"hide-output", "remove-output", "remove-cell"}


def standalone(nb: dict, glue_json: dict | None = None, *,
               figures: dict[str, tuple[str, str]] | None = None,
               labels: dict[str, str] | None = None, intro: str = "",
               where: str = "notebook", include=None) -> dict:
    """The downloadable version of an executed chapter notebook (a new dict; ``nb`` unchanged).

    Parameters
    ----------
    nb : dict
        The executed notebook (nbformat 4 JSON, as MyST-NB writes it).
    glue_json : dict, optional
        The content of the ``<page>.glue.json`` MyST-NB writes beside it (the values glued
        with ``display=False``, which are not in the notebook).
    figures : dict, optional
        ``{label: ("Fig. %s", "1.1")}``: the format and number the page gives each numbered
        figure or table (for captions and ``{numref}``).
    labels : dict, optional
        ``{label: title}`` for ``{ref}`` roles without explicit text.
    intro : str
        Markdown of a first cell (what the notebook is, how to re-run it); none if empty.
    where : str
        The notebook's name, for error messages.
    include : callable, optional
        ``include(path, options) -> text``: the text a ``{literalinclude}`` of ``path`` with
        these options shows on the page (the build passes Sphinx's own reader); without it
        such blocks are left as they are.

    Raises
    ------
    KeyError
        When the prose uses a glued key the notebook does not hold (the page itself would
        not build), or a glued value that a notebook cannot show.
    """
    out = copy.deepcopy(nb)
    rw = _Rewriter(glue_values(nb, glue_json), dict(figures or {}), dict(labels or {}), where,
                   include)
    out["cells"] = [c for c in out.get("cells", [])
                    if BOOK_ONLY not in set((c.get("metadata") or {}).get("tags", []))]
    for cell in out.get("cells", []):
        if cell.get("cell_type") == "markdown":
            rw.markdown(cell)
        elif cell.get("cell_type") == "code":
            tags = set((cell.get("metadata") or {}).get("tags", []))
            jup = {}
            if tags & _HIDE_SOURCE:
                jup["source_hidden"] = True
            if tags & _HIDE_OUTPUT:
                jup["outputs_hidden"] = True
            if jup:
                cell.setdefault("metadata", {}).setdefault("jupyter", {}).update(jup)
    if intro:
        out["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": intro})
    # cell ids must be unique (nbformat >= 4.5); the new first cell gets its own
    if out.get("nbformat", 4) == 4 and out.get("nbformat_minor", 0) >= 5 and intro:
        taken = {c.get("id") for c in out["cells"]}
        new_id = "standalone-intro"
        while new_id in taken:
            new_id += "-"
        out["cells"][0]["id"] = new_id
    return out
