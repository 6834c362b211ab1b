"""One API: every analysis validates its data once, speaks one vocabulary, and is found by
its descriptor.

Every registered analysis (:func:`alliance.registry.analyses`) is picked up here without
being named: its fit function's signature, its command's options and its main table are
checked against the one vocabulary (:data:`alliance.registry.VOCABULARY`,
:data:`alliance.registry.COMMON_OPTIONS`, :data:`alliance.results.ESTIMATE_COLUMNS`), and
one call of its example validates the data once. The validations are counted by wrapping
the one entry of the validation path, ``alliance.data.validate._input`` (every
``read_sessions`` and ``read_table`` call goes through it exactly once).
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

import pandas as pd
import pytest

import alliance
from alliance import findings, randomise, registry
from alliance.cli import build_parser, fit_commands
from alliance.data import validate
from alliance.data.example import example_path
from alliance.findings import LAGGED_SURFACE
from alliance.results import ESTIMATE_COLUMNS, MAIN_TABLE

ANALYSES = sorted(registry.analyses())
FITTED = [name for name in ANALYSES if registry.analyses()[name].fit]
COMMANDS = sorted(fit_commands())


@pytest.fixture(scope="module")
def example() -> pd.DataFrame:
    return alliance.load_example()


@pytest.fixture
def validations(monkeypatch) -> list:
    """The sources validated while the test runs, one entry per validation."""
    seen: list = []
    real = validate._input

    def counting(data, *args, **kwargs):
        seen.append(data.attrs.get("source", "<DataFrame>") if isinstance(data, pd.DataFrame)
                    else str(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(validate, "_input", counting)
    return seen


@pytest.fixture
def engine_parses(monkeypatch) -> list:
    """Columns the mixed-model engine parsed as text (it must not: validated data are numbers)."""
    from alliance.mixed import model

    seen: list = []
    real = model.parse_numeric

    def counting(values, column, source):
        seen.append(column)
        return real(values, column, source)

    monkeypatch.setattr(model, "parse_numeric", counting)
    return seen


# --------------------------------------------------------------------------- validate once


def _report(data, tmp_path):
    from alliance.report import run_report

    return run_report(data, tmp_path / "out")


#: The public calls of the issue ("one public call validates once"), beside every
#: registered analysis's example below.
PUBLIC_CALLS = {
    "fit_growth": lambda d, tmp: alliance.fit_growth(d, "therapist"),
    "fit_growth_both": lambda d, tmp: alliance.fit_growth(d, "both"),
    "fit_rsa": lambda d, tmp: alliance.fit_rsa(d, LAGGED_SURFACE),
    "fit_lagged": lambda d, tmp: alliance.fit_lagged(d),
    "fit_lagged_reverse": lambda d, tmp: alliance.fit_lagged(d, direction="outcome->alliance"),
    "fit_truth_bias": lambda d, tmp: alliance.fit_truth_bias(d),
    "evaluate": lambda d, tmp: findings.evaluate(d),
    "fit_paper_models": lambda d, tmp: findings.fit_paper_models(d),
    "icc_summary": lambda d, tmp: randomise.icc_summary(d),
    "balance": lambda d, tmp: randomise.balance(d),
    "run_report": _report,
}


@pytest.mark.filterwarnings("ignore::alliance.AllianceWarning")
@pytest.mark.parametrize("call", list(PUBLIC_CALLS))
def test_one_public_call_validates_once(example, validations, engine_parses, tmp_path, call):
    if call == "run_report":
        # the report recognises the shipped data by the digest of the shipped file's rows,
        # read once per process (the shipped file, not the caller's data): read it first
        from alliance.report import _shipped_rows_digest

        _shipped_rows_digest()
        validations.clear()
    PUBLIC_CALLS[call](example, tmp_path)
    assert len(validations) == 1, validations
    assert engine_parses == [], f"the engine parsed validated columns again: {engine_parses}"


@pytest.mark.filterwarnings("ignore::alliance.AllianceWarning")
def test_a_report_on_a_file_validates_it_once(validations, tmp_path):
    """A file is recognised by its checksum: nothing else is read."""
    _report(str(example_path()), tmp_path)
    assert validations == [str(example_path())]


@pytest.mark.filterwarnings("ignore::alliance.AllianceWarning")
@pytest.mark.parametrize("name", ANALYSES)
def test_every_analysis_validates_once(example, validations, engine_parses, name):
    analysis = registry.descriptor(name)
    assert analysis.example is not None, f"{name}: its descriptor needs an example call"
    analysis.example(example)
    assert len(validations) == 1, validations
    assert engine_parses == []


# --------------------------------------------------------------------------- one vocabulary


def _fit_functions():
    """Every public fit function: the analyses' (from their descriptors) and the other
    public ``fit_*`` of the analyses (the cross-sectional truth-and-bias model)."""
    out = {name: registry.descriptor(name).fit for name in FITTED}
    out["truth_bias_cross"] = alliance.fit_truth_bias_cross
    return out


@pytest.mark.parametrize("name", sorted(_fit_functions()))
def test_every_fit_function_speaks_the_vocabulary(name):
    fn = _fit_functions()[name]
    params = inspect.signature(fn).parameters
    method = registry.descriptor(name).method if name in FITTED else "REML"
    for option in ("columns", "method", "df", "conf_level"):
        assert option in params, f"{fn.__name__} has no {option}="
        default, _meaning = registry.VOCABULARY[option]
        want = method if option == "method" else default
        assert params[option].default == want, (fn.__name__, option, params[option].default)
    for option in ("seed", "n_boot"):
        if option in params:
            assert params[option].default == registry.VOCABULARY[option][0], (fn.__name__, option)
    assert "ddf" not in params


def test_the_engine_says_df_too():
    """``fit_lmm`` (arrays, not a data set: no ``columns``) takes the same ``df`` and
    ``method``; ``ddf`` is its former name, accepted for one release."""
    import numpy as np

    from alliance.mixed import RandomTerm, fit_lmm

    params = inspect.signature(fit_lmm).parameters
    assert params["df"].default == "satterthwaite" and params["method"].default == "REML"
    assert params["conf_level"].default == 0.95
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(12), 5)
    X = pd.DataFrame({"Intercept": 1.0, "x": rng.normal(size=60)})
    y = X["x"] + rng.normal(size=12)[g] + rng.normal(size=60)
    new = fit_lmm(y, X, [RandomTerm("g", g)], df="z")
    old = fit_lmm(y, X, [RandomTerm("g", g)], ddf="z")
    assert new.ddf == old.ddf == "z"
    pd.testing.assert_frame_equal(new.estimates, old.estimates)
    with pytest.raises(ValueError, match="disagree"):
        fit_lmm(y, X, [RandomTerm("g", g)], df="z", ddf="kenward-roger")


#: Parameter names that give randomness (a seed or a generator) and that count bootstrap
#: draws, in any spelling: each must be the vocabulary's (``seed``, ``n_boot``) or a former
#: name listed in :data:`alliance.registry.RANDOMNESS`.
RANDOM_NAMES = {"seed", "rng", "random_state", "random_seed", "generator", "seeds", "entropy"}
BOOT_NAMES = {"n_boot", "bootstrap", "n_bootstrap", "n_boots", "n_resamples"}


def _public_functions() -> dict:
    """Every public function of the package (``__all__`` of every module but the CLI's)."""
    import importlib
    import pkgutil

    out = {}
    for info in pkgutil.walk_packages(alliance.__path__, "alliance."):
        if info.name.startswith("alliance.cli") or info.name == "alliance.options":
            continue  # the adapters (checked by their options) and the checks of a seed
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            fn = getattr(module, name, None)
            if inspect.isfunction(fn) and not name.startswith("_"):
                out[f"{fn.__module__}.{fn.__name__}".removeprefix("alliance.")] = fn
    return out


def test_every_randomness_parameter_speaks_the_vocabulary():
    """One list (``registry.RANDOMNESS``) names every public function that draws random
    numbers: its randomness is called ``seed`` (a run_draws draw function's, ``rng``), with
    the vocabulary's default unless the list (and the docstring) says why not; a bootstrap
    counts its draws in ``n_boot`` (999); former names only as listed aliases."""
    functions = _public_functions()
    seed_default = registry.VOCABULARY["seed"][0]
    found = set()
    for key, fn in functions.items():
        params = inspect.signature(fn).parameters
        random = [n for n in params
                  if n in RANDOM_NAMES or n.endswith(("_seed", "_rng")) or n in BOOT_NAMES]
        if not random:
            continue
        assert key in registry.RANDOMNESS, f"{key} takes {random}: list it in RANDOMNESS"
        found.add(key)
        entry = registry.RANDOMNESS[key]
        names = {entry.name, *entry.aliases, *([entry.count] if entry.count else [])}
        assert set(random) <= names, (key, random, "not the vocabulary's names")
        assert all(new in params for new in entry.aliases.values()), key
        p = params[entry.name]
        if entry.seed == registry.REQUIRED:
            if entry.aliases:  # None only so that the former name can stand in for it
                assert p.default is None, (key, p.default)
            else:
                assert p.default is inspect.Parameter.empty, (key, p.default)
        else:
            assert p.default == entry.seed, (key, p.default, entry.seed)
        if entry.seed != seed_default:
            assert entry.why, f"{key}: a seed default other than {seed_default} needs a why"
            if entry.seed != registry.REQUIRED and entry.name == "seed":
                assert str(entry.seed) in inspect.getdoc(fn), f"{key}'s docstring: why"
        else:
            assert not entry.why, key  # no exception without a difference
        if entry.count is not None:
            c = params[entry.count]
            want = (inspect.Parameter.empty if entry.count_default == registry.REQUIRED
                    else entry.count_default)
            assert c.default == want, (key, entry.count, c.default)
        if "bootstrap" in key and entry.name == "seed":  # a bootstrap (not one draw of it)
            assert entry.count == "n_boot", key
            assert entry.count_default == registry.VOCABULARY["n_boot"][0], key
    assert found == set(registry.RANDOMNESS), (
        f"listed but not found (or without randomness): {set(registry.RANDOMNESS) - found}")


def test_commands_take_the_functions_seeds():
    """The command line's ``--seed`` (and draws) default as the function they call, but
    where the list says otherwise (``alliance simulate`` requires its seed)."""
    seen = 0
    for key, entry in registry.RANDOMNESS.items():
        for spelled, want in entry.command.items():
            *path, flag = spelled.split()
            opts = _options(_subparser(build_parser(path), *path))
            assert flag in opts, spelled
            action = opts[flag]
            if want == registry.REQUIRED:
                assert action.required, spelled
            else:
                assert not action.required and action.default == want, (spelled,
                                                                        action.default)
            seen += 1
    assert seen >= 5
    from alliance.studies.power import POWER_SEED, power_study

    assert registry.RANDOMNESS["studies.power.power_study"].seed == POWER_SEED
    assert inspect.signature(power_study).parameters["seed"].default == POWER_SEED
    from alliance.synthetic.params import EXAMPLE_SEED

    assert registry.RANDOMNESS["synthetic.simulate.simulate"].seed == EXAMPLE_SEED


def test_allocate_requires_its_seed_and_takes_rng_for_one_release():
    """A real allocation is made from a recorded seed: none is refused. ``rng=``, the former
    name of a generator seed, gives the same list for one release."""
    import numpy as np

    units = [f"T{i:02d}" for i in range(12)]
    with pytest.raises(TypeError, match="seed is required"):
        alliance.allocate(units)
    new = alliance.allocate(units, seed=np.random.default_rng(5), block_size=4)
    old = alliance.allocate(units, rng=np.random.default_rng(5), block_size=4)
    pd.testing.assert_frame_equal(new, old)
    g = np.random.default_rng(5)
    pd.testing.assert_frame_equal(alliance.allocate(units, seed=g, rng=g, block_size=4), new)
    with pytest.raises(ValueError, match="not both"):
        alliance.allocate(units, seed=5, rng=np.random.default_rng(5))
    assert not alliance.allocate(units, seed=5).equals(alliance.allocate(units, seed=6))


def test_permutation_test_takes_rng_for_one_release(example):
    """``permutation_test``'s ``rng=`` (its former name of a generator seed) gives the same
    test as ``seed=`` with that generator; given beside another seed it is refused."""
    import numpy as np

    def arm_difference(d):
        m = d.groupby("condition")["alliance_therapist"].mean()
        return m["training"] - m["control"]

    first = example[example["session"] == 1]
    new = randomise.permutation_test(first, arm_difference, n_permutations=9,
                                     seed=np.random.default_rng(3))
    old = randomise.permutation_test(first, arm_difference, n_permutations=9,
                                     rng=np.random.default_rng(3))
    np.testing.assert_array_equal(new.distribution, old.distribution)
    assert new.info["seed"] == old.info["seed"]
    by_int = randomise.permutation_test(first, arm_difference, n_permutations=9,
                                        seed=new.info["seed"])
    np.testing.assert_array_equal(by_int.distribution, new.distribution)
    with pytest.raises(ValueError, match="not both"):
        randomise.permutation_test(first, arm_difference, n_permutations=9, seed=2,
                                   rng=np.random.default_rng(3))


@pytest.mark.filterwarnings("ignore::alliance.AllianceWarning")
@pytest.mark.parametrize("name", ANALYSES)
def test_every_main_table_is_estimates_with_the_estimate_columns(example, name):
    res = registry.descriptor(name).example(example)
    assert next(iter(res.tables)) == MAIN_TABLE
    cols = list(res.estimates.columns)
    assert cols[:len(ESTIMATE_COLUMNS)] == list(ESTIMATE_COLUMNS) or \
        [c for c in cols if c != "level"][:len(ESTIMATE_COLUMNS)] == list(ESTIMATE_COLUMNS), cols
    for key in registry.descriptor(name).key_estimates:
        value = res.value(key.term, key.level) if key.level else res.value(key.term)
        assert pd.notna(value), (name, key)


@pytest.mark.filterwarnings("ignore::alliance.AllianceWarning")
def test_one_label_for_the_arm_difference(example):
    """Every moderated analysis names the arm difference by :func:`moderation.difference_label`;
    the former RSA name is still accepted as input."""
    from alliance.moderation import difference_label

    label = difference_label("training", "control")
    assert label == "training - control"
    for res in (alliance.fit_truth_bias(example), alliance.fit_lagged(example),
                alliance.fit_rsa(example, LAGGED_SURFACE)):
        levels = set(res.estimates["level"].dropna())
        assert label in levels and "difference" not in levels, (res.title, levels)
    rsa = alliance.fit_rsa(example, LAGGED_SURFACE)
    assert rsa.value("a1", "difference") == rsa.value("a1", label)


def _subparser(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _options(parser) -> dict:
    return {s: a for a in parser._actions for s in a.option_strings}


def test_every_fit_command_takes_the_common_options():
    assert COMMANDS == sorted(n for n in FITTED if registry.descriptor(n).command), COMMANDS
    choices = {}
    for kind in COMMANDS:
        opts = _options(_subparser(build_parser(["fit", kind]), "fit", kind))
        for common in registry.COMMON_OPTIONS:
            assert common.option in opts, f"alliance fit {kind} has no {common.option}"
            choices.setdefault(common.option, set()).add(
                tuple(opts[common.option].choices or ()))
        assert opts["--method"].default == registry.descriptor(kind).method
        assert opts["--df"].default == "satterthwaite" and opts["--conf-level"].default == 0.95
    assert all(len(c) == 1 for c in choices.values()), choices  # the same choices everywhere
    assert choices["--method"] == {("REML", "ML")}
    assert choices["--df"] == {("satterthwaite", "kenward-roger", "z")}


@pytest.mark.parametrize("kind", COMMANDS)
def test_method_in_any_case_on_the_command_line(kind):
    analysis = registry.descriptor(kind)
    required = [x for o in analysis.options if o.required for x in (o.option, str(o.example))]
    for text, want in (("reml", "REML"), ("Ml", "ML")):
        args = build_parser(["fit", kind]).parse_args(
            ["fit", kind, "data.csv", "--method", text, "--df", "z", "--conf-level", "0.9",
             *required])
        assert (args.method, args.df, args.conf_level) == (want, "z", 0.9)
    with pytest.raises(SystemExit) as stop:
        build_parser(["fit", kind]).parse_args(["fit", kind, "data.csv", "--method", "OLS",
                                                *required])
    assert stop.value.code == 2


@pytest.mark.parametrize("command", ["report", "multiverse", "power"])
def test_every_long_command_can_be_quiet(command):
    assert "--quiet" in _options(_subparser(build_parser([command]), command))


# --------------------------------------------------------------------------- one place


def test_layer_tables_are_generated_from_the_layers():
    """CONTRIBUTING.md's and ``alliance``'s docstring's layer tables are current
    (``python -m alliance.registry --write`` rewrites them)."""
    for path, style in registry.layer_files().items():
        text = path.read_text(encoding="utf-8")
        assert registry.with_layer_table(text, style) == text, f"{path}: run python -m alliance.registry --write"
    units = {unit for layer in registry.layers() for unit in layer.names}
    assert {f.unit for f in registry.analyses().values()} <= units


def test_every_analysis_is_found_by_its_descriptor():
    """``alliance.fit_<name>`` is the descriptor's fit; the report runs every section; the
    command line has a ``fit`` command for every analysis with one."""
    from alliance import report

    for name in FITTED:
        fit = registry.descriptor(name).fit
        assert getattr(alliance, fit.__name__) is fit
    sections = {s.name for name in ANALYSES for s in registry.descriptor(name).sections}
    assert sections == {sec.name for _analysis, sec in report.sections()}
    assert sections <= set(report.ANALYSES)


def test_the_recipe_adds_an_analysis_in_three_places():
    """CONTRIBUTING's recipe names three places, and the command line and the report import no
    analysis module by name (they read the descriptors)."""
    import re

    text = (Path(__file__).resolve().parents[1] / "CONTRIBUTING.md").read_text(encoding="utf-8")
    recipe = text.split("## Adding an analysis: three places", 1)[1].split("\n## ", 1)[0]
    places = re.findall(r"^\d+\. \*\*(.+?)\*\*", recipe, flags=re.MULTILINE)
    assert len(places) == 3, places
    src = Path(alliance.__file__).resolve().parent
    units = {f.unit for f in registry.analyses().values()}
    for path in (src / "cli" / "__init__.py", src / "report.py"):
        code = path.read_text(encoding="utf-8")
        named = [u for u in units
                 if re.search(rf"(from|import) alliance\.{u}\b|\"alliance\.{u}\b", code)]
        assert not named, f"{path.name} names analyses: {named}"


# --------------------------------------------------------------------------- one way through


def test_truth_bias_cross_names_its_group_by_columns(example):
    """``fit_truth_bias_cross`` names the dyad (group) column by ``columns=`` like every
    analysis; ``group=``, its former way, gives the same fit for one release."""
    first = example[example["session"] == 1]
    kw = {"judgment": "alliance_therapist", "truth": "alliance_patient"}
    new = alliance.fit_truth_bias_cross(first, columns={"group": "therapist"}, **kw)
    old = alliance.fit_truth_bias_cross(first, group="therapist", **kw)
    both = alliance.fit_truth_bias_cross(first, group="therapist",
                                         columns={"group": "therapist"}, **kw)
    pd.testing.assert_frame_equal(new.estimates, old.estimates)
    pd.testing.assert_frame_equal(new.estimates, both.estimates)
    assert list(new.n_groups.values()) == list(old.n_groups.values())
    named = first.rename(columns={"therapist": "group"})
    pd.testing.assert_frame_equal(alliance.fit_truth_bias_cross(named, **kw).estimates,
                                  new.estimates)
    with pytest.raises(ValueError, match="two different group columns"):
        alliance.fit_truth_bias_cross(first, group="therapist", columns={"group": "patient"}, **kw)
    with pytest.raises(alliance.DataError, match="group"):
        alliance.fit_truth_bias_cross(first, **kw)  # no column 'group', none named


#: The three stages of a response surface fit, in the order the data pass them: the door
#: (read, validate, lag, check: the lower layers once), the surface on numbers (design and
#: fits), the tables (tests, row counts: the lower layers again, never back up).
_RSA_STAGES = {
    "rsa.spec.read_table": 0, "rsa.spec.build_lag": 0, "rsa.spec.lag_columns": 0,
    "rsa.spec.require_groups_per_level": 0, "rsa.spec.require_groups_nested": 0,
    "rsa.spec.check_within_data": 0,
    "rsa.fit.design_columns": 1, "rsa.fit._lmm": 1, "rsa.fit.ols": 1,
    "rsa.fit.constrained_fits": 1, "rsa.fit.regions_table": 1,
    "rsa.fit.wald_table": 2, "rsa.fit.check_tests": 2, "rsa.fit.RowLog": 2,
}


@pytest.mark.filterwarnings("ignore::alliance.AllianceWarning")
@pytest.mark.parametrize("options", [
    {},  # the book's lagged surface: multilevel, a binary moderator
    {"moderator": None, "group": None, "lag_within": "patient", "se": None,
     "family": "default"},  # single level, the model family
    {"moderator": "therapist_experience", "moderator_levels": None, "at": [5.0]},  # numeric
])
def test_rsa_data_go_down_once_then_up_once_then_down(example, monkeypatch, options):
    """``fit_rsa``'s data go through the lower layers once at the door (reading, validating,
    lags, checks), are fitted on the surface's own layer, and go down once more for the
    tables: no check of the data between fits, no surface work between tables."""
    import alliance.rsa.fit as fit_module
    import alliance.rsa.spec as spec_module

    seen = []

    def record(module, name, stage):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            seen.append((stage, name))
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for key, stage in _RSA_STAGES.items():
        _, mod, name = key.split(".")
        record(spec_module if mod == "spec" else fit_module, name, stage)
    res = alliance.fit_rsa(example, LAGGED_SURFACE, **options)
    done = list(seen)
    stages = [s for s, _ in done]
    assert stages == sorted(stages), done
    assert {0, 1, 2} <= set(stages), done
    res.tables["verdict"]  # made when read, after the fit
    assert list(res.tables)[:3] == ["estimates", "coefficients", "checklist"]


# --------------------------------------------------------------------------- the door's codes


def _door_cases():
    from alliance.findings import _lagged_surface, lagged_surface
    from alliance.growth import _fit_growth, fit_growth
    from alliance.truth_bias import _fit_truth_bias, fit_truth_bias

    return {
        "growth": (lambda d: fit_growth(d, "both", therapist_effects="intercept+slope"),
                   lambda v: _fit_growth(v, "both", therapist_effects="intercept+slope")),
        "growth_patient": (lambda d: fit_growth(d, "patient", therapist_effects="intercept"),
                           lambda v: _fit_growth(v, "patient", therapist_effects="intercept")),
        "truth_bias": (fit_truth_bias, _fit_truth_bias),
        "rsa_within": (lambda d: lagged_surface(d, level2_means=True),
                       lambda v: _lagged_surface(v, level2_means=True)),
    }


def _patchy(example: pd.DataFrame) -> pd.DataFrame:
    """The example with some patients' ratings all missing (ids that the analyses' rows no
    longer hold) and its rows out of order under row labels."""
    d = example.copy()
    gone = d["patient"].isin(d["patient"].drop_duplicates().iloc[[3, 40, 90]])
    d.loc[gone, ["alliance_patient", "alliance_therapist"]] = float("nan")
    d = d.sample(frac=1.0, random_state=4)
    d.index = [f"r{i}" for i in range(len(d))]
    return d


@pytest.mark.filterwarnings("ignore::alliance.AllianceWarning")
@pytest.mark.parametrize("name", ["growth", "growth_patient", "truth_bias", "rsa_within"])
def test_the_doors_codes_give_the_fit_of_the_ids_themselves(example, name):
    """A public door hands the id codes its validation made to the fit behind it; the fit
    of the validated data without them (each id factorised where it is used) is the same
    result, on data whose kept rows miss some patients."""
    public, private = _door_cases()[name]
    d = _patchy(example)
    got, want = public(d), private(alliance.read_sessions(d))
    for key in want.tables:
        pd.testing.assert_frame_equal(got.tables[key], want.tables[key], check_exact=True)
    assert got.info == want.info


@pytest.mark.parametrize("name", ["growth", "truth_bias", "rsa_within"])
def test_the_doors_codes_refuse_one_therapist_per_arm_as_the_ids_do(example, name):
    public, private = _door_cases()[name]
    caseload = example.groupby(["condition", "therapist"])["patient"].nunique()
    keep = [caseload["training"].idxmax(), caseload["control"].idxmax()]
    d = example[example["therapist"].isin(keep)].reset_index(drop=True)
    with pytest.raises(alliance.FitError) as got:
        public(d)
    with pytest.raises(alliance.FitError) as want:
        private(alliance.read_sessions(d))
    assert str(got.value) == str(want.value) and "at least 2" in str(got.value)
