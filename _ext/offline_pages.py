"""Keep the book's pages self-contained.

Jupyter Book 1.x always loads sphinx-thebe, which writes a configuration
script naming a CDN copy of thebe into every page (twice, which makes the
browser report a redeclared identifier). The book disables live kernels
(``launch_buttons.thebe: false``), so this extension removes thebe's scripts
from the pages.
"""

from __future__ import annotations


def _is_thebe(entry) -> bool:
    filename, attrs = entry[0], entry[1] if len(entry) > 1 else {}
    body = (attrs or {}).get("body", "") or ""
    return (filename or "").endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body


def _drop_thebe(app, env, docnames):
    app.registry.js_files = [e for e in app.registry.js_files if not _is_thebe(e)]
    builder = app.builder
    if hasattr(builder, "_js_files"):
        builder._js_files = [js for js in builder._js_files
                             if not (js.filename or "").endswith("sphinx-thebe.js")
                             and "THEBE_JS_URL" not in (js.attributes.get("body", "") or "")]


def setup(app):
    app.connect("env-before-read-docs", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
