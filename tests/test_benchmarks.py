"""The benchmark scripts still run: each is imported and run once at its smallest size.

Speed is measured by the scripts themselves (``make bench``), never here: no test below
reads a time. What these tests catch is a script that no longer runs -- a private function
it imports renamed, a signature it calls changed -- which nothing else would notice, since
nothing else runs them (``bench_draw.py`` and ``bench_peers.py`` once failed on import
unseen). Every script takes ``--smoke``: the shipped data (or the smallest design), one
repeat, no R and no mixedlm; each runs here in this process, in about a second.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCH.glob("bench_*.py") if p.name != "bench.py")

#: What each script must print at smoke size (a row label of its table): a script that
#: stops before its table, or whose table lost a row, fails.
PRINTS = {
    "bench_cli.py": ["import alliance", "alliance validate sessions.csv"],
    "bench_draw.py": ["draw (current)", "draw (slopes ", "growth_both", "rsa_within"],
    "bench_growth.py": ["intercept+slope", "both"],
    "bench_lagged.py": ["reverse (2 models)", "nickell_simulation"],
    "bench_mixed.py": ["growth_stacked", "truth_bias_slope", "lagged"],
    "bench_multiverse.py": ["shipped", "small"],
    "bench_peers.py": ["growth_patient", "growth_both", "truth_bias", "rsa_within"],
    "bench_report.py": ["shipped", "analysis (wall s)"],
    "bench_rsa.py": ["chapter 5 (lagged", "Nestler Ex. 1 moderated", "cluster bootstrap"],
    "bench_specifications.py": ["prior: shipped data", "specification_recovery"],
    "bench_statsmodels.py": ["logLik statsmodels", "sleepstudy"],
    "bench_studies.py": ["replication draw", "power draw"],
    "bench_truth_bias.py": ["repeated + anchoring", "cross-sectional (Acitelli)"],
}


@pytest.fixture
def bench(monkeypatch):
    """``bench(name)``: the script imported as a module (``benchmarks/`` on the path, as
    when it runs as a script, for its ``import _common``)."""
    monkeypatch.syspath_prepend(str(BENCH))

    def load(name: str):
        if name == "_common.py":
            return importlib.import_module("_common")
        module_name = f"_bench_{Path(name).stem}"
        spec = importlib.util.spec_from_file_location(module_name, BENCH / name)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, module_name, module)
        spec.loader.exec_module(module)
        return module

    return load


def test_every_script_is_smoke_tested():
    assert sorted(PRINTS) == SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_at_smoke_size(name, bench, capsys):
    code = bench(name).main(["--smoke"])
    out = capsys.readouterr().out
    assert code in (None, 0), out
    missing = [s for s in PRINTS[name] if s not in out]
    assert not missing, f"{name} did not print {missing}:\n{out}"


def test_bench_runs_the_chosen_scripts_and_refuses_unknown_ones(bench, capfd):
    runner = bench("bench.py")
    assert [p.name for p in runner.scripts()] == sorted(["bench.py", *SCRIPTS][1:])
    assert runner.main(["--smoke", "--only", "bench_truth_bias.py"]) == 0
    out = capfd.readouterr().out
    assert "## bench_truth_bias.py" in out and "cross-sectional (Acitelli)" in out
    assert "## bench_peers.py" not in out
    with pytest.raises(SystemExit):
        runner.main(["--only", "bench_nothing.py"])


def test_peer_models_fit_what_their_names_say(bench):
    """bench_peers.py's names against the design each call hands the engine: ``_none`` no
    therapist level, ``_slope`` a therapist intercept and slope, otherwise an intercept only
    (``fit_growth`` defaults to a slope, so each must say which), per rater in the two-rater
    models; ``both`` a residual variance per rater, ``stacked_shared`` one."""
    import numpy as np

    import alliance

    peers, common = bench("bench_peers.py"), bench("_common.py")
    data = alliance.load_example()
    for name, (call, _, _) in peers.MODELS.items():
        _, [(args, kwargs), *_] = common.record(lambda c=call: c(data))
        random = [args[2]] if not isinstance(args[2], (list, tuple)) else list(args[2])
        ther = [t for t in random if t.name == "therapist"]
        if name.endswith("_none"):
            assert not ther, name
            continue
        assert len(ther) == 1, name
        z = ther[0].Z
        width = 1 if z is None else np.asarray(z).shape[1]
        # an intercept (and a slope) per rater in the two-rater models
        raters = 2 if name.startswith(("growth_both", "growth_stacked")) else 1
        assert width == raters * (2 if name.endswith("_slope") else 1), (name, width)
        if name.startswith("growth_both"):
            assert kwargs.get("residual_groups") is not None, name
        if name.startswith("growth_stacked_shared"):
            assert kwargs.get("residual_groups") is None, name
