"""The book: strict build, offline pages in a real browser, chapter hygiene."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
APPENDICES = sorted((ROOT / "appendices").glob("*.md"))
JUPYTEXT_HEADER = re.compile(r"^---\njupytext:\n.*?\nkernelspec:\n.*?\n---\n", re.DOTALL)

def test_chapters_are_myst_notebooks_without_outputs():
    assert CHAPTERS, "no chapters"
    assert not list((ROOT / "chapters").glob("*.ipynb")), "no paired .ipynb beside the .md"
    for md in CHAPTERS:
        text = md.read_text()
        assert JUPYTEXT_HEADER.match(text), f"{md.name}: jupytext header missing"
        assert "```{code-cell}" in text, f"{md.name}: no code cells"
        assert re.match(r"\d\d_", md.name), f"{md.name}: chapters are numbered in reading order"


def test_every_chapter_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    for md in CHAPTERS:
        assert f"chapters/{md.stem}" in toc, f"{md.name} is not in _toc.yml"
    for md in APPENDICES:
        assert f"appendices/{md.stem}" in toc, f"{md.name} is not in _toc.yml"
        assert JUPYTEXT_HEADER.match(md.read_text()), f"{md.name}: jupytext header missing"


def test_build_executes_every_chapter(built_book):
    for md in CHAPTERS:
        html = built_book / "chapters" / f"{md.stem}.html"
        assert html.exists(), html
        assert "cell_output" in html.read_text(), f"{md.name}: no executed output"


def test_every_glued_value_is_unchanged(built_book):
    """Every number the prose prints equals the frozen one (a refactoring changes none).

    A deliberate change (a new default, a corrected model) re-freezes
    ``tests/reference/book_glue.json`` with ``tests/glue_values.py`` in the same commit.
    """
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("glue_values", ROOT / "tests" / "glue_values.py")
    glue_values = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(glue_values)
    frozen = json.loads((ROOT / "tests" / "reference" / "book_glue.json").read_text())["pages"]
    built = glue_values.collect(built_book)
    assert set(built) == set(frozen), "chapters added or removed: re-freeze book_glue.json"
    for page, values in frozen.items():
        assert len(built[page]) == len(values), f"{page}: {len(built[page])} glued values, frozen {len(values)}"
        changed = [(i, old, new) for i, (old, new) in enumerate(zip(values, built[page]))
                   if old is not None and old != new]
        assert not changed, f"{page}: glued values changed (position, frozen, built): {changed}"


_RANGE = re.compile(
    r'(?:between|from)\s+<span class="pasted-text">([^<]*)</span>\s*(?:and|to)\s+'
    r'<span class="pasted-text">([^<]*)</span>')


def test_no_glued_range_has_two_equal_ends(built_book):
    """A sentence such as "between 0.0110 and 0.0110" contradicts itself: the prose must say what
    the numbers show (a difference too small to print), not a range that is not one."""
    bad = {}
    for page in sorted((built_book / "chapters").glob("*.html")):
        same = [(a, b) for a, b in _RANGE.findall(page.read_text()) if a.strip() == b.strip()]
        if same:
            bad[page.name] = same
    assert not bad, bad


def _pages(built_book):
    return sorted(p.relative_to(built_book).as_posix() for p in built_book.rglob("*.html")
                  if not p.relative_to(built_book).as_posix().startswith(("_static", "_sources")))


def test_no_page_loads_anything_from_a_cdn(built_book):
    # Resources a page loads (src/href attributes, CSS imports) must be local. sphinx-thebe
    # writes an inert THEBE_JS_URL string into every page; it is only fetched when a reader
    # launches a live kernel, which this book disables (launch_buttons.thebe: false), and the
    # browser test below proves no request leaves the local server.
    loader = re.compile(r"""(?:src|href)=["']https?://[^"']*|@import\s+url\(["']?https?://""")
    for rel in _pages(built_book):
        text = (built_book / rel).read_text()
        for match in loader.findall(text):
            assert not any(c in match for c in (
                "cdn.jsdelivr", "cdnjs.cloudflare", "unpkg.com", "fonts.googleapis",
                "polyfill.io", "cdn.plot.ly", "mathjax")), f"{rel} loads {match}"


def test_every_page_loads_offline_without_errors(built_book, visit):
    pages = _pages(built_book)
    assert "intro.html" in pages and "status.html" in pages
    for rel in pages:
        visit(rel).assert_clean()


def test_chapter_1_figures_are_present(visit):
    report = visit("chapters/01_design.html")
    report.assert_clean()
    page = report.page
    figures = page.locator("figure")
    assert figures.count() >= 2
    for name in ("fig-trajectories", "fig-missingness"):
        img = page.locator(f"#{name} img")
        assert img.count() == 1, name
        img.scroll_into_view_if_needed()  # figures load as the reader scrolls to them
        page.wait_for_function("i => i.complete && i.naturalWidth > 100", arg=img.element_handle(),
                               timeout=10_000)
    captions = page.locator("figcaption").all_inner_texts()
    assert any("Fig. 1.1" in c for c in captions)


def test_math_is_typeset_when_the_book_is_built(visit):
    # MathJax runs at build time (_ext/light_pages.py): the page holds SVG with hidden MathML
    # for screen readers, and loads no MathJax
    report = visit("chapters/01_design.html")
    report.assert_clean()
    page = report.page
    assert page.locator("script[src*='mathjax'], script[src*='tex-chtml']").count() == 0
    math = page.locator("mjx-container[jax='SVG']")
    assert math.count() > 3
    assert page.locator("mjx-container mjx-assistive-mml math").count() == math.count()
    assert "\\(" not in page.locator("article").inner_text(), "untypeset TeX on the page"


def test_status_page_lists_execution_times_and_versions(built_book):
    text = (built_book / "status.html").read_text()
    assert "01_design" in text and "statsmodels" in text and "alliance" in text


def test_plotly_is_vendored_and_nothing_else(built_book):
    # plotly.js is served by the book itself, from the npm registry package pinned in
    # vendor/package-lock.json; MathJax runs when the book is built and is not in the site
    # (no widget manager either: no page embeds widget state); axe-core is for the tests only.
    static = built_book / "_static"
    assert (static / "plotly" / "plotly-gl3d.min.js").stat().st_size > 500_000
    assert not (static / "widgets").exists()
    assert not (static / "mathjax").exists()
    assert not list(built_book.rglob("axe*.js"))
    # the theme's 1.5 MB Font Awesome script is replaced by an empty one (its CSS draws the icons)
    assert (static / "scripts" / "fontawesome.js").stat().st_size < 1_000

    def size(folder):
        return sum(p.stat().st_size for p in (static / folder).rglob("*") if p.is_file())

    assert size("plotly") < 2_000_000


# --- what a reader takes away: downloadable notebooks, no path of the build machine -------------

def _load(name: str, path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_IMG = re.compile(r'<img[^>]*\bsrc="([^"]+)"')


def _page_images(page: Path) -> list[Path]:
    """The images a page shows in its text (figures and cell outputs), as files of the site."""
    text = page.read_text(encoding="utf-8")
    main = text[text.find('<article class="bd-article"'):text.rfind("</article>")]
    out = []
    for src in _IMG.findall(main):
        if src.startswith(("http:", "https:", "data:")):
            continue
        out.append((page.parent / src).resolve())
    return out


def _notebook_images(nb) -> set[str]:
    """SHA-256 of every image a notebook holds: cell outputs and markdown attachments."""
    import base64
    import hashlib

    def digest(mime, data):
        raw = data.encode() if mime == "image/svg+xml" else base64.b64decode(data)
        return hashlib.sha256(raw).hexdigest()

    found = set()
    for cell in nb.cells:
        bundles = [o.get("data", {}) for o in cell.get("outputs", [])]
        bundles += list(cell.get("attachments", {}).values())
        for b in bundles:
            for mime, data in b.items():
                if mime.startswith("image/"):
                    found.add(digest(mime, "".join(data) if isinstance(data, list) else data))
    return found


def _smart(text: str) -> str:
    """Text as Sphinx's smart quotes print it (quotes compared as plain ASCII)."""
    for a, b in (("---", "\u2014"), ("--", "\u2013"), ("...", "\u2026"), ("\u2018", "'"),
                 ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"')):
        text = text.replace(a, b)
    return text


def test_every_downloadable_notebook_shows_the_pages_numbers_and_figures(built_book):
    """The notebook of each page's download menu opens in plain Jupyter as the page reads: no glue
    placeholder left, every glued value the page prints in its text, every image of the page
    embedded (the same bytes)."""
    import hashlib

    import nbformat

    sn = _load("standalone_notebooks", ROOT / "_ext" / "standalone_notebooks.py")
    printed = _load("glue_values", ROOT / "tests" / "glue_values.py").collect(built_book)
    notebooks = sorted((built_book / "_sources").rglob("*.ipynb"))
    stems = {p.relative_to(built_book / "_sources").with_suffix("").as_posix() for p in notebooks}
    assert {f"chapters/{md.stem}" for md in CHAPTERS} <= stems, "a chapter has no notebook"
    for path in notebooks:
        rel = path.relative_to(built_book / "_sources").with_suffix("").as_posix()
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        left = sn.GLUE_LEFT.findall(text)
        assert not left, f"{rel}.ipynb: {len(left)} glue placeholders left"
        for markup in ("{literalinclude}", "{numref}", "{glue:figure}", "{solution-start}"):
            assert markup not in text, f"{rel}.ipynb: {markup} left, which Jupyter cannot show"
        rest = _smart(text)
        for value in printed.get(rel, []):  # in page order
            if value is None:  # not a result (a reading time, an R comparison): not compared
                continue
            value = _smart(value)
            at = rest.find(value)
            assert at >= 0, f"{rel}.ipynb: the page prints {value!r} here, the notebook does not"
            rest = rest[at + len(value):]
        held = _notebook_images(nb)
        for img in _page_images(built_book / f"{rel}.html"):
            assert hashlib.sha256(img.read_bytes()).hexdigest() in held, \
                f"{rel}.ipynb: the page's image {img.name} is not in the notebook"


def test_a_downloaded_notebook_reexecutes_to_the_same_numbers(built_book, tmp_path):
    """Chapter 1's downloaded notebook, run top to bottom in a fresh kernel in an empty folder (as
    a reader does after downloading it): no error, and every value it glues is the value the page
    and the notebook's text were built from."""
    import json

    import nbformat
    from nbclient import NotebookClient

    sn = _load("standalone_notebooks", ROOT / "_ext" / "standalone_notebooks.py")
    name = "chapters/01_design"
    nb = nbformat.read(built_book / "_sources" / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    executed = built_book.parent / "jupyter_execute" / f"{name}.ipynb"
    glue_json = executed.with_name(executed.stem + ".glue.json")
    built = sn.glue_values(json.loads(executed.read_text()), json.loads(glue_json.read_text()))
    again = sn.glue_values(nb)
    not_results = _load("glue_values", ROOT / "tests" / "glue_values.py").NOT_RESULTS
    # cells tagged book-only (a page's reading time, a comparison with the repository's R fits)
    # are not in the download; what they glue is not a result
    assert set(again) <= set(built) and all(k.endswith(not_results) for k in set(built) - set(again)), \
        "the re-run glues other values than the build did"
    built = {k: v for k, v in built.items() if k in again}
    for key, bundle in built.items():
        if "text/plain" in bundle and not any(m.startswith("image/") for m in bundle):
            assert again[key]["text/plain"] == bundle["text/plain"], key
        else:
            assert any(m.startswith("image/") for m in again[key]), f"{key}: no figure on re-run"


_MACHINE_PATHS = re.compile(r"(?<![\w.])/(?:work|tmp|home|root)/[\w.-]")


def test_no_page_or_notebook_shows_a_path_of_the_build_machine(built_book):
    """Outputs, error messages and notebooks name files relative to the book, never by the
    absolute path they had on the machine that built it."""
    build_dirs = {str(ROOT), str(built_book.parent.parent)}
    files = [p for p in built_book.rglob("*")
             if p.suffix in (".html", ".ipynb", ".md", ".txt", ".json", ".js")
             and not p.relative_to(built_book).as_posix().startswith("_static/")]
    assert any(p.suffix == ".ipynb" for p in files)
    bad = {}
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        hits = [d for d in build_dirs if d in text] + _MACHINE_PATHS.findall(text)
        if hits:
            bad[path.relative_to(built_book).as_posix()] = sorted(set(hits))[:5]
    assert not bad, bad
