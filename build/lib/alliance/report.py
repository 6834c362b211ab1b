"""``alliance report FILE --out DIR``: every analysis of the book on one data file.

The report validates the file (:func:`alliance.read_sessions`; an invalid file
stops it before anything is written), then runs the same functions the
chapters call and writes

* ``tables/*.csv``: sample structure, descriptives, missingness, balance, ICCs
  and design effects, growth models, truth-and-bias forces, the lagged response
  surface, lagged within/between effects in both directions, the four findings;
* ``figures/*.png``: the chapters' figures for this data set;
* ``summary.md``: a one-page summary with the four findings and what ran.

An analysis that cannot be fitted (``FitError``) is reported in the summary and
the remaining analyses still run; the command then exits with code 3.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd

from alliance import lagged, randomise
from alliance.data import summary as design
from alliance.data.validate import read_sessions
from alliance.errors import AllianceWarning, FitError
from alliance.findings import evaluate
from alliance.plots import design as design_plots
from alliance.plots import growth as growth_plots
from alliance.plots import lagged as lagged_plots
from alliance.plots import rsa as rsa_plots
from alliance.plots import truth_bias as tb_plots
from alliance.plots.style import use_style

__all__ = ["run_report"]


def _save_fig(fig, path: Path) -> None:
    fig.savefig(path, dpi=130)
    plt.close(fig)


def run_report(data, out: Path, *, columns=None) -> dict:
    """Run every analysis on ``data`` (a file or a DataFrame) and write tables, figures and summary.

    Returns a dict with the written ``tables`` and ``figures`` (paths), the
    analyses that ``failed`` (name -> message), the ``warnings`` raised, and the
    ``findings`` table.
    """
    data = read_sessions(data, columns)
    source = data.attrs["source"]
    matplotlib.use("Agg")
    use_style()
    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    written = {"tables": [], "figures": [], "failed": {}, "warnings": []}

    def table(name: str, df: pd.DataFrame) -> None:
        path = out / "tables" / f"{name}.csv"
        df.to_csv(path, index=False)
        written["tables"].append(path)

    def figure(name: str, fig) -> None:
        path = out / "figures" / f"{name}.png"
        _save_fig(fig, path)
        written["figures"].append(path)

    def step(name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except FitError as exc:
            written["failed"][name] = str(exc)

    findings = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AllianceWarning)

        def design_step():
            table("sample_structure", design.sample_structure(data))
            table("caseloads", design.caseloads(data))
            table("descriptives", design.descriptives(data))
            table("missingness", design.missingness(data))
            figure("trajectories", design_plots.plot_trajectories(data))
            figure("missingness", design_plots.plot_missingness(data))

        def randomisation_step():
            bal = randomise.balance(data)
            table("balance", bal.estimates)
            table("icc", randomise.icc_summary(data))

        def findings_step():
            nonlocal findings
            findings = evaluate(data)
            table("findings", findings.tables["findings"])
            table("findings_evidence", findings.tables["evidence"])
            fits = findings.fits
            for rater in ("therapist", "patient", "both"):
                table(f"growth_{rater}", fits[f"growth_{rater}"].estimates)
            table("growth_trajectories", fits["growth_both"].trajectories())
            figure("growth_trajectories", growth_plots.plot_trajectories(fits["growth_both"]))
            tb = fits["truth_bias"]
            table("truth_bias_forces", tb.estimates.drop(columns=["combination"], errors="ignore"))
            figure("truth_bias_forces", tb_plots.plot_forces(tb))
            figure("truth_bias_dyads", tb_plots.plot_dyads(data))
            surf = fits["rsa"]
            table("rsa_surface", surf.tables["surface"])
            table("rsa_checklist", surf.tables["checklist"])
            figure("rsa_surface", rsa_plots.plot_surface(surf))
            figure("rsa_contour", rsa_plots.plot_contour(surf))

        def lagged_step():
            fwd = lagged.fit_lagged(data)
            rev = lagged.fit_lagged(data, direction="outcome->alliance")
            table("lagged_alliance_to_wellbeing", fwd.tables["effects"])
            table("lagged_wellbeing_to_alliance", rev.tables["effects"])
            figure("lagged_effects", lagged_plots.plot_effects(fwd, rev))

        for name, fn in (("design", design_step), ("randomisation", randomisation_step),
                         ("growth, truth and bias, response surfaces", findings_step),
                         ("lagged outcomes", lagged_step)):
            step(name, fn)
    written["warnings"] = sorted({str(w.message) for w in caught
                                  if issubclass(w.category, AllianceWarning)})
    written["findings"] = None if findings is None else findings.tables["findings"]
    (out / "summary.md").write_text(_summary(data, source, written, findings), encoding="utf-8")
    written["summary"] = out / "summary.md"
    return written


def _summary(data, source, written, findings) -> str:
    info = design.validation_summary(data)
    lines = [
        f"# Alliance analysis report: {Path(source).name}",
        "",
        f"Data: `{source}`: {info['rows']} rows, {info['therapists']} therapists, "
        f"{info['patients']} patients; therapists per arm {info['therapists_per_arm']}; "
        f"patients per arm {info['patients_per_arm']}; sessions {info['sessions']}.",
        "",
        "Produced by `alliance report` with the functions the book's chapters call "
        "(specifications as in chapters 1-6). If these data are synthetic (e.g. from "
        "`alliance simulate`), every number below is synthetic.",
        "",
        "## The paper's four findings on these data",
        "",
    ]
    if findings is not None:
        ev = findings.tables["evidence"]
        for row in findings.tables["findings"].itertuples():
            lines.append(f"{row.claim}. **{row.verdict}**: {row.statement} ({row.reason})")
        lines += ["", "| claim | quantity | level | estimate | SE | z | p | 95% CI |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in ev.itertuples():
            lines.append(f"| {r.claim} | {r.term} | {r.level} | {r.estimate:.3f} | {r.se:.3f} | "
                         f"{r.statistic:.2f} | {r.p:.4f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] |")
    else:
        lines.append("The models behind the findings could not be fitted (see below).")
    lines += ["", "## Files", "",
              f"- {len(written['tables'])} tables in `tables/`: "
              + ", ".join(p.name for p in written["tables"]),
              f"- {len(written['figures'])} figures in `figures/`: "
              + ", ".join(p.name for p in written["figures"])]
    if written["failed"]:
        lines += ["", "## Analyses that failed", ""]
        lines += [f"- {k}: {v}" for k, v in written["failed"].items()]
    if written["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in written["warnings"]]
    return "\n".join(lines) + "\n"
