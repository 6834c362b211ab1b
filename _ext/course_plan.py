"""The instructor's guide's week plan, with the reading and lab times of this very build.

The directive ``{course-plan}`` becomes a table of :data:`alliance.course.WEEK_PLAN`:
per week the topic, the pages to read with their reading time
(:func:`alliance.course.reading_minutes`, the function behind every "Time:" line of the
book) and the pages run in the lab with the time their code took to execute in this build
(MyST-NB's execution report, the numbers of the reproducibility page's table). The table
is filled in after every page has been executed, so it never shows another build's times.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

from alliance import course

_CODE = re.compile(r"`([^`]+)`")


class course_plan(nodes.General, nodes.Element):
    """Placeholder for the week plan until every page has been executed."""


class CoursePlanDirective(SphinxDirective):
    has_content = False

    def run(self):
        plans = getattr(self.env, "course_plan_docs", set())
        plans.add(self.env.docname)
        self.env.course_plan_docs = plans
        return [course_plan()]


def _runtime(env, docname: str) -> float | None:
    from myst_nb.sphinx_ import NbMetadataCollector

    data = NbMetadataCollector.get_doc_data(env).get(docname, {}).get("exec_data")
    return None if not data or data.get("runtime") is None else float(data["runtime"])


def _inline(text: str) -> list[nodes.Node]:
    out: list[nodes.Node] = []
    for i, part in enumerate(_CODE.split(text)):
        if part:
            out.append(nodes.literal(part, part) if i % 2 else nodes.Text(part))
    return out


#: Short names of the pages in the table (chapters are "Ch. <number>").
SHORT = {"intro": "Introduction", "paths": "Three ways through the book", "notation": "Notation",
         "appendices/engine": "Appendix (engine)", "instructor": "This guide"}


def _short(docname: str) -> str:
    m = re.match(r"chapters/(\d+)_", docname)
    return f"Ch. {int(m.group(1))}" if m else SHORT.get(docname, docname)


def _link(parent: str, docname: str) -> nodes.Node:
    text = _short(docname)
    ref = pending_xref(refdoc=parent, reftarget="/" + docname, reftype="doc", refdomain="std",
                       refexplicit=True, refwarn=True)
    ref += nodes.inline(text, text)
    return ref


def _cell(*children: nodes.Node) -> nodes.entry:
    entry = nodes.entry()
    for child in children:
        entry += child
    return entry


def _para(*children: nodes.Node) -> nodes.paragraph:
    p = nodes.paragraph()
    for child in children:
        p += child
    return p


def _pages(parent: str, docnames) -> nodes.Node:
    if not docnames:
        return _para(nodes.Text("–"))
    p = nodes.paragraph()
    for i, d in enumerate(docnames):
        if i:
            p += nodes.Text(", ")
        p += _link(parent, d)
    return p


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _table(headers, rows) -> nodes.table:
    table = nodes.table(classes=["colwidths-auto", "course-plan"])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for _ in headers:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for h in headers:
        row += _cell(_para(nodes.Text(h)))
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            row += _cell(cell)
        body += row
    return table


def plan_nodes(env, parent: str) -> list[nodes.Node]:
    """The week plan: a table of pages and times (this build's), then each week's objectives."""
    rows, total_read, total_lab = [], 0, 0.0
    objectives = nodes.bullet_list(classes=["course-objectives"])
    for week in course.WEEK_PLAN:
        minutes = sum(course.reading_minutes(env.doc2path(d)) for d in week.read)
        total_read += minutes
        runs = [r for r in (_runtime(env, d) for d in week.lab) if r is not None]
        total_lab += sum(runs)
        topic = _para(nodes.Text(week.topic))
        if week.assessed:
            topic += nodes.Text(" (")
            topic += nodes.emphasis(week.assessed, week.assessed)
            topic += nodes.Text(")")
        rows.append([_para(nodes.Text(str(week.number))), topic, _pages(parent, week.read),
                     _para(nodes.Text(f"{minutes} min" if week.read else "–")),
                     _pages(parent, week.lab),
                     _para(nodes.Text(_duration(sum(runs)) if runs else "–"))])
        goals = nodes.bullet_list()
        for text in week.objectives:
            goals += nodes.list_item("", _para(*_inline(text)))
        head = _para(nodes.strong(f"Week {week.number}", f"Week {week.number}"),
                     nodes.Text(f": {week.topic}{'' if week.topic.endswith('?') else '.'} "
                                "Students learn to"))
        objectives += nodes.list_item("", head, goals)
    rows.append([_para(nodes.strong("All", "All")), _para(), _para(),
                 _para(nodes.strong(f"{total_read} min", f"{total_read} min")), _para(),
                 _para(nodes.strong(_duration(total_lab), _duration(total_lab)))])
    table = _table(["Week", "Topic", "Read", "Reading time", "Run in the lab",
                    "Lab: the code runs in"], rows)
    return [table, _para(nodes.Text("Learning objectives, week by week:")), objectives]


class CoursePlanTransform(SphinxPostTransform):
    """Fill in the week plan once every page has been executed."""

    default_priority = 8  # before references are resolved (the page links)

    def run(self, **kwargs) -> None:
        for node in list(self.document.findall(course_plan)):
            node.replace_self(plan_nodes(self.env, self.env.docname))


def _update_plans(app, env):
    """Re-write the pages with a plan whenever a page was executed again (as MyST-NB's table)."""
    from myst_nb.sphinx_ import NbMetadataCollector

    if not NbMetadataCollector.new_exec_data(env):
        return None
    return sorted(getattr(env, "course_plan_docs", set()))


def _purge(app, env, docname):
    plans = getattr(env, "course_plan_docs", set())
    plans.discard(docname)


def _merge(app, env, docnames, other):
    env.course_plan_docs = getattr(env, "course_plan_docs", set()) | getattr(
        other, "course_plan_docs", set())


def setup(app):
    app.add_node(course_plan)
    app.add_directive("course-plan", CoursePlanDirective)
    app.add_post_transform(CoursePlanTransform)
    app.connect("env-updated", _update_plans)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
