"""Every value the book glues into its prose, as the built pages print it.

myst-nb renders each ``{glue:text}`` and ``{glue}`` role as
``<span class="pasted-text">...</span>`` in the HTML. :func:`collect` reads
them from every built chapter, in page order, so a test can require that a
change of code (a refactoring, a faster engine) leaves every number the book
prints exactly as it was.

Run as a script to freeze the values of a build into the reference file the
book test compares against::

    .venv/bin/python tests/glue_values.py _build/html > tests/reference/book_glue.json

(the file's ``about`` line and every page's values).

A deliberate change of a printed number (a new default method, a corrected
model) is made by re-freezing in the same commit, so the diff shows exactly
which numbers moved and why.

Some glued values are not results and differ from machine to machine or with
every edit of the prose: wall-clock timings, reading times counted from the
text, and how closely the package agrees with R (a relative difference near
the optimisers' tolerance). Their keys say so by their ending
(:data:`NOT_RESULTS`); :func:`collect` reads each chapter's source to find the
key behind every printed value and reports those as ``None``, which the book
test does not compare and the frozen file records as ``null``.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

_PASTED = re.compile(r'<span class="pasted-text">(.*?)</span>', re.DOTALL)
_ROLE = re.compile(r"\{glue(?::text)?\}`([^`:]+)")
ROOT = Path(__file__).resolve().parents[1]

#: Endings of glue keys whose values are not results (see the module docstring).
NOT_RESULTS = ("_seconds", "_minutes", "_rdiff")


def glue_keys(source: str) -> list[str]:
    """The glue key of every ``{glue:text}``/``{glue}`` role of a chapter's source, in order."""
    return _ROLE.findall(source)


def collect(html_dir: Path) -> dict[str, list[str | None]]:
    """``{"chapters/<stem>": [printed text of each glued value, in page order]}`` (``None``: not a
    result, see :data:`NOT_RESULTS`)."""
    out: dict[str, list[str]] = {}
    for page in sorted((Path(html_dir) / "chapters").glob("*.html")):
        values = [html.unescape(re.sub(r"<[^>]+>", "", v)).strip()
                  for v in _PASTED.findall(page.read_text(encoding="utf-8"))]
        source = ROOT / "chapters" / f"{page.stem}.md"
        if source.exists():
            keys = glue_keys(source.read_text(encoding="utf-8"))
            if len(keys) != len(values):
                raise ValueError(f"{page.name}: {len(values)} glued values printed, "
                                 f"{len(keys)} glue roles in {source.name}")
            values = [None if k.endswith(NOT_RESULTS) else v for k, v in zip(keys, values)]
        out[f"chapters/{page.stem}"] = values
    return out


ABOUT = ("Every value the book glues into its prose, as printed (tests/glue_values.py); null marks a "
         "value that is not a result and is not compared: a wall-clock timing, a reading time or "
         "how closely the package agrees with R (glue keys ending in " + ", ".join(NOT_RESULTS) + ").")

if __name__ == "__main__":  # pragma: no cover - maintenance script
    json.dump({"about": ABOUT, "pages": collect(Path(sys.argv[1]))}, sys.stdout, indent=1,
              ensure_ascii=False)
    sys.stdout.write("\n")
