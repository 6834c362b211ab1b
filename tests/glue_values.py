"""Every value the book glues into its prose, as the built pages print it.

myst-nb renders each ``{glue:text}`` and ``{glue}`` role as
``<span class="pasted-text">...</span>`` in the HTML. :func:`collect` reads
them from every built chapter, in page order, so a test can require that a
change of code (a refactoring, a faster engine) leaves every number the book
prints exactly as it was.

Run as a script to freeze the values of a build into the reference file the
book test compares against::

    .venv/bin/python tests/glue_values.py _build/html > tests/reference/book_glue.json

A deliberate change of a printed number (a new default method, a corrected
model) is made by re-freezing in the same commit, so the diff shows exactly
which numbers moved and why.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

_PASTED = re.compile(r'<span class="pasted-text">(.*?)</span>', re.DOTALL)


def collect(html_dir: Path) -> dict[str, list[str]]:
    """``{"chapters/<stem>": [printed text of each glued value, in page order]}``."""
    out: dict[str, list[str]] = {}
    for page in sorted((Path(html_dir) / "chapters").glob("*.html")):
        values = [html.unescape(re.sub(r"<[^>]+>", "", v)).strip()
                  for v in _PASTED.findall(page.read_text(encoding="utf-8"))]
        out[f"chapters/{page.stem}"] = values
    return out


if __name__ == "__main__":  # pragma: no cover - maintenance script
    json.dump(collect(Path(sys.argv[1])), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
