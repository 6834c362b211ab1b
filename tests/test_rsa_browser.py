"""The kernel-free interactive response surface of chapter 5, in a real (headless) browser.

Opens the built page offline (requests to other hosts are aborted by the ``visit`` fixture),
checks that plotly.js came from the page itself, then moves the slider the way a reader does
(a mouse click on the slider rail) and checks that the drawn surface, its printed surface
parameters and the pixels on screen all change.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

PAGE = "chapters/05_response_surfaces.html"

_STATE = """(id) => {
  const gd = document.getElementById(id);
  // the drawn (decoded) surface: plain arrays or typed arrays
  const z = (gd._fullData && gd._fullData[0].z) || gd.data[0].z;
  let s = 0;
  for (const row of z) { for (const v of row) { s += v; } }
  const ann = (gd.layout.annotations || []).map(a => a.text).join(' | ');
  const active = gd.layout.sliders && gd.layout.sliders[0].active;
  return {sum: s, annotation: ann, active: active, plotly: typeof window.Plotly};
}"""


def test_interactive_surface_changes_with_the_slider(visit):
    report = visit(PAGE, wait_ms=1500)
    report.assert_clean()
    page = report.page
    wrapper = page.locator("[data-rsa-interactive]")
    assert wrapper.count() == 1, "the kernel-free view is not on the page"
    div_id = wrapper.get_attribute("data-rsa-interactive")
    page.wait_for_function(
        "(id) => { const g = document.getElementById(id); return g && g.data && g.layout; }",
        arg=div_id, timeout=20000,
    )
    before = page.evaluate(_STATE, div_id)
    assert before["plotly"] == "object", "plotly.js is not loaded (it must be embedded, no CDN)"
    assert before["active"] == 0
    graph = page.locator(f"#{div_id}")
    graph.scroll_into_view_if_needed()
    shot_before = graph.screenshot()

    rail = page.locator(f"#{div_id} .slider-rail-touch-rect").first
    box = rail.bounding_box()
    assert box is not None, "slider not rendered"
    page.mouse.click(box["x"] + box["width"] - 4, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "(id) => document.getElementById(id).layout.sliders[0].active > 0", arg=div_id, timeout=10000
    )
    page.wait_for_timeout(500)
    after = page.evaluate(_STATE, div_id)
    shot_after = graph.screenshot()

    assert after["active"] > before["active"]
    assert abs(after["sum"] - before["sum"]) > 1e-6, "the surface data did not change"
    assert after["annotation"] != before["annotation"], "the printed surface parameters did not change"
    assert shot_after != shot_before, "nothing changed on screen"
    assert not report.console_errors, report.console_errors
    assert not report.external_requests, report.external_requests
