"""Downloadable notebooks stand alone, and every exercise's solution is code the build runs.

``_ext/standalone_notebooks.py`` turns a chapter's executed notebook into the one the
download menu offers (glued values and figures written into its text). These tests
run it on small notebooks built here, with no book build; ``tests/test_book.py``
checks the notebooks of the built site and re-executes one.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("standalone_notebooks",
                                               ROOT / "_ext" / "standalone_notebooks.py")
sn = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sn)

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def _glued(name, data, prefix=""):
    return {"output_type": "display_data",
            "metadata": {"scrapbook": {"name": name, "mime_prefix": prefix}},
            "data": {prefix + k: v for k, v in data.items()}}


def _notebook(markdown: list[str], outputs=(), tags=()) -> dict:
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("glue(...)")
    code.outputs = [nbformat.from_dict(o) for o in outputs]
    code.metadata["tags"] = list(tags)
    nb.cells = [code] + [nbformat.v4.new_markdown_cell(m) for m in markdown]
    return nbformat.from_dict(nb)


def _markdown(nb) -> str:
    return "\n".join(c["source"] for c in nb["cells"] if c["cell_type"] == "markdown")


def test_glued_text_is_written_as_the_page_formats_it():
    text = ("{glue:text}`n` patients, mean {glue:text}`m:.2f`, p = {glue:text}`p:.3g`, "
            "{glue}`n` again, {glue:any}`name`.")
    nb = _notebook([text],
                   [_glued("n", {"text/plain": "117"}),
                    _glued("m", {"text/plain": "3.14159"}, "application/papermill.record/"),
                    _glued("name", {"text/plain": "'training'"})],
                   tags=["remove-cell"])
    glue_json = {"p": _glued("p", {"text/plain": "0.000123456"}, "application/papermill.record/")}
    out = sn.standalone(nb, glue_json)
    assert _markdown(out) == "117 patients, mean 3.14, p = 0.000123, 117 again, training."
    assert not sn.GLUE_LEFT.search(_markdown(out))
    # the cell that computes them is kept, collapsed as on the page
    code = out["cells"][0]
    assert code["source"] == "glue(...)" and code["metadata"]["jupyter"]["source_hidden"]
    assert code["metadata"]["jupyter"]["outputs_hidden"]
    nbformat.validate(nbformat.from_dict(out))


def test_a_glued_figure_is_embedded_with_its_number_and_caption():
    md = ("Before.\n\n```{glue:figure} fig-a\n:name: fig-a\n:alt: Two lines [rising]\n\n"
          "Mean ratings by arm (synthetic data).\n```\n\n{numref}`fig-a` shows it; "
          "{numref}`Panel %s <fig-a>`; {ref}`the design <ch-design>`; {ref}`ch-design`.")
    nb = _notebook([md], [_glued("fig-a", {"image/png": PNG, "text/plain": "<Figure>"},
                                 "application/papermill.record/")])
    out = sn.standalone(nb, figures={"fig-a": ("Fig. %s", "1.2")},
                        labels={"ch-design": "Design and data"})
    cell = out["cells"][1]
    assert cell["attachments"] == {"fig-a.png": {"image/png": PNG}}
    text = cell["source"]
    assert "![Two lines (rising)](attachment:fig-a.png)" in text
    assert "**Fig. 1.2.** Mean ratings by arm (synthetic data)." in text
    assert "Fig. 1.2 shows it; Panel 1.2; the design; Design and data." in text
    assert '<a id="fig-a"></a>' in text and "{glue" not in text and "```" not in text
    nbformat.validate(nbformat.from_dict(out))


def test_myst_blocks_become_markdown_jupyter_renders():
    md = ("(sec-x)=\n## Title\n\n```{admonition} Synthetic data\n:class: warning\nEvery number.\n```\n\n"
          "```{exercise}\n:label: ex-1\n\nDo it {cite:p}`tasca2023,other`.\n```\n\n"
          "```{solution-start} ex-1\n:class: dropdown\n```\n")
    out = sn.standalone(_notebook([md]))
    text = out["cells"][1]["source"]
    assert text.startswith('<a id="sec-x"></a>\n## Title')
    assert "> **Synthetic data**\n>\n> Every number." in text
    assert '<a id="ex-1"></a>\n\n> **Exercise**\n>\n> Do it (tasca2023; other).' in text
    assert text.endswith("> **Solution**\n") and "{" not in text
    numbered = sn.standalone(_notebook([md]), figures={"ex-1": ("Exercise %s", "2.1")})
    assert "> **Exercise 2.1**" in numbered["cells"][1]["source"]
    assert numbered["cells"][1]["source"].endswith("> **Solution to Exercise 2.1**\n")


def test_a_literal_include_shows_the_code_the_page_shows():
    md = "Code:\n\n```{literalinclude} ../src/a.py\n:language: python\n:pyobject: f\n```\n"
    seen = []
    out = sn.standalone(_notebook([md]), include=lambda p, o: seen.append((p, o)) or "def f():\n")
    assert seen == [("../src/a.py", {"language": "python", "pyobject": "f"})]
    assert out["cells"][1]["source"] == "Code:\n\n```python\ndef f():\n```\n"
    assert sn.standalone(_notebook([md]))["cells"][1]["source"] == md, "left as it is"


def test_tabs_terms_and_book_only_cells_become_what_jupyter_shows():
    md = ("A {term}`random effect` and a {term}`design effect <Design effect>`.\n\n"
          "::::{tab-set}\n:sync-group: language\n\n:::{tab-item} Python\n:sync: python\n"
          "The call.\n:::\n\n:::{tab-item} R (lme4)\n:sync: r\nIn R:\n\n"
          "```{literalinclude} ../tests/r/a.R\n:language: r\n:start-after: book/a/begin\n"
          ":end-before: book/a/end\n```\n:::\n::::\n\nAfter.\n\n```{course-plan}\n```\n")
    nb = _notebook([md], tags=["remove-cell", sn.BOOK_ONLY])
    seen = []
    out = sn.standalone(nb, include=lambda p, o: seen.append(o) or "fit <- lmer(f)\n")
    assert [c["cell_type"] for c in out["cells"]] == ["markdown"], "the book-only cell is left out"
    text = out["cells"][0]["source"]
    assert text.startswith("A random effect and a design effect.")
    assert "**Python**\n\nThe call." in text and "**R (lme4)**\n\nIn R:" in text
    assert "```r\nfit <- lmer(f)\n```" in text
    assert seen == [{"language": "r", "start-after": "book/a/begin", "end-before": "book/a/end"}]
    assert "the book's page" in text
    assert "{" not in text and ":::" not in text and ":sync" not in text


def test_the_input_is_unchanged_and_an_intro_cell_gets_its_own_id():
    nb = _notebook(["{glue:text}`n`"], [_glued("n", {"text/plain": "3"})])
    nb["nbformat_minor"] = 5
    for i, c in enumerate(nb["cells"]):
        c["id"] = f"cell-{i}"
    before = copy.deepcopy(nb)
    out = sn.standalone(nb, intro="**About** this notebook.")
    assert nb == before
    assert out["cells"][0]["source"] == "**About** this notebook."
    assert len({c["id"] for c in out["cells"]}) == len(out["cells"])
    nbformat.validate(nbformat.from_dict(out))


def test_an_unknown_glued_key_is_an_error_naming_it():
    with pytest.raises(KeyError, match="ch1.ipynb: no glued value 'missing'"):
        sn.standalone(_notebook(["{glue:text}`missing:.2f`"]), where="ch1.ipynb")
    with pytest.raises(KeyError, match="another document"):
        sn.standalone(_notebook(["{glue:text}`other.ipynb::n`"]))
    with pytest.raises(KeyError, match="nothing a notebook can show"):
        sn.standalone(_notebook(["```{glue:figure} w\n```"],
                                [_glued("w", {"application/vnd.jupyter.widget-view+json": {}})]))


# --- exercises --------------------------------------------------------------------------------

CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
_GATED = re.compile(r"```\{solution-start\} ([\w-]+)\n(.*?)```\{solution-end\}", re.DOTALL)


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_every_solution_is_code_the_build_executes(md):
    """A solution is a gated sphinx-exercise solution holding at least one code cell, so the strict
    build runs it (a solution that raises fails the build), folded in a dropdown for readers."""
    text = md.read_text()
    labels = re.findall(r"```\{exercise(?:-start)?\}[^\n]*\n:label: ([\w-]+)", text)
    assert not re.search(r"`{3,}\{solution\}", text), f"{md.name}: a solution that is not code"
    solved = {}
    for label, body in _GATED.findall(text):
        assert body.startswith(":class: dropdown\n```"), f"{md.name}: {label} is not folded"
        assert "```{code-cell} ipython3" in body, f"{md.name}: solution of {label} runs no code"
        assert "```python" not in body, f"{md.name}: {label} shows code it does not run"
        solved[label] = body
    assert sorted(solved) == sorted(labels), f"{md.name}: exercises and solutions differ"
