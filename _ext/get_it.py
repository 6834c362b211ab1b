"""Everything a reader can take away from the site: notebooks, data, the source, and a repository link.

* Every executed notebook page gets, in the theme's download menu, its executed
  notebook (``.ipynb``), the data (``sessions.csv`` and its codebook) and the whole
  source of the book as a zip archive, beside the theme's ``.md`` and print-to-PDF.
  The notebook stands alone in plain Jupyter: every glued number and figure is
  written into its text (``standalone_notebooks.py``), and its code cells recompute
  them.
* The data files and the source archive are written into ``_build/html/downloads/``
  when the build finishes (the archive holds the files git tracks, so it is exactly
  the repository at the built commit; without git it is not made and not linked).
* A repository button appears when the checkout has a web remote (``https://...``);
  a local or missing remote gives none, so no page links to an address that does
  not exist.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

from standalone_notebooks import standalone

DOWNLOADS = "downloads"
SOURCE_ZIP = "alliance-book-source.zip"
CITATION_CFF = "CITATION.cff"
CITATION_BIB = "alliance-book.bib"


def _root(app) -> Path:
    return Path(app.srcdir)


def _git(app, *args) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=_root(app), capture_output=True, text=True,
                             timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _data_files(app) -> dict[str, Path]:
    root = _root(app)
    return {"sessions.csv": root / "src" / "alliance" / "data" / "files" / "sessions.csv",
            "codebook.md": root / "data" / "README.md"}


def _remote(app, config) -> None:
    """config-inited: a repository button for a web remote; whether a source archive can be made."""
    url = _git(app, "remote", "get-url", "origin") or ""
    if url.startswith("git@github.com:"):
        url = "https://github.com/" + url.split(":", 1)[1]
    if url.startswith(("https://", "http://")):
        url = url.removesuffix(".git")
        opts = config.html_theme_options
        opts["repository_url"] = url
        opts["use_repository_button"] = True
    app.get_it_has_source = bool(_git(app, "rev-parse", "HEAD"))


def _footer(app, pagename, templatename, context, doctree):
    """The footer of every page: synthetic-data notice, licence, version, how to cite."""
    from alliance import __version__  # the package the book documents (installed in the build)

    cite = f'{context["pathto"]("intro")}#how-to-cite'
    files = context["pathto"](DOWNLOADS, 1)
    context["theme_extra_footer"] = (
        "<p>All numbers in this book are computed from <b>synthetic</b> data unless a chapter says "
        f"otherwise. Package <code>alliance</code> {__version__}. Code and data: MIT licence. "
        f'<a href="{cite}">How to cite</a>: <a href="{files}/{CITATION_CFF}" download>'
        f'CITATION.cff</a>, <a href="{files}/{CITATION_BIB}" download>BibTeX</a>.</p>')


def _numbers_and_titles(app) -> tuple[dict, dict]:
    """``{label: (format, number)}`` of every numbered figure or table and ``{label: title}``
    of every label, as the pages show them (computed once per build)."""
    cached = getattr(app, "get_it_numbers", None)
    if cached is not None:
        return cached
    env = app.env
    std = env.get_domain("std")
    formats = app.config.numfig_format or {}
    numbers, titles = {}, {}
    for label, (docname, labelid, title) in std.labels.items():
        if title:
            titles[label] = title
        for figtype, ids in env.toc_fignumbers.get(docname, {}).items():
            if labelid in ids:  # figures, tables, code blocks, exercises (sphinx-exercise)
                fmt = formats.get(figtype) or f"{figtype.capitalize()} %s"
                numbers[label] = (fmt, ".".join(map(str, ids[labelid])))
    app.get_it_numbers = (numbers, titles)
    return app.get_it_numbers


_INTRO = """\
**{title}**, a page of *{book}*, as an executed Jupyter notebook (package `alliance` {version}).
Every number and figure in the text was computed by the code cells below when the book was built, from
**synthetic** data (one seeded draw of `alliance.simulate`, not the trial's data). The cells the web
page hides are kept, collapsed: to compute everything again, install the package with the book's
extras (from the source archive: `pip install -e ".[book]"`) and run all cells in a fresh kernel.
"""


def _standalone_notebook(app, pagename: str, source: Path, target: Path, title: str) -> None:
    """Write the downloadable notebook of a page: glued values and figures in its text."""
    from alliance import __version__

    nb = json.loads(source.read_text(encoding="utf-8"))
    glue_file = source.with_name(source.stem + ".glue.json")
    glue = json.loads(glue_file.read_text(encoding="utf-8")) if glue_file.exists() else None
    figures, titles = _numbers_and_titles(app)
    intro = _INTRO.format(title=title or pagename, version=__version__,
                          book=app.config.html_title or app.config.project)

    def include(path: str, options: dict) -> str:
        from sphinx.directives.code import LiteralInclude, LiteralIncludeReader

        where = (Path(app.srcdir) / pagename).parent / path
        # the option values as the directive itself converts them (``:dedent: 2`` is a number)
        spec = LiteralInclude.option_spec
        options = {k: (spec[k](v) if k in spec and spec[k] is not None else v)
                   for k, v in options.items()}
        return LiteralIncludeReader(str(where), options, app.config).read()[0]

    out = standalone(nb, glue, figures=figures, labels=titles, intro=intro,
                     where=f"{pagename}.ipynb", include=include)
    target.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _page(app, pagename, templatename, context, doctree):
    buttons = context.get("header_buttons")
    if not buttons or not context.get("page_source_suffix"):
        return
    group = next((b for b in buttons if b.get("label") == "download-buttons"), None)
    if group is None:
        return
    pathto = context["pathto"]
    out = Path(app.outdir)
    notebook = out.parent / "jupyter_execute" / f"{pagename}.ipynb"
    extra = []
    if notebook.exists():
        target = out / "_sources" / f"{pagename}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        _standalone_notebook(app, pagename, notebook, target, _plain(context.get("title", "")))
        extra.append({"type": "link", "url": f"{pathto('_sources', 1)}/{pagename}.ipynb",
                      "text": ".ipynb (executed)", "icon": "fas fa-code",
                      "tooltip": "Download this chapter as an executed notebook",
                      "label": "download-notebook-button"})
    for name in _data_files(app):
        extra.append({"type": "link", "url": f"{pathto(DOWNLOADS, 1)}/{name}",
                      "text": name, "icon": "fas fa-table",
                      "tooltip": f"Download the synthetic data ({name})",
                      "label": f"download-{name.replace('.', '-')}-button"})
    if getattr(app, "get_it_has_source", False):
        extra.append({"type": "link", "url": f"{pathto(DOWNLOADS, 1)}/{SOURCE_ZIP}",
                      "text": "source (.zip)", "icon": "fas fa-file-archive",
                      "tooltip": "Download the whole book and package to run it yourself",
                      "label": "download-source-archive-button"})
    group["buttons"] = extra + group["buttons"]


def _plain(html: str) -> str:
    """A page title without its markup."""
    import html as _html
    import re

    return _html.unescape(re.sub(r"<[^>]+>", "", html or "")).strip()


def bibtex(cff: dict, year: str) -> str:
    """The book's citation (CITATION.cff, the one source) as a BibTeX entry."""
    authors = " and ".join(
        "{" + a["name"] + "}" if "name" in a else f"{a['family-names']}, {a['given-names']}"
        for a in cff.get("authors", []))
    fields = {"title": "{" + cff["title"] + "}", "author": authors, "year": year,
              "version": cff.get("version", ""), "license": cff.get("license", ""),
              "url": cff.get("repository-code", cff.get("url", "")),
              "note": "All numbers in the book are computed from synthetic data"}
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields.items() if v)
    return f"@software{{alliance_book,\n{body}\n}}\n"


def _finished(app, exception):
    if exception is not None or app.builder.name != "html":
        return
    dest = Path(app.outdir) / DOWNLOADS
    dest.mkdir(parents=True, exist_ok=True)
    for name, path in _data_files(app).items():
        shutil.copy2(path, dest / name)
    cff = _root(app) / CITATION_CFF  # the citation, downloadable from every page's footer
    if cff.is_file():
        import yaml  # installed with Jupyter Book

        shutil.copy2(cff, dest / CITATION_CFF)
        year = str(app.config.copyright).split(",")[0].strip()[:4]
        (dest / CITATION_BIB).write_text(bibtex(yaml.safe_load(cff.read_text(encoding="utf-8")),
                                                year), encoding="utf-8")
    files = _git(app, "ls-files")
    if files:
        root = _root(app)
        with zipfile.ZipFile(dest / SOURCE_ZIP, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel in files.splitlines():
                path = root / rel
                if path.is_file():
                    zf.write(path, f"alliance-book/{rel}")


def setup(app):
    app.connect("config-inited", _remote)
    app.connect("html-page-context", _page, priority=600)
    app.connect("html-page-context", _footer, priority=600)
    app.connect("build-finished", _finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
