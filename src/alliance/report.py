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

import pandas as pd

from alliance._errors import AllianceWarning, FitError

__all__ = ["run_report", "cli_run"]


def _save_fig(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=130)
    plt.close(fig)


def run_report(data: pd.DataFrame, out: Path, source: str = "<DataFrame>") -> dict:
    """Run every analysis on validated ``data`` and write tables, figures and summary.

    Returns a dict with the written ``tables`` and ``figures`` (paths), the
    analyses that ``failed`` (name -> message), the ``warnings`` raised, and the
    ``findings`` table.
    """
    import matplotlib

    matplotlib.use("Agg")
    from alliance import design, growth, lagged, randomise, truth_bias
    from alliance.findings import evaluate
    from alliance.plotting import use_style
    from alliance.rsa import plots as rsa_plots

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
            figure("trajectories", design.plot_trajectories(data))
            figure("missingness", design.plot_missingness(data))

        def randomisation_step():
            bal = randomise.balance(data)
            table("balance", bal.tables[next(iter(bal.tables))])
            table("icc", randomise.icc_summary(data))

        def findings_step():
            nonlocal findings
            findings = evaluate(data)
            table("findings", findings.tables["findings"])
            table("findings_evidence", findings.tables["evidence"])
            fits = findings.fits
            for rater in ("therapist", "patient", "both"):
                table(f"growth_{rater}", fits[f"growth_{rater}"].fixed)
            table("growth_trajectories", fits["growth_both"].trajectories())
            figure("growth_trajectories", growth.plot_trajectories(fits["growth_both"]))
            tb = fits["truth_bias"]
            table("truth_bias_forces", tb.forces.drop(columns=["combination"], errors="ignore"))
            figure("truth_bias_forces", truth_bias.plot_forces(tb))
            figure("truth_bias_dyads", truth_bias.plot_dyads(data))
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
            figure("lagged_effects", lagged.plot_effects(fwd, rev))

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
    from alliance.design import validation_summary

    info = validation_summary(data)
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


def cli_run(args) -> int:
    """``alliance report FILE --out DIR [--column canonical=yours ...]``."""
    from alliance.cli import parse_columns
    from alliance.io import read_sessions

    data = read_sessions(args.file, columns=parse_columns(args.column))
    written = run_report(data, Path(args.out), source=str(args.file))
    print(f"wrote {len(written['tables'])} tables, {len(written['figures'])} figures and "
          f"{written['summary']}")
    for name, msg in written["failed"].items():
        print(f"failed: {name}: {msg}")
    return 3 if written["failed"] else 0
