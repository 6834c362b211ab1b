"""An author-year bibliography, matching the author-year citations in the text.

sphinxcontrib-bibtex's built-in styles label entries with numbers ([1], [2]) while
the text cites ``Tasca et al. (2023)``; this registers a pybtex style, ``authoryear``,
whose labels are "Author et al., Year" (LaTeX accents decoded, "and" as in the text) and whose list is sorted by author and year.
"""

from __future__ import annotations

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle


def _plain(text: str) -> str:
    """A BibTeX name or title as text: LaTeX accents decoded (Sch{\\"o}nbrodt -> Schönbrodt),
    braces dropped, spaces collapsed."""
    import codecs

    import latexcodec  # noqa: F401 - registers the "ulatex" codec (a dependency of pybtex)

    decoded = codecs.decode(text, "ulatex")
    return " ".join(decoded.replace("{", "").replace("}", "").split())


class AuthorYearLabels(BaseLabelStyle):
    """Labels such as "Bates et al., 2015" or "West and Kenny, 2011" (the "and" of the
    citations in the text); an entry without authors is labelled by its institution or
    by the start of its title, cut at a word."""

    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [_plain(" ".join(p.last_names)) for p in people]
            if not names:
                title = _plain(entry.fields.get("organization") or entry.fields.get("title")
                               or entry.key)
                who = title if len(title) <= 32 else title[:32].rsplit(" ", 1)[0] + "…"
            elif len(names) == 1:
                who = names[0]
            elif names[-1] == "others":  # "X and others" in the .bib: more authors
                who = f"{names[0]} et al."
            elif len(names) == 2:
                who = f"{names[0]} and {names[1]}"
            else:
                who = f"{names[0]} et al."
            yield f"{who}, {_plain(entry.fields.get('year', 'n.d.'))}"


class AuthorYearStyle(UnsrtStyle):
    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
