"""Light, accessible pages: what each page loads is what it needs.

* **Math is typeset when the book is built**, not in the reader's browser: every
  formula of a page (``\\(...\\)`` and ``\\[...\\]`` from Sphinx's MathJax output) is
  turned into SVG by MathJax running in Node (``_ext/render_math.js``, with the
  MathJax npm package that ``make vendor`` puts in ``.vendor/mathjax-node``), with
  hidden MathML that screen readers read. Glyphs a page's formulas share are defined
  once per page. No page loads MathJax (1.2 MB); a TeX error is a build warning (the
  strict build fails).
* **Only what a page uses**: sphinx-design's stylesheet and script only on pages
  with its components; sphinx-thebe's stylesheet nowhere (live kernels are off).
  The theme's icon script (1.5 MB of Font Awesome as JavaScript) is replaced by an
  empty file (``book_static/scripts/fontawesome.js``): the theme's stylesheet
  already draws the same icons with its web font. Sphinx's search scripts and index
  load only on the search page (``_templates/layout.html``; the theme's search box
  submits to that page).
* **Figures open full size**: every figure image is a link to the image itself, and is
  fetched when the reader scrolls near it (``loading="lazy"``), not with the page.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

_INLINE = re.compile(r'<span class="math notranslate nohighlight">\\\((.*?)\\\)</span>', re.DOTALL)
_DISPLAY = re.compile(r'(<div class="math notranslate nohighlight"[^>]*>)(.*?)(</div>)', re.DOTALL)
_DISPLAY_TEX = re.compile(r"\\\[(.*?)\\\]", re.DOTALL)
_IMG = re.compile(r'<img [^>]*src="([^"]*_images/[^"]+)"[^>]*>')


class _MathRenderer:
    """One Node process for the whole build: TeX in, SVG out."""

    def __init__(self, mathjax_dir: Path):
        script = Path(__file__).with_name("render_math.js")
        node = shutil.which("node") or shutil.which("nodejs")
        if node is None:
            raise RuntimeError("node is not installed (it typesets the book's math at build time)")
        self.proc = subprocess.Popen([node, str(script), str(mathjax_dir)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     encoding="utf-8")
        first = self.proc.stdout.readline()
        if not first:
            raise RuntimeError("MathJax did not start: " + self.proc.stderr.read()[-2000:])
        self.css = json.loads(first)["css"]

    def render(self, items: list[tuple[str, bool]]) -> dict:
        self.proc.stdin.write(json.dumps({"items": items}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("MathJax stopped: " + self.proc.stderr.read()[-2000:])
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _renderer(app):
    if getattr(app, "_light_math", None) is None and not getattr(app, "_light_math_failed", False):
        mathjax_dir = Path(app.srcdir) / ".vendor" / "mathjax-node"
        try:
            if not (mathjax_dir / "node-main.js").exists():
                raise RuntimeError(f"{mathjax_dir} is missing (run `make vendor`)")
            app._light_math = _MathRenderer(mathjax_dir)
        except (OSError, RuntimeError) as exc:
            app._light_math_failed = True
            logger.warning(f"math is left to MathJax in the browser: {exc}", type="light_pages")
    return getattr(app, "_light_math", None)


def _typeset(app, pagename: str, body: str) -> str | None:
    """The page body with every formula as SVG (None: no math on the page, or no renderer)."""
    items: list[tuple[str, bool]] = []
    inline = list(_INLINE.finditer(body))
    display = list(_DISPLAY.finditer(body))
    if not inline and not display:
        return None
    renderer = _renderer(app)
    if renderer is None:
        return None
    for m in inline:
        items.append((html.unescape(m.group(1)), False))
    display_parts = []
    for m in display:
        inner = m.group(2)
        tex = _DISPLAY_TEX.search(inner)
        display_parts.append(tex)
        items.append((html.unescape(tex.group(1) if tex else inner), True))
    reply = renderer.render(items)
    for index, message in reply["errors"]:
        logger.warning(f"{pagename}: TeX error in {items[index][0][:80]!r}: {message}",
                       type="light_pages")
    out = reply["html"]
    replacements = []  # (start, end, text), applied from the end
    for k, m in enumerate(inline):
        replacements.append((m.start(), m.end(),
                             f'<span class="math notranslate nohighlight">{out[k]}</span>'))
    for j, m in enumerate(display):
        svg = out[len(inline) + j]
        tex = display_parts[j]
        inner = m.group(2)
        inner = inner[:tex.start()] + svg + inner[tex.end():] if tex else svg
        replacements.append((m.start(), m.end(), m.group(1) + inner + m.group(3)))
    for start, end, text in sorted(replacements, reverse=True):
        body = body[:start] + text + body[end:]
    cache = (f'<svg id="MJX-SVG-global-cache" xmlns="http://www.w3.org/2000/svg" '
             f'style="display: none" aria-hidden="true">{reply["cache"]}</svg>')
    return f"<style>{renderer.css}</style>{cache}{body}"


def _zoomable(body: str) -> str:
    """Every figure image a link to itself (a tap or click opens it full size), fetched when
    the reader scrolls near it. Sphinx already links an image drawn at a set width (the
    book's figures: ``image-reference``); any other image gets the link here."""
    out, pos = [], 0
    for m in _IMG.finditer(body):
        img = m.group(0)
        if " loading=" not in img:  # fetched when the reader scrolls near it, not up front
            img = img.replace("<img ", '<img loading="lazy" decoding="async" ', 1)
        before = body[:m.start()]
        out.append(body[pos:m.start()])
        if before.rfind("<a ") > before.rfind("</a>"):
            out.append(img)  # already inside a link
        else:
            link = f'<a class="alliance-zoom" href="{m.group(1)}" title="Open the figure full size">'
            out += [link, img, "</a>"]
        pos = m.end()
    out.append(body[pos:])
    return "".join(out)


def _drop(files, predicate):
    keep = [f for f in files if not predicate(getattr(f, "filename", None) or "",
                                                (getattr(f, "attributes", None) or {}))]
    files[:] = keep


def _page(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if body is None:
        return
    typeset = _typeset(app, pagename, body)
    if typeset is not None:
        body = typeset
    has_math = typeset is not None or ('class="math' not in body)
    body = _zoomable(body)
    # docutils marks bibliography entries with the deprecated role doc-biblioentry inside a
    # role="list": a list's children must be list items (axe: aria-required-children)
    body = body.replace('role="doc-biblioentry"', 'role="listitem"')
    # myst-nb names its "Show code cell source" toggles "Toggle hidden content", a name that
    # leaves out the words on screen (axe: label-content-name-mismatch): let the words name them
    body = body.replace('<summary aria-label="Toggle hidden content">', "<summary>")
    context["body"] = body
    scripts = context.get("script_files")
    css = context.get("css_files")
    mathjax = app.config.mathjax_path
    if scripts is not None:
        if has_math:  # typeset here, or no math at all: MathJax is not needed
            _drop(scripts, lambda name, attrs: name in (mathjax, f"_static/{mathjax}")
                  or (attrs.get("body") or "").startswith("window.MathJax"))
        if "sd-tab" not in body:
            _drop(scripts, lambda name, attrs: name.endswith("design-tabs.js"))
    if css is not None:
        _drop(css, lambda name, attrs: name.endswith("sphinx-thebe.css"))
        if "sd-" not in body:
            _drop(css, lambda name, attrs: "sphinx-design" in name)


def _finished(app, exception):
    renderer = getattr(app, "_light_math", None)
    if renderer is not None:
        renderer.close()


def setup(app):
    # after sphinx.ext.mathjax (500) has added its script, before the page is written
    app.connect("html-page-context", _page, priority=800)
    app.connect("build-finished", _finished)
    return {"parallel_read_safe": True, "parallel_write_safe": False}
