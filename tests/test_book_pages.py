"""Every page as readers see it, on a desktop (1366 px) and on a phone (390 px).

For each page of the built book: no console error and no request to another host;
nothing wider than the screen (a wide table or equation scrolls inside its own box,
the page itself never scrolls sideways), and on the phone no display equation wider
than its box (a wide one is broken into lines, so a reader never scrolls a formula);
every image has alternative text that
describes it (not a file path); the footer with the synthetic-data notice and the
citation downloads is there; the page with everything the browser fetches for its
first render stays within its weight budget (uncompressed bytes); axe-core finds no
serious or critical WCAG 2 A/AA violation; and the links of the download menu
(executed notebook, data, source archive, citation) resolve. Chapter 7's verdict
table shows every reason in full on both screens.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest

pytestmark = pytest.mark.slow

VIEWPORTS = {"desktop": ((1366, 900), False), "phone": ((390, 844), True)}
#: Bytes (uncompressed) a page may fetch for its first render, with everything it loads:
#: the interactive 3-D plot of chapter 5 loads plotly.js only when a reader scrolls to it.
BUDGETS = {"chapters/05_response_surfaces.html": 2_000_000}
BUDGET = 1_200_000

_OVERFLOW = """() => {
  const W = document.documentElement.clientWidth;
  const bad = [];
  if (document.documentElement.scrollWidth > W + 1) bad.push('page ' + document.documentElement.scrollWidth);
  for (const el of document.querySelectorAll('img, table, figure, mjx-container, .plotly-graph-div')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0) continue;
    let box = el.parentElement, contained = false;
    while (box) {
      const s = getComputedStyle(box);
      if (['auto', 'scroll', 'hidden'].includes(s.overflowX) && box.clientWidth < box.scrollWidth + 1) {
        const b = box.getBoundingClientRect();
        if (b.right <= W + 1) { contained = true; break; }
      }
      box = box.parentElement;
    }
    if (!contained && r.right > W + 1) bad.push(el.tagName + ' ' + (el.id || el.className) + ' ' + Math.round(r.right));
  }
  return bad;
}"""

# every display equation (div.math, typeset to SVG by _ext/light_pages.py) wider than its box:
# its widest part (the box, MathJax's container, which scrolls on its own, or the SVG itself)
# against the box's width; returns [count of displays, problems]
_WIDE_MATH = """() => {
  const bad = [];
  const boxes = [...document.querySelectorAll('div.math')];
  boxes.forEach((box, i) => {
    const parts = [box, ...box.querySelectorAll('mjx-container, mjx-container > svg')];
    const width = Math.max(...parts.map(e => Math.max(e.scrollWidth || 0, e.getBoundingClientRect().width)));
    if (width > box.clientWidth + 1) {
      const text = (box.querySelector('mjx-assistive-mml') || box).textContent.trim().slice(0, 60);
      bad.push('display equation ' + (i + 1) + ' is ' + Math.round(width) + ' px wide in a ' +
               box.clientWidth + ' px box: ' + text);
    }
  });
  return [boxes.length, bad];
}"""

# uncompressed bytes of the page and of everything it fetched (decodedBodySize)
_WEIGHT = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const items = [['page', nav ? nav.decodedBodySize : 0]];
  for (const r of performance.getEntriesByType('resource')) items.push([r.name, r.decodedBodySize || 0]);
  return items;
}"""



def _pages(built_book):
    return sorted(p.relative_to(built_book).as_posix() for p in built_book.rglob("*.html")
                  if not p.relative_to(built_book).as_posix().startswith(("_static", "_sources")))


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_every_page_fits_the_screen_and_is_complete(built_book, visit, axe, device):
    viewport, mobile = VIEWPORTS[device]
    problems = {}
    displays = 0
    for rel in _pages(built_book):
        report = visit(rel, wait_ms=800, viewport=viewport, mobile=mobile)
        report.assert_clean()
        page = report.page
        issues = list(page.evaluate(_OVERFLOW))
        for alt, src in page.eval_on_selector_all(
                "article img", "els => els.map(e => [e.getAttribute('alt') || '', e.src])"):
            if not alt.strip() or re.search(r"\.(png|jpe?g|svg)$|_images/|/", alt):
                issues.append(f"image {src.rsplit('/', 1)[-1]} has alt text {alt!r}")
        untitled = page.locator(".alliance-table:not(:has(.gt_title))").count()
        if untitled:
            issues.append(f"{untitled} table(s) without a caption (table(..., caption=...))")
        footer = page.locator(".extra_footer")
        if footer.count() == 0 or "synthetic" not in footer.first.inner_text():
            issues.append("no footer with the synthetic-data notice")
        elif not footer.first.locator("a[href$='CITATION.cff'][download]").count() or \
                not footer.first.locator("a[href$='.bib'][download]").count():
            issues.append("no citation downloads (CFF, BibTeX) in the footer")
        if mobile:
            count, wide = page.evaluate(_WIDE_MATH)
            displays += count
            issues += wide
        if not mobile:
            items = page.evaluate(_WEIGHT)
            weight = sum(size for _, size in items)
            if weight > BUDGETS.get(rel, BUDGET):
                heavy = sorted(items, key=lambda x: -x[1])[:4]
                issues.append(f"first render fetches {weight / 1e6:.2f} MB: {heavy}")
            issues += axe(page)
        if issues:
            problems[rel] = issues
    assert not problems, problems
    if mobile:  # the equation check measured the book's display equations (not a renamed class)
        assert displays >= 10, f"only {displays} display equations (div.math) found in the book"


def test_download_links_resolve(built_book, visit, book_url):
    import urllib.request

    report = visit("chapters/01_design.html")
    links = report.page.eval_on_selector_all(
        ".dropdown-download-buttons a, [aria-label='Download this page'] ~ ul a",
        "els => els.map(e => e.getAttribute('href'))")
    links = [h for h in links if h and not h.startswith("javascript")]
    links += report.page.eval_on_selector_all(".extra_footer a[download]",
                                              "els => els.map(e => e.getAttribute('href'))")
    names = " ".join(links)
    for want in (".ipynb", "sessions.csv", "codebook.md", ".md", "CITATION.cff", ".bib"):
        assert want in names, (want, links)
    for href in links:
        url = urljoin(book_url + "chapters/01_design.html", href)
        with urllib.request.urlopen(url) as resp:  # the local server: no network
            assert resp.status == 200, url
            assert len(resp.read()) > 100, url


_REASONS = """() => {
  const box = Array.from(document.querySelectorAll('.alliance-table'))
    .find(b => /verdict and reason/i.test(b.getAttribute('aria-label') || ''));
  if (!box) return null;
  const heads = Array.from(box.querySelectorAll('thead th')).map(th => th.textContent.trim());
  const col = heads.indexOf('Reason');
  const W = document.documentElement.clientWidth, b = box.getBoundingClientRect();
  return {col, rows: Array.from(box.querySelectorAll('tbody tr')).map(tr => {
    const td = tr.children[col], range = document.createRange();
    range.selectNodeContents(td);
    const t = range.getBoundingClientRect(), c = td.getBoundingClientRect();
    return {text: td.textContent.trim(), clipped: td.scrollWidth > td.clientWidth + 1,
            inside: t.left >= Math.max(0, b.left) - 1 && t.right <= Math.min(W, b.right) + 1
                    && c.right <= Math.min(W, b.right) + 1,
            wraps: getComputedStyle(td).whiteSpace, align: getComputedStyle(td).textAlign};
  })};
}"""


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_chapter_7_verdict_table_shows_every_reason_in_full(visit, device, tmp_path):
    from PIL import Image, ImageStat

    viewport, mobile = VIEWPORTS[device]
    report = visit("chapters/07_findings.html", viewport=viewport, mobile=mobile)
    report.assert_clean()
    page = report.page
    found = page.evaluate(_REASONS)
    assert found is not None and found["col"] >= 0, "no verdict table with a Reason column"
    assert len(found["rows"]) == 4
    for row in found["rows"]:
        assert len(row["text"]) > 20, row
        assert row["align"] in ("left", "start") and row["wraps"] != "nowrap", row
        assert not row["clipped"] and row["inside"], f"{device}: reason not shown in full: {row}"
    # the screenshot of each reason cell shows its text (ink across the cell, not a blank box)
    cells = page.locator(".alliance-table[aria-label*='verdict and reason' i] tbody tr "
                         f"td:nth-child({found['col'] + 1})")
    for i in range(cells.count()):
        shot = tmp_path / f"reason-{device}-{i}.png"
        cells.nth(i).screenshot(path=str(shot))
        box = cells.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport[0] + 1, box
        image = Image.open(shot).convert("L")
        assert min(ImageStat.Stat(image).extrema[0]) < 100, f"{device}: reason {i} shows no text"


def test_every_figure_reads_on_a_phone(built_book):
    """Figures are drawn at the width they are shown, with text of at least 9 pt on a phone.

    Each figure's PNG records the CSS width it is drawn for and its smallest text as a
    390-px phone shows it (alliance.plots.tables.compact_png); the page shows it at that
    width (scaled down on narrower screens) and links it full size.
    """
    from PIL import Image

    problems = []
    shown = 0
    for rel in _pages(built_book):
        text = (built_book / rel).read_text()
        links = r'<a class="[^"]*(?:alliance-zoom|image-reference)[^"]*" href="([^"]+)"[^>]*>'
        for m in re.finditer(links + r"\s*(<img [^>]*>)", text):
            href, img = m.groups()
            src = re.search(r'src="([^"]+)"', img).group(1)
            assert src == href, f"{rel}: the figure links {href}, not itself ({src})"
            path = (built_book / rel).parent / src
            if path.suffix != ".png":
                continue
            shown += 1
            info = Image.open(path).text
            pt = float(info.get("alliance:phone-text-pt", "0"))
            width = re.search(r'width(?:="|: )(\d+)', img)
            if pt < 9:
                problems.append(f"{rel} {path.name[:12]}: smallest text {pt:.1f} pt on a phone")
            if "loading=\"lazy\"" not in img:
                problems.append(f"{rel} {path.name[:12]}: fetched with the page, not when shown")
            if not width or width.group(1) != info.get("alliance:css-width"):
                problems.append(f"{rel} {path.name[:12]}: not shown at the width it is drawn for")
    assert shown >= 20, f"only {shown} figures found"
    assert not problems, problems
