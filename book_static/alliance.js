/* The book's one script (deferred, ~1 kB): boxes that scroll sideways are reachable with the
   keyboard. A code cell, an output or an equation wider than the screen scrolls inside its own
   box; such a box gets tabindex="0", role="region" and a name, so a keyboard user can scroll it
   too (WCAG 2.1.1). Tables made by alliance.plots.tables.table carry these attributes already. */
(function () {
  "use strict";
  var BOXES = [
    ["div.math, mjx-container[display='true']", "Equation"],
    [".cell_output .output, .cell_output pre", "Output of the code cell"],
    [".cell_input pre, div.highlight pre", "Code"],
    [".alliance-table, .bd-article table", "Table"]
  ];
  function mark() {
    BOXES.forEach(function (pair) {
      document.querySelectorAll(pair[0]).forEach(function (el) {
        var scrolls = el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1;
        if (!scrolls || el.hasAttribute("tabindex")) { return; }
        el.setAttribute("tabindex", "0");
        if (!el.hasAttribute("role")) { el.setAttribute("role", "region"); }
        if (!el.hasAttribute("aria-label")) { el.setAttribute("aria-label", pair[1]); }
      });
    });
  }
  var timer = null;
  function later() { clearTimeout(timer); timer = setTimeout(mark, 200); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mark);
  } else { mark(); }
  window.addEventListener("resize", later);
})();
