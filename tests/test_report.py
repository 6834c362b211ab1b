"""`alliance report` and the claim-by-claim findings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import alliance
from alliance.cli import main
from alliance.findings import CLAIMS, VERDICTS, claim_map_markdown, evaluate
from alliance.synthetic.scenarios import scenario_params

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::alliance.AllianceWarning")


@pytest.fixture(scope="module")
def shipped_findings():
    return evaluate(alliance.load_example())


def test_findings_table_has_every_claim_and_evidence(shipped_findings):
    f = shipped_findings.tables["findings"]
    assert f["claim"].tolist() == [1, 2, 3, 4]
    assert set(f["verdict"]) <= set(VERDICTS)
    assert f["reason"].str.len().min() > 20, "every verdict says why"
    ev = shipped_findings.tables["evidence"]
    for col in ("test", "role", "term", "estimate", "se", "df", "p", "p_holm", "ci_low",
                "ci_high", "level"):
        assert col in ev.columns
    assert (ev["ci_low"] < ev["estimate"]).all() and (ev["estimate"] < ev["ci_high"]).all()


def test_findings_evidence_is_taken_from_the_fits(shipped_findings):
    fits = shipped_findings.fits
    ev = shipped_findings.tables["evidence"].set_index("test")
    g = fits["growth_therapist"].estimates.set_index("term").loc["time:training", "estimate"]
    assert ev.loc["g_ther", "estimate"] == pytest.approx(g)
    tc = fits["truth_bias"].value("temporal congruence", "training - control")
    assert ev.loc["tc_diff", "estimate"] == pytest.approx(tc)
    # findings 3 and 4 rest on the within-patient surface, not on chapter 5's raw one
    within = fits["rsa_within"].tables["surface"].set_index(["level", "term"])
    raw = fits["rsa"].tables["surface"].set_index(["level", "term"])
    assert ev.loc["a1_training", "estimate"] == pytest.approx(within.loc[("training", "a1"),
                                                                          "estimate"])
    assert ev.loc["a1_difference", "estimate"] != pytest.approx(
        raw.loc[("training - control", "a1"), "estimate"])


def test_verdicts_follow_the_rule_on_a_null_trial():
    # a data set in which nothing was built in: training has no effect at all
    res = evaluate(alliance.simulate(scenario_params("null"), seed=3))
    f = res.tables["findings"].set_index("claim")
    ev = res.tables["evidence"].set_index("test")
    for claim, key in ((1, "g_ther"), (2, "tc_diff"), (3, "a1_training"), (4, "a1_difference")):
        padj, est = ev.loc[key, "p_holm"], ev.loc[key, "estimate"]
        assert padj >= ev.loc[key, "p"]
        if padj >= 0.05:
            assert f.loc[claim, "verdict"] == "not replicated", claim
        elif est < 0:
            assert f.loc[claim, "verdict"] == "contradicted", claim


def test_readme_claim_map_is_generated_from_claims():
    readme = (ROOT / "README.md").read_text()
    assert claim_map_markdown() in readme
    for c in CLAIMS:
        assert (ROOT / f"{c.chapter}.md").exists()
        assert f":name: {c.figure}" in (ROOT / f"{c.chapter}.md").read_text()


def test_report_on_shipped_data(tmp_path, capsys):
    assert main(["report", str(alliance.example_path()), "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(
        f"report: {tmp_path / 'report.html'}"), "the CLI's last line names report.html"
    summary = (tmp_path / "summary.md").read_text()
    # the shipped file (its SHA-256 is the package's checksum file's): called synthetic
    assert "synthetic trial shipped with alliance" in summary
    assert "0.0000" not in summary and "< .001" in summary
    assert "four findings" in summary and "| 2 | temporal congruence, training - control |" in summary
    assert "p (Holm)" in summary
    tables = {p.name for p in (tmp_path / "tables").glob("*.csv")}
    assert {"findings.csv", "growth_therapist.csv", "truth_bias_forces.csv", "rsa_surface.csv",
            "lagged_alliance_to_wellbeing.csv", "icc.csv", "descriptives.csv"} <= tables
    figures = list((tmp_path / "figures").glob("*.png"))
    assert len(figures) >= 8 and all(p.stat().st_size > 5000 for p in figures)
    findings = pd.read_csv(tmp_path / "tables" / "findings.csv")
    assert len(findings) == 4


def test_report_on_a_second_simulated_data_set(tmp_path):
    data = tmp_path / "sim.csv"
    assert main(["simulate", "--seed", "7", "--out", str(data)]) == 0
    out = tmp_path / "rep"
    assert main(["report", str(data), "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert sum(summary.count(f"**{v}**") for v in VERDICTS) == 4
    # another file than the shipped synthetic one (checksum differs): no "synthetic" claim
    page = (out / "report.html").read_text()
    assert "synthetic" not in page.lower() and "synthetic" not in summary.lower()
    assert "0.0000" not in summary, "p in APA style, never 0.0000"


def test_report_fails_cleanly_on_invalid_file(tmp_path, capsys):
    out = tmp_path / "rep"
    bad = ROOT / "tests" / "data" / "bad" / "therapist_both_arms.csv"
    assert main(["report", str(bad), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "therapist_both_arms.csv" in err and "[rule: each therapist is in one arm]" in err
    assert not out.exists(), "nothing is written for an invalid file"


def test_findings_with_a_missing_fit_are_not_evaluated(shipped_findings):
    fits = {k: v for k, v in shipped_findings.fits.items() if k != "truth_bias"}
    res = evaluate(alliance.load_example(), fits=fits)
    f = res.tables["findings"].set_index("claim")
    assert f.loc[2, "verdict"] == "not evaluated" and "truth_bias" in f.loc[2, "reason"]
    full = shipped_findings.tables["findings"].set_index("claim")
    for claim in (1, 3, 4):  # the others are exactly those of the full evaluation
        assert f.loc[claim, "verdict"] == full.loc[claim, "verdict"]
    assert 2 not in set(res.tables["evidence"]["claim"])
    none = evaluate(alliance.load_example(), fits={})
    assert set(none.tables["findings"]["verdict"]) == {"not evaluated"}
    assert none.tables["evidence"].empty


def test_report_summary_lists_every_analysis_and_the_input(tmp_path):
    from alliance.report import ANALYSES, run_report

    res = run_report(alliance.load_example(), tmp_path / "rep")
    assert res["failed"] == {} and set(res["status"]) == set(ANALYSES)
    summary = (tmp_path / "rep" / "summary.md").read_text()
    assert "a DataFrame; SHA-256 of its rows" in summary
    # the shipped rows, passed as a DataFrame: recognised by their digest, called synthetic
    assert "synthetic trial shipped with alliance" in summary
    for name in ANALYSES:
        assert f"| {name} |" in summary
    assert all(p.exists() for p in res["tables"] + res["figures"])
    again = run_report(alliance.load_example(), tmp_path / "rep2")
    assert again["input"]["sha256"] == res["input"]["sha256"]  # the same rows, the same digest
    with pytest.raises(alliance.outputs.OutputError, match="not empty; pass force=True"):
        run_report(alliance.load_example(), tmp_path / "rep")


@pytest.mark.slow
def test_report_page_opens_offline_with_every_figure(tmp_path, browser, axe):
    """report.html is one self-contained page: every figure visible, nothing fetched."""
    from alliance.report import run_report

    written = run_report(alliance.example_path(), tmp_path / "rep", command=["alliance", "report"])
    page_file = tmp_path / "rep" / "report.html"
    text = page_file.read_text()
    assert "input SHA-256" in text and written["input"]["sha256"] in text
    assert "alliance report" in text and "J* ~" in text  # provenance and model formulas
    ctx = browser.new_context()
    page = ctx.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("data:", "file:"))
            else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(page_file.as_uri())
    imgs = page.locator("figure img")
    assert imgs.count() == len(written["figures"]) >= 6
    for i in range(imgs.count()):
        assert imgs.nth(i).evaluate("i => i.complete && i.naturalWidth > 100")
    captions = page.locator("figcaption").all_inner_texts()
    assert all(len(c) > 20 for c in captions)
    assert not requests and not errors
    md = (tmp_path / "rep" / "report.md").read_text()
    assert md.count("](figures/") == len(written["figures"])
    # what a colleague needs: the four verdicts defined, the analysis plan linked
    defined = page.locator("dl dt").all_inner_texts()
    assert {"replicated", "inconclusive", "not replicated", "contradicted"} <= set(defined)
    assert page.locator("a[href='#analysis-plan']").count() == 1
    assert page.locator("#analysis-plan").count() == 1
    assert "synthetic trial shipped with alliance" in page.locator(".notice").inner_text()
    # every model described for what it is (the raw and within-patient surfaces differ)
    models = dict(zip(page.locator("dl dt").all_inner_texts(), page.locator("dl dd").all_inner_texts(),
                      strict=False))
    assert models["rsa"] != models["rsa_within"] and "within-patient" in models["rsa_within"]
    # fits a laptop screen: no sideways scrolling of the page, and no table scrolls at 1366 px
    page.set_viewport_size({"width": 1366, "height": 900})
    over = page.evaluate("""() => [document.documentElement.scrollWidth - document.documentElement.clientWidth,
        Array.from(document.querySelectorAll('.alliance-table')).filter(b => b.scrollWidth > b.clientWidth + 1)
          .map(b => b.getAttribute('aria-label'))]""")
    assert over[0] <= 0 and not over[1], f"wider than 1366 px: {over}"
    assert axe(page) == []
    # on a phone the page itself never scrolls sideways: wide tables scroll in their own box
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth <= "
                         "document.documentElement.clientWidth + 1")
    boxes = page.locator(".alliance-table")
    assert boxes.count() > 10
    assert all(b == ["region", "0"] for b in boxes.evaluate_all(
        "els => els.map(e => [e.getAttribute('role'), e.getAttribute('tabindex')])"))
    ctx.close()


def test_report_on_a_null_scenario_file(tmp_path):
    data = tmp_path / "null.csv"
    assert main(["simulate", "--scenario", "null", "--seed", "4", "--out", str(data)]) == 0
    out = tmp_path / "rep"
    assert main(["report", str(data), "--out", str(out)]) == 0
    findings = pd.read_csv(out / "tables" / "findings.csv")
    assert set(findings["verdict"]) <= set(VERDICTS) and len(findings) == 4
    evidence = pd.read_csv(out / "tables" / "findings_evidence.csv")
    primary = evidence[evidence["role"] == "primary"]
    assert (primary["p_holm"] >= primary["p"]).all()
    # a finding is replicated only if its primary test survives Holm
    for row in findings.itertuples():
        if row.verdict == "replicated":
            assert primary.set_index("claim").loc[row.claim, "p_holm"] < 0.05
