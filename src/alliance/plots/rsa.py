"""Figures of response surface analysis: 3D surface, contour, a live explorer and a kernel-free view.

* :func:`plot_surface` and :func:`plot_contour` return matplotlib Figures (one panel per
  level of a moderator), reused by ``alliance report``; :func:`plot_contour_specifications`
  draws one arm's surface under several specifications side by side (chapter 5).
* :func:`explorer` is an ipywidgets app (five coefficient sliders) for readers who run the
  book with a kernel.
* :func:`interactive_surface` is a Plotly view for the web page: a rotatable surface, one
  button per moderator level showing that level's fitted surface and observed points,
  precomputed in Python, so it works without a kernel; plotly.js comes from the book's own
  static files (or is embedded), never from a CDN.
"""

from __future__ import annotations

import html as _html
import json
import re
import uuid
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from alliance.data.schema import COLUMN_LABELS
from alliance.plots.style import ARM_COLORS, ARM_LABELS, FIG_WIDTH, use_style, wrap
from alliance.rsa.surface import surface_quantities

__all__ = ["InteractiveSurface", "explorer", "interactive_surface", "plot_contour",
           "plot_contour_specifications", "plot_surface"]

_LOC = "#444444"


def _levels(result, levels):
    if levels is None:
        levels = list(result.levels)
    elif isinstance(levels, str):
        levels = [levels]
    return list(levels)


def _range(result, pad: float = 0.0):
    f = result.frame
    lo = float(min(f["x_raw"].min(), f["y_raw"].min()))
    hi = float(max(f["x_raw"].max(), f["y_raw"].max()))
    return lo - pad, hi + pad


def _poly(b, b0, X, Y, cx, cy):
    x = X - cx
    y = Y - cy
    return b0 + b[0] * x + b[1] * y + b[2] * x * x + b[3] * x * y + b[4] * y * y


def _labels(result, xlabel, ylabel, zlabel):
    """Axis labels: the given ones, else readable names of the columns (and the lag)."""
    info = result.info
    lag = f" (session s−{info['lag']})" if info.get("lag") else ""
    now = " (session s)" if info.get("lag") else ""
    name = lambda c: COLUMN_LABELS.get(c, c)
    return (xlabel or name(info["x"]) + lag, ylabel or name(info["y"]) + lag,
            zlabel or name(info["outcome"]) + now)


def _title(level):
    return ARM_LABELS.get(level, level if level != "all" else "")



def _grid(result, levels, grid: int):
    """Levels to draw, the observed range, the square grid over it and the centres."""
    levels = _levels(result, levels)
    lo, hi = _range(result)
    g = np.linspace(lo, hi, grid)
    Xg, Yg = np.meshgrid(g, g)
    return levels, lo, hi, g, Xg, Yg, result.info["center_x"], result.info["center_y"]


def _points(result, level):
    """The analysed rows of one level of a binary moderator (all rows otherwise)."""
    f = result.frame
    if "mod" in f and result.info.get("moderator_kind") == "binary":
        return f[f["mod"] == list(result.levels).index(level)]
    return f


def _hull(points):
    """The convex hull of the observed (X, Y) pairs as a closed line (empty if degenerate)."""
    from scipy.spatial import ConvexHull, QhullError

    xy = np.unique(points[["x_raw", "y_raw"]].to_numpy(dtype=float), axis=0)
    if len(xy) < 3:
        return np.array([]), np.array([])
    try:
        h = ConvexHull(xy)
    except QhullError:  # all points on a line
        return np.array([]), np.array([])
    v = np.r_[h.vertices, h.vertices[0]]
    return xy[v, 0], xy[v, 1]


def _stationary_ci(result, level, boot=None):
    """((lo, hi) of X0, (lo, hi) of Y0) in centred units, from a bootstrap or the surface table."""
    t = boot.tables["bootstrap"] if boot is not None else result.tables["surface"]
    if "level" in t.columns:
        t = t[t["level"] == level]
    t = t.set_index("term")
    try:
        out = tuple((float(t.loc[k, "ci_low"]), float(t.loc[k, "ci_high"])) for k in ("X0", "Y0"))
    except KeyError:
        return None
    return out if all(np.isfinite(v) for pair in out for v in pair) else None


def plot_surface(result, levels=None, *, grid: int = 40, xlabel=None, ylabel=None, zlabel=None,
                 points: bool = True, elev: float = 22, azim: float = -130):
    """3D response surface over the observed range, with LOC, LOIC and the data projected.

    Parameters
    ----------
    result : RSAResult
        A fit from :func:`alliance.rsa.fit_rsa`.
    levels : str or list, optional
        Moderator levels to draw (default: every level; one panel each).
    grid : int
        Grid points per axis.
    xlabel, ylabel, zlabel : str, optional
        Axis labels (default: the column names).
    points : bool
        Project the observed (X, Y) pairs and their convex hull onto the floor of the box.

    Returns
    -------
    matplotlib.figure.Figure
        Surface = predicted outcome with covariates at their means. Solid line: line of
        congruence (X = Y); dashed: line of incongruence through the centre.
    """
    use_style()
    levels, lo, hi, g, Xg, Yg, cx, cy = _grid(result, levels, grid)
    xl, yl, zl = _labels(result, xlabel, ylabel, zlabel)
    Z = {lv: result.predict_surface(Xg, Yg, lv) for lv in levels}
    zmin = min(float(z.min()) for z in Z.values())
    zmax = max(float(z.max()) for z in Z.values())
    fig = plt.figure(figsize=(FIG_WIDTH, 4.4 * len(levels)))
    for k, lv in enumerate(levels):
        ax = fig.add_subplot(len(levels), 1, k + 1, projection="3d")
        ax.plot_surface(Xg, Yg, Z[lv], cmap="viridis", vmin=zmin, vmax=zmax, alpha=0.85,
                        linewidth=0, antialiased=True)
        ax.plot(g, g, result.predict_surface(g, g, lv), color=_LOC, lw=2, label="line of congruence")
        c = (cx + cy) / 2
        s = np.linspace(-(hi - lo) / 2, (hi - lo) / 2, grid)
        xs, ys = c + s, c - s
        keep = (xs >= lo) & (xs <= hi) & (ys >= lo) & (ys <= hi)
        ax.plot(xs[keep], ys[keep], result.predict_surface(xs[keep], ys[keep], lv), color=_LOC, lw=2,
                ls="--", label="line of incongruence")
        if points:
            sel = _points(result, lv)
            ax.scatter(sel["x_raw"], sel["y_raw"], np.full(len(sel), zmin), s=4, color="k", alpha=0.25,
                       depthshade=False)
            hx, hy = _hull(sel)
            if len(hx):
                ax.plot(hx, hy, np.full(len(hx), zmin), color="k", lw=1, alpha=0.7)
        ax.set_zlim(zmin, zmax)
        ax.set_xlabel(wrap(xl, 14), labelpad=10)
        ax.set_ylabel(wrap(yl, 14), labelpad=10)
        ax.set_zlabel(wrap(zl, 14), labelpad=8)
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.set_major_locator(plt.MaxNLocator(4))
        ax.view_init(elev=elev, azim=azim)
        if len(levels) > 1:
            ax.text2D(0.5, 0.97, _title(lv), transform=ax.transAxes, ha="center")
    fig.tight_layout()
    return fig


def plot_contour(result, levels=None, *, grid: int = 80, xlabel=None, ylabel=None, zlabel=None,
                 points: bool = True, boot=None):
    """Contour plot of the surface with LOC, LOIC, principal axes, stationary point and the data.

    Solid grey: line of congruence; dashed grey: line of incongruence; solid black: first
    principal axis; dotted black: second principal axis; cross: stationary point (if it
    lies in the observed range) with its 95% CI as red error bars (Wald, from the surface
    table; percentile intervals when a :func:`alliance.rsa.bootstrap_rsa` result is given
    as ``boot``); white dots: the observed pairs, white line: their convex hull (read the
    surface only inside it). One panel per moderator level. Cubic surfaces are drawn
    without axes and stationary point (they have none).
    """
    levels = _levels(result, levels)
    panels = [(result, lv, _title(lv) if len(levels) > 1 else None, ARM_COLORS.get(lv, "k"))
              for lv in levels]
    return _contour_panels(panels, grid=grid, labels=_labels(result, xlabel, ylabel, zlabel),
                           points=points, boot=boot)


def plot_contour_specifications(results: dict, levels="training", *, grid: int = 80,
                                xlabel=None, ylabel=None, zlabel=None, points: bool = True,
                                width: float | None = None, legend: bool = True,
                                isolines: bool = True):
    """Contour maps of the same arm's surface under several specifications, side by side.

    Parameters
    ----------
    results : dict of str to RSAResult
        Panel title -> fit (e.g. the raw lagged and the within-patient surface of
        :func:`alliance.studies.specifications.fit_specification`), one column each.
    levels : str or list
        Moderator level(s) to draw: one row of panels per level.
    points : bool
        Draw the observed pairs of ratings and their convex hull.
    width : float
        Width of one panel in inches (the height follows).
    legend, isolines : bool
        Draw the legend of the lines (as in :func:`plot_contour`) and the white isolines
        over the filled contours. Without them the figure is a third lighter, for a page
        with a weight budget (its caption then names the lines).

    Returns
    -------
    matplotlib.figure.Figure
        As :func:`plot_contour`, on one colour scale over every panel and one range (the
        union of the fits' observed ratings), so that the surfaces can be compared.
    """
    levels = [levels] if isinstance(levels, str) else list(levels)
    first = next(iter(results.values()))
    panels = [(res, lv, name if len(levels) == 1 else f"{name}: {_title(lv)}",
               ARM_COLORS.get(lv, "k"))
              for lv in levels for name, res in results.items()]
    return _contour_panels(panels, grid=grid, labels=_labels(first, xlabel, ylabel, zlabel),
                           points=points, ncols=len(results), width=width, legend=legend,
                           isolines=isolines)


def _contour_panels(panels, *, grid, labels, points, boot=None, ncols=None, width=None,
                    legend=True, isolines=True):
    """Contour maps of (result, level, title, title colour) panels on one colour scale."""
    use_style()
    xl, yl, zl = labels
    ranges = [_range(res) for res, *_ in panels]
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    g = np.linspace(lo, hi, grid)
    Xg, Yg = np.meshgrid(g, g)
    Z = [res.predict_surface(Xg, Yg, lv) for res, lv, *_ in panels]
    vmin = min(float(z.min()) for z in Z)
    vmax = max(float(z.max()) for z in Z)
    # one column for one or two panels, two for more, the figure FIG_WIDTH wide: on a phone
    # its text stays readable
    ncols = min(ncols or len(panels), 1 if len(panels) <= 2 else 2)
    nrows = -(-len(panels) // ncols)
    width = width or (FIG_WIDTH - 1.3) / ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols + 1.3, width * nrows + 1.6),
                             squeeze=False, layout="constrained")
    cs = None
    for k, ((result, lv, title, color), z) in enumerate(zip(panels, Z)):
        ax = axes[k // ncols, k % ncols]
        cx, cy = result.info["center_x"], result.info["center_y"]
        ax.grid(False)
        cs = ax.contourf(Xg, Yg, z, levels=14, cmap="viridis", vmin=vmin, vmax=vmax)
        if isolines:
            ax.contour(Xg, Yg, z, levels=14, colors="white", linewidths=0.4, alpha=0.6)
        ax.plot([lo, hi], [lo, hi], color="0.85", lw=1.8, label="line of congruence")
        c = (cx + cy) / 2
        ax.plot([lo, hi], [2 * c - lo, 2 * c - hi], color="0.85", lw=1.5, ls="--",
                label="line of incongruence")
        q = surface_quantities(result.b(lv).to_numpy())
        second_order = "x3" not in result.beta.index
        for p0, p1, ls, lab in ((q["p10"], q["p11"], "-", "first principal axis"),
                                (q["p20"], q["p21"], ":", "second principal axis")):
            if second_order and np.isfinite(p0) and np.isfinite(p1):
                ax.plot(g, cy + p0 + p1 * (g - cx), color="k", lw=1.4, ls=ls, label=lab)
        if second_order and np.isfinite(q["X0"]) and lo <= q["X0"] + cx <= hi and lo <= q["Y0"] + cy <= hi:
            x0, y0 = q["X0"] + cx, q["Y0"] + cy
            ci = _stationary_ci(result, lv, boot)
            if ci is not None:
                (xl0, xh0), (yl0, yh0) = ci
                ax.errorbar([x0], [y0], xerr=[[max(0.0, x0 - xl0 - cx)], [max(0.0, xh0 + cx - x0)]],
                            yerr=[[max(0.0, y0 - yl0 - cy)], [max(0.0, yh0 + cy - y0)]], fmt="none",
                            ecolor="#c0392b",
                            elinewidth=1.2, capsize=3, label="stationary point, 95% CI")
            ax.plot(x0, y0, "kx", ms=8, mew=2, label="stationary point")
        if points:
            sel = _points(result, lv)
            ax.scatter(sel["x_raw"], sel["y_raw"], s=5, color="white", edgecolor="k", lw=0.3, alpha=0.6)
            hx, hy = _hull(sel)
            if len(hx):
                ax.plot(hx, hy, color="0.15", lw=1.0, ls="-.", alpha=0.9, label="hull of the data")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel(wrap(xl, 16))
        ax.set_ylabel(wrap(yl, 16) if k % ncols == 0 else "")
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        ax.yaxis.set_major_locator(plt.MaxNLocator(4))
        if title:
            ax.text(0.5, 1.02, wrap(title, 24), transform=ax.transAxes, ha="center", va="bottom",
                    color=color)
    for k in range(len(panels), nrows * ncols):
        axes[k // ncols, k % ncols].set_visible(False)
    if legend:
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=1, frameon=False)
    fig.colorbar(cs, ax=axes, label=wrap(zl, 24), shrink=0.8)
    return fig


def explorer(b=(0.0, 0.0, 0.0, 0.0, 0.0), *, x_range=(1.0, 5.0), center=3.0, limit=3.0):
    """Live ipywidgets explorer: move b1..b5 and watch the surface and a1-a5 change.

    Needs a running kernel (a notebook or JupyterLab); the web page uses
    :func:`interactive_surface` instead.

    Parameters
    ----------
    b : sequence of 5 float
        Starting coefficients (e.g. ``result.b("training")``).
    x_range : (float, float)
        Range of both predictors drawn.
    center : float
        Value the predictors are centred on.
    limit : float
        Slider range is +/- ``limit``.

    Returns
    -------
    ipywidgets.VBox
    """
    import ipywidgets as widgets
    names = ["b1 (X)", "b2 (Y)", "b3 (X²)", "b4 (XY)", "b5 (Y²)"]
    sliders = [widgets.FloatSlider(value=float(v), min=-limit, max=limit, step=0.05, description=n,
                                   continuous_update=False) for v, n in zip(b, names)]
    out = widgets.Output()
    g = np.linspace(*x_range, 40)
    Xg, Yg = np.meshgrid(g, g)

    def draw(*_):
        bb = np.array([s.value for s in sliders])
        q = surface_quantities(bb)
        with out:
            out.clear_output(wait=True)
            use_style()
            fig = plt.figure(figsize=(9, 4))
            ax = fig.add_subplot(1, 2, 1, projection="3d")
            ax.plot_surface(Xg, Yg, _poly(bb, 0.0, Xg, Yg, center, center), cmap="viridis", alpha=0.85)
            ax.plot(g, g, _poly(bb, 0.0, g, g, center, center), color=_LOC, lw=2)
            ax.set_xlabel("X")
            ax.set_ylabel("Y")
            ax2 = fig.add_subplot(1, 2, 2)
            ax2.contourf(Xg, Yg, _poly(bb, 0.0, Xg, Yg, center, center), levels=14, cmap="viridis")
            ax2.plot(x_range, x_range, color="0.85")
            ax2.set_aspect("equal")
            ax2.text(0.02, 0.02, "  ".join(f"{k}={q[k]:.2f}" for k in ("a1", "a2", "a3", "a4", "a5")),
                     transform=ax2.transAxes, fontsize=8, color="white")
            plt.show()

    for s in sliders:
        s.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([widgets.VBox(sliders), out])])


class InteractiveSurface:
    """HTML of a kernel-free Plotly view; displays itself in notebooks and in the book."""

    def __init__(self, html: str, div_id: str, steps: list[str]):
        self.html = html
        self.div_id = div_id
        self.steps = steps

    def _repr_html_(self) -> str:
        return self.html

    def save(self, path) -> None:
        """Write a standalone HTML page (works offline when plotly.js is embedded)."""
        Path(path).write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{self.html}"
                              "</body></html>", encoding="utf-8")


def interactive_surface(result, levels=None, *, grid: int = 30, xlabel=None, ylabel=None,
                        zlabel=None, plotly_src: str | None = None, include_plotlyjs: bool = True,
                        div_id: str | None = None) -> InteractiveSurface:
    """Kernel-free interactive surface: rotate it, and switch between the levels' fitted surfaces.

    One button per level (for the trial: control and training) shows that level's
    fitted surface and its observed points -- only surfaces the model fitted, never a
    blend of two -- and the five surface parameters of the shown level are printed
    under the plot, outside it. Every surface is precomputed here, so the page needs
    no kernel. The plot resizes with its column (a phone gets a shorter one).

    Parameters
    ----------
    result : RSAResult
    levels : list, optional
        Levels to offer (default: every level of the fit).
    plotly_src : str, optional
        URL of plotly.js for the page to load (e.g. the book's own static copy of the
        partial 3-D bundle, ``"../_static/plotly/plotly-gl3d.min.js"``): never embedded,
        and fetched only when the plot comes near the screen (so a page that holds it
        stays light until the reader scrolls to it).
    include_plotlyjs : bool
        Without ``plotly_src``: embed the full plotly.js (the view then works offline
        on its own, e.g. in a notebook or a saved page). With False the page must
        load plotly.js itself.
    div_id : str, optional
        id of the plot's ``<div>`` (default: random). The browser test finds the plot by
        the ``data-rsa-interactive`` attribute of the wrapper.

    Returns
    -------
    InteractiveSurface
        Displays as HTML in notebooks and in the built book; ``steps`` are the levels.
    """
    import plotly.graph_objects as go

    levels, lo, hi, g, Xg, Yg, cx, cy = _grid(result, levels, grid)
    xl, yl, zl = _labels(result, xlabel, ylabel, zlabel)
    c = (cx + cy) / 2
    s = np.linspace(-(hi - lo) / 2, (hi - lo) / 2, grid)
    keep = (c + s >= lo) & (c + s <= hi) & (c - s >= lo) & (c - s <= hi)
    lx, ly = (c + s)[keep], (c - s)[keep]
    surfaces = []
    for lv in levels:
        b, b0 = result.b(lv).to_numpy(), result.intercept(lv)
        q = surface_quantities(b)
        note = "  ".join(f"a{k} = {q[f'a{k}']:.2f}" for k in range(1, 6))
        surfaces.append((str(lv), np.round(_poly(b, b0, Xg, Yg, cx, cy), 4),
                         np.round(_poly(b, b0, g, g, cx, cy), 4),
                         np.round(_poly(b, b0, lx, ly, cx, cy), 4), note, _points(result, lv)))
    allz = np.concatenate([sf[1].ravel() for sf in surfaces])
    zmin, zmax = float(allz.min()), float(allz.max())
    traces = []
    for k, (lab, z, loc, loic, _note, pts) in enumerate(surfaces):
        vis = k == len(surfaces) - 1
        traces += [
            go.Surface(x=g.tolist(), y=g.tolist(), z=z.tolist(), colorscale="Viridis", cmin=zmin,
                       cmax=zmax, showscale=False, name=f"surface ({lab})", opacity=0.9,
                       visible=vis),
            go.Scatter3d(x=g.tolist(), y=g.tolist(), z=loc.tolist(), mode="lines", visible=vis,
                         line={"color": "black", "width": 6}, name="line of congruence",
                         showlegend=k == 0),
            go.Scatter3d(x=lx.tolist(), y=ly.tolist(), z=loic.tolist(), mode="lines", visible=vis,
                         line={"color": "black", "width": 4, "dash": "dash"},
                         name="line of incongruence", showlegend=k == 0),
            go.Scatter3d(x=np.round(pts["x_raw"], 3).tolist(), y=np.round(pts["y_raw"], 3).tolist(),
                         z=np.round(pts["z"], 2).tolist(), mode="markers", visible=vis,
                         marker={"size": 2, "color": ARM_COLORS.get(lab, "#444444")},
                         name="observed", showlegend=k == 0),
        ]
    per = 4
    buttons = []
    for k, (lab, *_rest) in enumerate(surfaces):
        visible = [j // per == k for j in range(per * len(surfaces))]
        buttons.append({"label": ARM_LABELS.get(lab, lab), "method": "restyle",
                        "args": [{"visible": visible}]})
    fig = go.Figure(traces)
    fig.update_layout(
        scene={"xaxis": {"title": {"text": xl}}, "yaxis": {"title": {"text": yl}},
               "zaxis": {"title": {"text": zl}, "range": [zmin, zmax]},
               "camera": {"eye": {"x": -1.8, "y": -1.6, "z": 1.0}}, "aspectmode": "cube"},
        margin={"l": 0, "r": 0, "t": 40, "b": 0}, autosize=True,
        legend={"orientation": "h", "x": 0.0, "y": 0.0, "yanchor": "top"},
        updatemenus=[{"type": "buttons", "direction": "right", "active": len(surfaces) - 1,
                      "buttons": buttons, "x": 0.0, "xanchor": "left", "y": 1.0, "yanchor": "bottom",
                      "pad": {"r": 4, "t": 4}, "showactive": True}],
    )
    div_id = div_id or f"rsa-{uuid.uuid4().hex[:8]}"
    body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, default_height="100%",
                       config={"displaylogo": False, "responsive": True})
    notes = [sf[4] for sf in surfaces]
    labels = [ARM_LABELS.get(sf[0], sf[0]) for sf in surfaces]
    readout_id = f"{div_id}-readout"
    lazy = plotly_src is not None
    if lazy:  # plotly.js (1.7 MB) is fetched only when the plot comes near the screen
        body = re.sub(r'<script(?: type="text/javascript")?>',
                      '<script type="text/plain" data-plotly-code="1">', body, count=1)
        js = ""
    elif include_plotlyjs:
        from plotly.offline import get_plotlyjs

        js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    else:
        js = ""
    # the readout sits under the plot, never over it; a click on a level's button rewrites it.
    # On a narrow screen the camera moves back so that every axis title stays inside the plot.
    script = (
        "<script type=\"text/javascript\">(function(){"
        f"var notes={json.dumps(notes)}, labels={json.dumps(labels)}, src={json.dumps(plotly_src)};"
        f"var id={json.dumps(div_id)}, gd=document.getElementById(id),"
        f"out=document.getElementById({json.dumps(readout_id)}),"
        "wrap=document.querySelector('[data-rsa-interactive=\"'+id+'\"]');"
        "function hook(){if(!gd||!gd.on){return setTimeout(hook,100);}"
        "if(gd.clientWidth<560){window.Plotly.relayout(gd,{'scene.camera.eye':{x:-2.3,y:-2.1,z:1.3},"
        "'scene.xaxis.title.font.size':11,'scene.yaxis.title.font.size':11,"
        "'scene.zaxis.title.font.size':11});}"
        "gd.on('plotly_buttonclicked',function(e){var k=e.active;"
        "out.textContent=labels[k]+': '+notes[k];});}"
        "function draw(){var code=wrap.querySelector('script[data-plotly-code]');"
        "if(code){(new Function(code.textContent))();}hook();}"
        "function load(){if(wrap.getAttribute('data-loading')){return;}"
        "wrap.setAttribute('data-loading','1');"
        "if(window.Plotly||!src){return draw();}"
        "var s=document.createElement('script');s.src=src;s.onload=draw;document.head.appendChild(s);}"
        "if(src&&'IntersectionObserver' in window){var io=new IntersectionObserver(function(es){"
        "if(es.some(function(e){return e.isIntersecting;})){io.disconnect();load();}},"
        "{rootMargin:'300px'});io.observe(wrap);}else{load();}"
        "})();</script>")
    meta = _html.escape(json.dumps([sf[0] for sf in surfaces]))
    name = (f"Interactive 3-D response surface: {zl} over {xl} and {yl}, one fitted surface per "
            "arm with the observed points; drag to rotate, the buttons switch between arms")
    html = (f'<div class="rsa-interactive" data-rsa-interactive="{div_id}" data-steps="{meta}" '
            f'role="group" aria-label="{_html.escape(name, quote=True)}">'
            f"{js}<div class=\"rsa-interactive-plot\">{body}</div>"
            f'<p class="rsa-readout" id="{readout_id}">{_html.escape(labels[-1] + ": " + notes[-1])}'
            f"</p>{script}</div>")
    return InteractiveSurface(html, div_id, [sf[0] for sf in surfaces])
