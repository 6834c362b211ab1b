"""``alliance report FILE --out DIR``: every analysis of the book on one data file.

The report validates the data (:func:`alliance.read_sessions`; an invalid file
stops it before anything is written), then runs the same functions the
chapters call, one analysis at a time, and writes

* ``tables/*.csv``: sample structure, descriptives, missingness, balance, ICCs
  and design effects, growth models, truth-and-bias forces, the lagged response
  surface, lagged within/between effects in both directions, the four findings;
* ``figures/*.png``: the chapters' figures for this data set;
* ``summary.md``: a one-page summary: where the data came from (path and
  SHA-256), the four findings, every analysis with its status, the files, the
  warnings;
* ``status.json``: the same status in machine-readable form;
* ``report.html``: the report as one self-contained page that opens offline in
  any browser (every figure embedded with its caption, the verdicts, the model
  formulas, the data summary, the tables, and provenance: package version,
  input SHA-256, date, command line), and ``report.md``, the same in Markdown
  with the figures linked from ``figures/``.

**It degrades gracefully.** Every analysis runs, whatever happened to the ones
before it; one that cannot run (a degenerate fit, data it cannot use, such as a
single arm or too few repeated sessions) is listed in the summary with its
reason, and the findings that rest on it are marked ``not evaluated``.

**Its output appears whole or not at all** (:func:`alliance.outputs.atomic_dir`):
everything is written into a temporary folder beside ``out`` and moved into
place when complete, so an error or Ctrl-C leaves ``out`` as it was. A
non-empty ``out`` is refused unless ``force=True`` (``--force``), and is then
replaced whole, never mixed with the new files.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import importlib
import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd

from alliance import __version__
from alliance.data import summary as design
from alliance.data.validate import read_sessions
from alliance.draws.runner import progress_bar
from alliance.errors import AllianceError, AllianceWarning
from alliance.findings import CLAIM_MODELS, PAPER_MODELS, PLAN, _evaluate, analysis_plan
from alliance.findings import VERDICT_MEANINGS as FINDINGS_VERDICT_MEANINGS
from alliance.outputs import atomic_dir, check_target, sha256_file
from alliance.plots import design as design_plots
from alliance.plots.labels import term_label
from alliance.plots.style import use_style
from alliance.plots.tables import format_value
from alliance.plots.tables import table as format_table
from alliance.provenance import provenance
from alliance.registry import analyses, descriptor

__all__ = ["ANALYSES", "MODEL_DESCRIPTIONS", "VERDICT_MEANINGS", "is_shipped_synthetic",
           "run_report"]

def sections() -> list[tuple[str, object]]:
    """Every section of the report's registered analyses (:mod:`alliance.registry`), in the
    order of the book's chapters: (analysis module, :class:`~alliance.registry.Section`)."""
    found = sorted((descriptor(name) for name in analyses()), key=lambda a: a.chapter)
    return [(a, sec) for a in found for sec in a.sections]


def _analysis_list() -> dict[str, str]:
    out = {"design": "sample structure, caseloads, descriptives, missingness and their figures"}
    later = {}
    for _analysis, sec in sections():
        (later if sec.after_findings else out)[sec.name] = sec.what
    return {**out, "findings": "the paper's four findings (chapter 7)", **later}


#: Every analysis of the report, in the order it runs: name -> what it is (the sections of the
#: registered analyses, :func:`sections`, between the data's description and the findings).
ANALYSES = _analysis_list()


#: What each verdict means, in one sentence: the analysis plan's definitions
#: (``alliance.findings.VERDICT_MEANINGS``, from ``analysis_plan.toml``), and "not evaluated".
VERDICT_MEANINGS = {
    **{v: m[0].upper() + m[1:] + "." for v, m in FINDINGS_VERDICT_MEANINGS.items()},
    "not evaluated": "A model the finding rests on could not be fitted on these data.",
}

#: What each model behind the findings is (the report names every fitted model with it).
MODEL_DESCRIPTIONS = {
    "growth_therapist": "Growth of therapist-rated alliance over sessions by arm (chapter 3): "
                        "linear mixed model with random intercepts for therapists and random "
                        "intercepts and slopes for patients.",
    "growth_patient": "The same growth model for patient-rated alliance (chapter 3).",
    "growth_both": "Both raters' alliance stacked in one growth model with rater x condition x "
                   "time terms (chapter 3).",
    "truth_bias": "Truth-and-bias model of the therapist's rating (chapter 4): temporal "
                  "congruence (within-dyad truth force), level accuracy and directional bias, "
                  "by arm.",
    "rsa": "Raw lagged response surface (chapter 5): well-being at session s on therapist- and "
           "patient-rated alliance at s-1 (linear, squared and cross-product terms) by arm, with "
           "session as covariate and random intercepts for therapists and patients; within- and "
           "between-patient associations are mixed in its a1..a5.",
    "rsa_within": "Within-patient lagged response surface (chapters 5 and 7; findings 3 and 4 "
                  "are judged on it): the same surface with each patient's means of the five "
                  "surface terms as level-2 predictors (Nestler et al., 2019){interacted}, so its "
                  "a1..a5 describe within-patient associations.",
}


def _shipped_checksum() -> str | None:
    """The SHA-256 of the synthetic data file shipped with the package (its checksum file)."""
    from alliance.data.example import example_path

    sumfile = Path(str(example_path()) + ".sha256")
    try:
        return sumfile.read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError):
        return None


def is_shipped_synthetic(origin: dict) -> bool:
    """Whether the report's input is the synthetic trial shipped with the package.

    A file is compared by its SHA-256 with the package's checksum file
    (``sessions.csv.sha256``); a DataFrame by the digest of its rows with that of the
    shipped file's rows. Only then does the report call its numbers synthetic.
    """
    shipped = _shipped_checksum()
    if shipped is None:
        return False
    if origin.get("input_kind") == "file":
        return origin.get("sha256") == shipped
    return origin.get("sha256") == _shipped_rows_digest()


@functools.lru_cache(maxsize=1)
def _shipped_rows_digest() -> str | None:
    """The digest of the shipped file's validated rows (read once per process)."""
    from alliance.data.example import example_path

    try:
        return _input_checksum(None, read_sessions(example_path()))["sha256"]
    except (AllianceError, OSError):
        return None


def _notice(origin: dict) -> str:
    if is_shipped_synthetic(origin):
        return ("These data are the synthetic trial shipped with alliance (their SHA-256 matches "
                "the package's checksum file): every number in this report is computed from "
                "synthetic data, not from the trial's clinical data.")
    return ("Produced by alliance report with the functions the book's chapters call, on the "
            "data named below (its SHA-256 is in the provenance).")


def _input_checksum(source, data: pd.DataFrame) -> dict:
    """What the report was made from: the file and its SHA-256, or a DataFrame's content hash."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return {"input": str(path), "input_kind": "file", "sha256": sha256_file(path),
                "bytes": path.stat().st_size}
    rows = pd.util.hash_pandas_object(data, index=False).to_numpy()
    digest = hashlib.sha256(rows.tobytes() + "\x1f".join(map(str, data.columns)).encode()).hexdigest()
    return {"input": str(data.attrs.get("source", "<DataFrame>")), "input_kind": "DataFrame",
            "sha256": digest, "bytes": None}


def run_report(data, out, *, columns=None, force: bool = False, sep: str | None = None,
               decimal: str | None = None, option: str = "output",
               command: list[str] | None = None, ids: str = "text",
               progress: bool = False) -> dict:
    """Run every analysis on ``data`` and write tables, figures and a summary into ``out``.

    Parameters
    ----------
    data : str, path or pandas.DataFrame
        Session data, validated by :func:`alliance.read_sessions` (with ``columns``,
        ``sep``, ``decimal`` and ``ids`` as there). Invalid data raise :class:`~alliance.DataError`
        before anything is written.
    out : str or path
        The folder to write. It must not exist, or be empty, unless ``force``.
    force : bool
        Replace a non-empty ``out`` whole (never mixed with the new files).
    option : str
        How messages about ``out`` name it (the command line passes ``"--out"``).
    command : list of str, optional
        The command line recorded in the report's provenance (default ``sys.argv``).
    progress : bool
        A progress bar on standard error, one step per analysis.

    Returns
    -------
    dict
        ``out`` (the folder), ``tables`` and ``figures`` (paths, in ``out``),
        ``summary`` (the path of ``summary.md``), ``status`` (analysis -> ``"ok"``
        or ``"failed"``), ``failed`` (analysis -> reason, one line), ``warnings``
        (analysis -> warning messages), ``findings`` (the findings table or
        None), ``input`` (path or DataFrame name, SHA-256, size).

    Raises
    ------
    alliance.DataError
        The data break a rule of the data model (nothing is written).
    alliance.outputs.OutputError
        ``out`` cannot be used (not empty without ``force``, a file, not
        writable), checked before the data are read.

    Notes
    -----
    Each analysis of :data:`ANALYSES` runs in turn; one that raises an
    :class:`~alliance.AllianceError` (a :class:`~alliance.DataError` it meets on
    these data or a :class:`~alliance.FitError`) is recorded as failed with its
    message, and one that raises anything else as failed with an "internal
    error" reason (a bug to report); the remaining analyses still run. Warnings
    (:class:`~alliance.AllianceWarning`) are collected per analysis.

    Examples
    --------
    >>> import tempfile, pathlib, alliance
    >>> from alliance.report import run_report
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report"
    >>> res = run_report(alliance.example_path(), out)  # doctest: +SKIP
    >>> res["failed"], res["status"]["findings"]  # doctest: +SKIP
    ({}, 'ok')
    """
    is_path = isinstance(data, (str, os.PathLike))
    keep = [data] if is_path else []  # --force must never delete the input
    target = check_target(out, kind="folder", force=force, option=option, keep=keep)
    valid = (read_sessions(data, columns, sep=sep, decimal=decimal, ids=ids) if is_path
             else read_sessions(data, columns, ids=ids))
    origin = _input_checksum(data, valid)
    matplotlib.use("Agg")
    use_style()
    with atomic_dir(target, force=force, option=option, keep=keep) as tmp:
        written = _run_all(valid, tmp, progress)
        facts = provenance(command=command)
        (tmp / "report.html").write_text(_document(valid, origin, written, facts, "html"),
                                         encoding="utf-8")
        (tmp / "report.md").write_text(_document(valid, origin, written, facts, "md"),
                                       encoding="utf-8")
        final = {k: [target / p.relative_to(tmp) for p in written[k]] for k in ("tables", "figures")}
        written.update(final, input=origin, out=target, summary=target / "summary.md")
        (tmp / "summary.md").write_text(_summary(valid, origin, written), encoding="utf-8")
        (tmp / "status.json").write_text(json.dumps(_status_record(origin, written), indent=2),
                                         encoding="utf-8")
    return written


class _Skipped(AllianceError):
    """An analysis that has nothing to run on (its inputs failed)."""


def _run_all(data: pd.DataFrame, out: Path, progress: bool = False) -> dict:
    bar = progress_bar(show=progress, total=len(ANALYSES), unit="analysis", desc="report")

    def run(name, fn, written, owner=None):
        bar.set_postfix_str(name, refresh=False)
        _run_step(name, fn, written, owner=owner)
        if owner is None:
            bar.update(1)

    (out / "tables").mkdir()
    (out / "figures").mkdir()
    fits: dict = {}
    written: dict = {"tables": [], "figures": [], "status": {}, "failed": {}, "warnings": {},
                     "seconds": {}, "findings": None, "fits": fits}

    def table(name: str, df: pd.DataFrame) -> None:
        path = out / "tables" / f"{name}.csv"
        df.to_csv(path, index=False)
        written["tables"].append(path)

    def figure(name: str, fig) -> None:
        path = out / "figures" / f"{name}.png"
        try:
            fig.savefig(path, dpi=130)
        finally:
            plt.close(fig)
        written["figures"].append(path)

    def design_step():
        table("sample_structure", design.sample_structure(data))
        table("caseloads", design.caseloads(data))
        table("descriptives", design.descriptives(data))
        table("missingness", design.missingness(data))
        figure("trajectories", design_plots.plot_trajectories(data))
        figure("missingness", design_plots.plot_missingness(data))

    results: dict = {}  # every section's result, by section name

    def section_step(analysis, sec) -> Callable[[], None]:
        plots = None

        def step():
            nonlocal plots
            res = PAPER_MODELS[sec.model](data, 0.95) if sec.model else sec.fit(data)
            results[sec.name] = res
            if sec.model:
                fits[sec.model] = res
            for stem, (what, _title) in sec.tables.items():
                table(stem, res.tables[what] if isinstance(what, str) else what(res))
            for fig in sec.figures:
                if plots is None:
                    plots = importlib.import_module(f"alliance.plots.{_unit(analysis)}")
                draw = getattr(plots, fig.plot)
                if fig.of == "data":
                    figure(fig.name, draw(data))
                elif fig.of == "result":
                    figure(fig.name, draw(res))
        return step

    def sections_figure(analysis, fig) -> Callable[[], None]:
        """A figure of every section of the analysis that could be fitted."""
        def step():
            fitted = [results[s.name] for s in analysis.sections if s.name in results]
            plots = importlib.import_module(f"alliance.plots.{_unit(analysis)}")
            figure(fig.name, getattr(plots, fig.plot)(*fitted))
        return step

    def findings_step():
        if not fits:
            raise _Skipped("none of the models behind the findings could be fitted")
        res = _evaluate(data, fits=fits)
        written["findings"] = res
        table("findings", res.tables["findings"])
        table("findings_evidence", res.tables["evidence"])

    written["section_results"] = results
    first, later = [], []
    for analysis, sec in sections():
        (later if sec.after_findings else first).append((analysis, sec))
    run("design", design_step, written)
    for analysis, sec in first:
        run(sec.name, section_step(analysis, sec), written)
    run("findings", findings_step, written)
    for analysis, sec in later:
        run(sec.name, section_step(analysis, sec), written)
    drawn = set()
    for analysis, sec in first + later:  # figures of several sections: whichever were fitted
        for fig in sec.figures:
            fitted = [s.name for s in analysis.sections if s.name in results]
            if fig.of == "sections" and fitted and fig.name not in drawn:
                drawn.add(fig.name)
                run(f"{fig.name}_figure", sections_figure(analysis, fig), written,
                          owner=fitted[0])
    bar.close()
    return written


def _unit(analysis) -> str:
    """The module of an analysis (``growth``, ``rsa``...): its figures are ``alliance.plots.<it>``."""
    return next(f.unit for f in analyses().values() if f.name == analysis.name)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _run_step(name: str, fn: Callable[[], None], written: dict, owner: str | None = None) -> None:
    key = owner or name
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AllianceWarning)
        try:
            fn()
        except OSError:  # the output cannot be written (disk full, ...): stop, leave nothing
            raise
        except AllianceError as exc:
            written["status"][key] = "failed"
            written["failed"][key] = _one_line(exc)
        except Exception as exc:  # noqa: BLE001 - a bug: recorded, reported, the report goes on
            written["status"][key] = "failed"
            written["failed"][key] = _one_line(
                f"internal error ({type(exc).__name__}: {exc}); please report it")
        else:
            written["status"].setdefault(key, "ok")
    msgs = [_one_line(w.message) for w in caught if issubclass(w.category, AllianceWarning)]
    if msgs:
        written["warnings"].setdefault(key, [])
        written["warnings"][key] += [m for m in dict.fromkeys(msgs)
                                     if m not in written["warnings"][key]]
    written["seconds"][key] = written["seconds"].get(key, 0.0) + time.perf_counter() - start


def _status_record(origin: dict, written: dict) -> dict:
    return {
        "alliance_version": __version__,
        "input": origin,
        "complete": not written["failed"],
        "analyses": {name: {"description": ANALYSES[name],
                            "status": written["status"].get(name, "not run"),
                            "reason": written["failed"].get(name),
                            "warnings": written["warnings"].get(name, []),
                            "seconds": round(written["seconds"].get(name, 0.0), 3)}
                     for name in ANALYSES},
        "tables": [p.name for p in written["tables"]],
        "figures": [p.name for p in written["figures"]],
    }


def _per_arm(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _summary(data, origin: dict, written: dict) -> str:
    info = design.validation_summary(data)
    findings = written["findings"]
    source = origin["input"]
    lines = [
        f"# Alliance analysis report: {Path(source).name}",
        "",
        f"Data: `{source}`"
        + (f" ({origin['bytes']:,} bytes, SHA-256 `{origin['sha256']}`)"
           if origin["input_kind"] == "file" else
           f" (a DataFrame; SHA-256 of its rows `{origin['sha256']}`)")
        + f": {info['rows']} rows, {info['therapists']} therapists, "
        f"{info['patients']} patients; therapists per arm {_per_arm(info['therapists_per_arm'])}; "
        f"patients per arm {_per_arm(info['patients_per_arm'])}; sessions "
        f"{', '.join(map(str, info['sessions']))}.",
        "",
        *[f"Note on the data: {n}\n" for n in info["notes"]],
        (f"Produced by `alliance report` (alliance {__version__}) with the functions the book's "
         "chapters call (specifications as in chapters 1-6). " + _notice(origin)),
        "",
    ]
    if written["failed"]:
        lines += [(f"**Incomplete: {len(written['failed'])} of {len(ANALYSES)} analyses could "
                   "not run** (listed below with the reason); everything else was written."), ""]
    lines += ["## The paper's four findings on these data", ""]
    if findings is not None:
        ev = findings.tables["evidence"]
        for row in findings.tables["findings"].itertuples():
            lines.append(f"{row.claim}. **{row.verdict}**: {row.statement} ({row.reason})")
        if len(ev):
            lines += ["", "| claim | test | role | estimate | SE | df | p | p (Holm) | CI |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for r in ev.itertuples():
                lines.append(f"| {r.claim} | {r.term} | {r.role} | {r.estimate:.3f} | "
                             f"{r.se:.3f} | {format_value(r.df, 'df')} | "
                             f"{format_value(r.p, 'p')} | {format_value(r.p_holm, 'p')} | "
                             f"[{r.ci_low:.3f}, {r.ci_high:.3f}] |")
            lines += ["", ("Verdicts follow the pre-specified rules of chapter 7 "
                           "(`alliance.findings.judge`): one primary test per finding, "
                           "Holm-adjusted across the four; a finding with further parts is "
                           "replicated only when every part holds, otherwise inconclusive. p "
                           "values in APA style (< .001 below one in a thousand)."), "",
                      *[f"- *{v}*: {m}" for v, m in VERDICT_MEANINGS.items()]]
    else:
        needed = sorted({m for ms in CLAIM_MODELS.values() for m in ms})
        lines.append("The findings could not be evaluated: none of the models they rest on "
                     f"({', '.join(needed)}) could be fitted (see below).")
    lines += ["", "## Analyses", "", "| analysis | what | status |", "|---|---|---|"]
    for name, what in ANALYSES.items():
        status = written["status"].get(name, "not run")
        reason = written["failed"].get(name)
        lines.append(f"| {name} | {what} | {status}{': ' + reason if reason else ''} |"
                     .replace("\n", " "))
    lines += ["", "## Files", "",
              f"- {len(written['tables'])} tables in `tables/`: "
              + ", ".join(p.name for p in written["tables"]),
              f"- {len(written['figures'])} figures in `figures/`: "
              + ", ".join(p.name for p in written["figures"]),
              "- `status.json`: the status of every analysis, machine-readable"]
    if written["warnings"]:
        lines += ["", "## Warnings", ""]
        for name, msgs in written["warnings"].items():
            lines += [f"- {name}: {m}" for m in msgs]
    return "\n".join(lines) + "\n"


#: Captions of the report's figures (the page shows them under each figure): the data's, and
#: those of the registered analyses' sections.
CAPTIONS = {
    "trajectories": "Ratings across sessions by arm: arm means with ±1 standard error, and every "
                    "patient's ratings as thin lines.",
    "missingness": "Patients attending each session by arm (left) and the share of attended "
                   "sessions with a missing rating (right).",
    **{fig.name: fig.caption for _a, sec in sections() for fig in sec.figures},
}

#: Readable names of the report's tables: the data's, the sections', the findings'.
TABLE_TITLES = {
    "sample_structure": "Sample structure", "caseloads": "Patients per therapist",
    "descriptives": "Ratings by arm, session and measure", "missingness": "Missing ratings",
    **{stem: title for _a, sec in sections() for stem, (_what, title) in sec.tables.items()},
    "findings": "The four findings",
    "findings_evidence": "The estimates behind the verdicts",
}


def _model_description(name: str, res) -> str:
    """What a fitted model of the findings is, from :data:`MODEL_DESCRIPTIONS` and the fit."""
    text = MODEL_DESCRIPTIONS.get(name, getattr(res, "title", name))
    if "{interacted}" in text:
        names = [str(n) for n in getattr(getattr(res, "beta", None), "index", [])]
        both = any(n.startswith("mean_") and ":" in n for n in names)
        text = text.replace("{interacted}", ", interacted with the arm" if both else "")
    return text


def _models(written: dict) -> list[tuple[str, str, str]]:
    """(analysis, what the model is, its formula or "") of every fitted model."""
    out = []
    for name, res in written["fits"].items():
        info = getattr(res, "info", {}) or {}
        formula = next((str(info[k]) for k in ("model", "formula") if "~" in str(info.get(k, ""))),
                       "")
        out.append((name, _model_description(name, res), formula))
    for res in written["section_results"].values():  # the lagged models: one per outcome
        for m in (getattr(res, "info", {}) or {}).get("models", []):
            out.append((f"lagged ({m['outcome']})",
                        f"Lagged within/between model of {m['outcome']} (chapter 6)", m["formula"]))
    return out


_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:82rem;"
    "margin:1.5rem auto;padding:0 1rem;line-height:1.45;color:#1a1a1a}"
    "h1{font-size:1.6rem}h2{margin-top:2rem}figure{margin:1.5rem 0}"
    "figure img{max-width:100%;height:auto}figcaption{font-size:.9em;color:#444}"
    ".notice{background:#fff4e0;padding:.6rem}.incomplete{background:#fde8e8;padding:.6rem}"
    "code{font-size:.9em;overflow-wrap:anywhere}p,li,dd{overflow-wrap:break-word}dt{font-weight:600}dd{margin:0 0 .5rem 1rem}"
    ".verdict{font-weight:600}a{color:#0b57a4}"
    "[role=region][tabindex='0']:focus-visible{outline:2px solid #0072B2;outline-offset:2px}"
)


def _document(data, origin: dict, written: dict, facts: dict, kind: str) -> str:
    """The whole report as one HTML page (figures embedded) or as Markdown (figures linked)."""
    info = design.validation_summary(data)
    findings = written["findings"]
    esc = html.escape
    prov = {"package": f"alliance {__version__}", "input": origin["input"],
            "input SHA-256": origin["sha256"], "date (UTC)": facts["date_utc"],
            "command line": facts["command"], "python": facts["python"],
            "numpy / pandas / scipy": f"{facts['numpy']} / {facts['pandas']} / {facts['scipy']}",
            "code commit": facts["git_commit"]}
    data_facts = {"rows": info["rows"], "therapists": info["therapists"],
                  "patients": info["patients"],
                  "therapists per arm": ", ".join(f"{k} {v}" for k, v in
                                                  info["therapists_per_arm"].items()),
                  "patients per arm": ", ".join(f"{k} {v}" for k, v in
                                                info["patients_per_arm"].items()),
                  "sessions": ", ".join(map(str, info["sessions"]))}
    title = f"Alliance analysis report: {Path(origin['input']).name}"
    notice = _notice(origin)
    failed = written["failed"]
    tables = {p.stem: p for p in written["tables"]}
    rules = ("Each finding has one primary test, fixed before any result; the four primary "
             "p values are Holm-adjusted together, and a finding with further parts is "
             "replicated only when every part holds (alliance.findings.judge, chapter 7 of the "
             "book).")
    if kind == "md":
        lines = [f"# {title}", "", notice, ""]
        if failed:
            lines += [f"**Incomplete: {len(failed)} of {len(ANALYSES)} analyses could not run.**",
                      ""]
        lines += ["## The paper's four findings", ""]
        if findings is not None:
            lines += [f"- Finding {r.claim}: **{r.verdict}**. {r.statement} ({r.reason})"
                      for r in findings.tables["findings"].itertuples()]
        else:
            lines.append("The findings could not be evaluated (see the analyses below).")
        lines += ["", "### What the verdicts mean", "", rules + " The tests are listed under "
                  "[the analysis plan](#the-analysis-plan).", ""]
        lines += [f"- **{v}**: {m}" for v, m in VERDICT_MEANINGS.items()]
        lines += ["", "## The analysis plan", ""] + [
            f"- Finding {r.claim}, {r.role}: {r.quantity} ({term_label(r.model)}); rule: {r.rule}"
            for r in analysis_plan().itertuples()]
        lines += ["", "## Data", ""] + [f"- {k}: {v}" for k, v in data_facts.items()]
        lines += ["", "## Models", ""] + [f"- {n}: {d}" + (f" `{m}`" if m else "")
                                          for n, d, m in _models(written)]
        lines += ["", "## Figures", ""]
        for p in written["figures"]:
            lines += [f"![{CAPTIONS.get(p.stem, p.stem)}](figures/{p.name})", "",
                      f"*{CAPTIONS.get(p.stem, p.stem)}*", ""]
        lines += ["## Analyses", ""] + [
            f"- {n}: {written['status'].get(n, 'not run')}"
            + (f" ({failed[n]})" if n in failed else "") for n in ANALYSES]
        lines += ["", "## Provenance", ""] + [f"- {k}: `{v}`" for k, v in prov.items()]
        return "\n".join(lines) + "\n"

    def kv(rows: dict, caption: str) -> str:
        frame = pd.DataFrame({"item": list(rows), "value": [str(v) for v in rows.values()]})
        return format_table(frame, caption=caption)._repr_html_()

    parts = [f"<h1>{esc(title)}</h1>", f'<p class="notice">{esc(notice)}</p>']
    if failed:
        parts.append(f'<p class="incomplete"><b>Incomplete:</b> {len(failed)} of {len(ANALYSES)} '
                     "analyses could not run; each is listed below with its reason.</p>")
    parts.append("<h2>The paper's four findings</h2>")
    if findings is not None:
        parts.append("<ol>" + "".join(
            f'<li><span class="verdict">{esc(str(r.verdict))}</span>: {esc(str(r.statement))} '
            f"<span class=\"why\">({esc(str(r.reason))})</span></li>"
            for r in findings.tables["findings"].itertuples()) + "</ol>")
    else:
        parts.append("<p>The findings could not be evaluated (see the analyses below).</p>")
    parts.append('<h3 id="verdicts">What the verdicts mean</h3>')
    parts.append(f'<p>{esc(rules)} The tests are listed in <a href="#analysis-plan">the '
                 "analysis plan</a>.</p>")
    parts.append("<dl>" + "".join(f"<dt>{esc(v)}</dt><dd>{esc(m)}</dd>"
                                  for v, m in VERDICT_MEANINGS.items()) + "</dl>")
    if findings is not None:
        parts.append(format_table(findings.tables["evidence"], caption=TABLE_TITLES[
            "findings_evidence"] + " (p in APA style; p (Holm) for the primary tests)")
            ._repr_html_())
    parts.append('<h2 id="analysis-plan">The analysis plan</h2>')
    parts.append(f"<p>Every test behind the verdicts, from the analysis plan (version "
                 f"{PLAN['plan']['version']}, written {PLAN['plan']['written']}; "
                 "src/alliance/analysis_plan.toml in the package, alliance.findings.analysis_plan), "
                 "applied unchanged to every data set.</p>")
    parts.append(format_table(analysis_plan(), caption="The analysis plan")._repr_html_())
    parts += ["<h2>Data</h2>", kv(data_facts, "The data")]
    parts += ["<h2>Models</h2>", "<dl>" + "".join(
        f"<dt>{esc(n)}</dt><dd>{esc(d)}" + (f" <code>{esc(m)}</code>" if m else "") + "</dd>"
        for n, d, m in _models(written)) + "</dl>"]
    parts.append("<h2>Figures</h2>")
    for p in written["figures"]:
        cap = CAPTIONS.get(p.stem, p.stem.replace("_", " "))
        data64 = base64.b64encode(p.read_bytes()).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{data64}" alt="{esc(cap)}">'
                     f"<figcaption>{esc(cap)}</figcaption></figure>")
    parts.append("<h2>Tables</h2>")
    for stem, path in tables.items():
        # the CSV keeps every column; the page leaves out the model's internal contrast codes
        shown = pd.read_csv(path).drop(columns=["combination"], errors="ignore")
        parts.append(format_table(shown, caption=TABLE_TITLES.get(
            stem, stem.replace("_", " ")))._repr_html_())
    parts += ["<h2>Analyses</h2>", kv({n: written["status"].get(n, "not run")
                                        + (f": {failed[n]}" if n in failed else "")
                                        for n in ANALYSES}, "Every analysis and its status")]
    if written["warnings"]:
        parts += ["<h2>Notes from the models</h2>", "<ul>" + "".join(
            f"<li>{esc(n)}: {esc(m)}</li>" for n, ms in written["warnings"].items() for m in ms)
            + "</ul>"]
    parts += ["<h2>Provenance</h2>", kv(prov, "Provenance")]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body><main>"
            + "\n".join(parts) + "</main></body></html>\n")
