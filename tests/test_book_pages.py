"""Every page as readers see it, on a desktop (1366 px) and on a phone (390 px).

For each page of the built book: no console error and no request to another host;
nothing wider than the screen (a wide table or equation scrolls inside its own box,
the page itself never scrolls sideways); every image has alternative text that
describes it (not a file path); the footer with the synthetic-data notice is there;
the page with everything it loads stays within its weight budget; and the links of
the download menu (executed notebook, data, source archive) resolve.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest

pytestmark = pytest.mark.slow

VIEWPORTS = {"desktop": ((1366, 900), False), "phone": ((390, 844), True)}
#: Bytes a page may transfer with every asset it loads (issue: chapter 5 within 2 MB).
BUDGET = 2_000_000

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

_WEIGHT = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  let total = nav ? (nav.transferSize || nav.encodedBodySize) : 0;
  for (const r of performance.getEntriesByType('resource')) total += (r.transferSize || r.encodedBodySize || 0);
  return total;
}"""


def _pages(built_book):
    return sorted(p.relative_to(built_book).as_posix() for p in built_book.rglob("*.html")
                  if not p.relative_to(built_book).as_posix().startswith(("_static", "_sources")))


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_every_page_fits_the_screen_and_is_complete(built_book, visit, device):
    viewport, mobile = VIEWPORTS[device]
    problems = {}
    for rel in _pages(built_book):
        report = visit(rel, wait_ms=800, viewport=viewport, mobile=mobile)
        report.assert_clean()
        page = report.page
        issues = list(page.evaluate(_OVERFLOW))
        for alt, src in page.eval_on_selector_all(
                "article img", "els => els.map(e => [e.getAttribute('alt') || '', e.src])"):
            if not alt.strip() or re.search(r"\.(png|jpe?g|svg)$|_images/|/", alt):
                issues.append(f"image {src.rsplit('/', 1)[-1]} has alt text {alt!r}")
        footer = page.locator(".extra_footer")
        if footer.count() == 0 or "synthetic" not in footer.first.inner_text():
            issues.append("no footer with the synthetic-data notice")
        weight = page.evaluate(_WEIGHT)
        if weight > BUDGET:
            issues.append(f"page weight {weight / 1e6:.2f} MB")
        if issues:
            problems[rel] = issues
    assert not problems, problems


def test_download_links_resolve(built_book, visit, book_url):
    import urllib.request

    report = visit("chapters/01_design.html")
    links = report.page.eval_on_selector_all(
        ".dropdown-download-buttons a, [aria-label='Download this page'] ~ ul a",
        "els => els.map(e => e.getAttribute('href'))")
    links = [h for h in links if h and not h.startswith("javascript")]
    names = " ".join(links)
    for want in (".ipynb", "sessions.csv", "codebook.md", ".md"):
        assert want in names, (want, links)
    for href in links:
        url = urljoin(book_url + "chapters/01_design.html", href)
        with urllib.request.urlopen(url) as resp:  # the local server: no network
            assert resp.status == 200, url
            assert len(resp.read()) > 100, url
