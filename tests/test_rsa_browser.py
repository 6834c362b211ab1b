"""The kernel-free interactive response surface of chapter 5, in a real (headless) browser.

Opens the built page offline (requests to other hosts are aborted by the ``visit`` fixture),
checks that plotly.js came from the book's own static files, then clicks the control arm's
button the way a reader does and checks that the drawn surface, the surface parameters printed
under the plot and the pixels on screen all change -- between two *fitted* surfaces, never a
blend -- and that the readout sits below the plot, not over it. On a phone-sized screen the
plot and its axis titles stay inside the screen.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

PAGE = "chapters/05_response_surfaces.html"

_STATE = """(id) => {
  const gd = document.getElementById(id);
  const shown = gd._fullData.filter(t => t.type === 'surface' && t.visible === true);
  let s = 0;
  for (const row of shown[0].z) { for (const v of row) { s += v; } }
  const points = gd._fullData.filter(t => t.mode === 'markers' && t.visible === true);
  return {n_shown: shown.length, sum: s, n_points: points.length ? points[0].x.length : 0,
          readout: document.getElementById(id + '-readout').textContent,
          plotly: typeof window.Plotly,
          src: Array.from(document.scripts).map(x => x.src).filter(x => x.includes('plotly'))};
}"""


def _open(visit, **kw):
    report = visit(PAGE, wait_ms=1500, **kw)
    report.assert_clean()
    page = report.page
    wrapper = page.locator("[data-rsa-interactive]")
    assert wrapper.count() == 1, "the kernel-free view is not on the page"
    div_id = wrapper.get_attribute("data-rsa-interactive")
    # plotly.js is fetched only when the plot comes near the screen, as a reader scrolls to it
    assert page.evaluate("() => typeof window.Plotly") == "undefined", "plotly.js loaded up front"
    wrapper.scroll_into_view_if_needed()
    page.wait_for_function(
        "(id) => { const g = document.getElementById(id); return g && g._fullData; }",
        arg=div_id, timeout=20000)
    return report, page, div_id


def test_interactive_surface_switches_between_fitted_arms(visit):
    report, page, div_id = _open(visit)
    before = page.evaluate(_STATE, div_id)
    assert before["plotly"] == "object"
    assert before["src"] and all("_static/plotly/plotly-gl3d.min.js" in s for s in before["src"])
    assert before["n_shown"] == 1 and before["n_points"] > 50
    assert before["readout"].startswith("Alliance training")
    graph = page.locator(f"#{div_id}")
    graph.scroll_into_view_if_needed()
    shot_before = graph.screenshot()
    page.locator(f"#{div_id} .updatemenu-button").first.click()  # the control arm
    page.wait_for_function(
        "(id) => document.getElementById(id + '-readout').textContent.startsWith('Control')",
        arg=div_id, timeout=10000)
    page.wait_for_timeout(500)
    after = page.evaluate(_STATE, div_id)
    assert after["n_shown"] == 1, "exactly one fitted surface is shown, never a blend"
    assert abs(after["sum"] - before["sum"]) > 1e-6, "the surface data did not change"
    assert after["readout"] != before["readout"]
    assert graph.screenshot() != shot_before, "nothing changed on screen"
    plot_box = graph.bounding_box()
    readout_box = page.locator(f"#{div_id}-readout").bounding_box()
    assert readout_box["y"] >= plot_box["y"] + plot_box["height"] - 1, "the readout overlaps the plot"
    assert not report.console_errors and not report.external_requests


def test_interactive_surface_fits_a_phone(visit):
    report, page, div_id = _open(visit, viewport=(390, 844), mobile=True)
    box = page.locator(f"#{div_id}").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 391
    assert 300 <= box["height"] <= 480
