"""One place to add an analysis: its descriptor, and the package's layers.

An analysis registers itself by defining, at the top level of its module (or of its
package's ``__init__.py``), one :class:`Analysis` named ``ANALYSIS``: its fit function
and the command ``alliance fit <name>`` (:class:`Option` s beside the options every fit
takes), its sections of ``alliance report`` (:class:`Section`: the tables and
:class:`Figure` s), and its key estimates. Nothing else needs to know it exists:

* the command line (:mod:`alliance.cli`) builds ``alliance fit <name>`` from it;
* the report (:mod:`alliance.report`) runs its sections, draws its figures;
* the tests check every analysis's signature, tables and command against the one
  vocabulary (:data:`VOCABULARY`), that one call validates its data once, and that
  bad data fail at its door (``tests/test_api.py``, ``tests/test_validation.py``);
* the layers (:data:`LAYERS`) put it among the analyses, and ``alliance.fit_<name>``
  finds its fit function.

:func:`analyses` finds the descriptors by reading the package's sources (no module is
imported, so the command line starts without loading the models);
:func:`descriptor` imports one module and returns its descriptor.

:data:`LAYERS` is the one source of the package's layers: ``tests/test_layers.py``
enforces them, and the tables of CONTRIBUTING.md and of ``alliance``'s docstring are
generated from them (:func:`layer_table`; ``python -m alliance.registry --write``
rewrites both, ``tests/test_api.py`` checks they are current).

This module imports nothing of the package: every layer may use it.
"""

from __future__ import annotations

import ast
import functools
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [  # and LAYERS (computed on first use: the analyses are read from the sources)
    "COMMON_OPTIONS",
    "RANDOMNESS",
    "REQUIRED",
    "VOCABULARY",
    "Randomness",
    "Analysis",
    "Figure",
    "KeyEstimate",
    "Layer",
    "Option",
    "Section",
    "analyses",
    "descriptor",
    "layer_table",
    "layers",
]

PACKAGE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------- descriptors


@dataclass(frozen=True)
class Option:
    """One option of an analysis's command (``alliance fit <name> --<flag>``).

    ``name`` is the keyword of the analysis's command function (and of its fit
    function); the flag is ``--`` + the name with dashes unless ``flag`` says
    otherwise. ``kind``: ``"value"`` (``type`` converts the text, ``choices`` limit
    it), ``"flag"`` (true when given), ``"list"`` (repeatable, a list), ``"pair"``
    (two values). The command line turns it into an argparse argument; nothing here
    knows argparse. ``example``: a value on the shipped data for an option the command
    requires (the shared tests run every command with it).
    """

    name: str
    help: str = ""
    default: object = None
    type: Callable | None = None
    choices: tuple | None = None
    kind: str = "value"
    flag: str | None = None
    metavar: str | None = None
    required: bool = False
    example: object = None

    @property
    def option(self) -> str:
        """The command line's spelling: ``--therapist-effects``."""
        return self.flag or "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Figure:
    """A figure of a report section: ``plot``, a function of the analysis's figures module
    (``alliance.plots.<module>``, named like the analysis's module), draws it from the
    section's result (``of="result"``), from the validated data (``of="data"``) or from the
    results of every section of the analysis that could be fitted (``of="sections"``)."""

    name: str
    plot: str
    caption: str
    of: str = "result"


@dataclass(frozen=True)
class Section:
    """One analysis of ``alliance report``: what it is, how it is fitted, what it writes.

    ``model`` names a model of :data:`alliance.findings.PAPER_MODELS` (the book's
    specification behind a finding), or ``fit(validated_data) -> Result`` fits it;
    ``tables`` maps a CSV file's stem to the result's table (a name, or a function of
    the result); ``figures`` are drawn after the tables. Sections with
    ``after_findings`` run after the four findings are judged.
    """

    name: str
    what: str
    model: str | None = None
    fit: Callable | None = None
    tables: dict = field(default_factory=dict)
    figures: tuple[Figure, ...] = ()
    after_findings: bool = False


@dataclass(frozen=True)
class KeyEstimate:
    """An estimate an analysis is read for: its ``term`` (and ``level``) in the ``estimates``
    table of the fit ``example`` gives (the shared tests look it up)."""

    label: str
    term: str
    level: str | None = None


@dataclass(frozen=True)
class Analysis:
    """An analysis of the package, registered by defining it as ``ANALYSIS`` in its module.

    Attributes
    ----------
    name : str
        The command's name (``alliance fit <name>``) and the analysis's in the report.
    help : str
        One line: what it estimates.
    fit : callable or None
        The public fit function (the door: validates its data once, then the private
        fit); ``alliance.<fit's name>`` finds it. ``None`` for analyses without one.
    command : callable or None
        ``command(source, *, read, method, df, conf_level, **options) -> Result``: the
        command line's call, with ``read`` the file's input options (``columns``,
        ``sep``, ``decimal``, ``ids``). ``None``: no ``alliance fit`` command.
    options : tuple of Option
        The command's own options, beside :data:`COMMON_OPTIONS`.
    reads : {"sessions", "table"}
        Session data in the canonical schema (``--column`` maps yours) or any table.
    method : {"REML", "ML"}
        The default of ``method`` (REML but where the analysis says why not).
    sections : tuple of Section
        Its sections of ``alliance report``.
    key_estimates : tuple of KeyEstimate
        What it is read for.
    example : callable or None
        ``example(data) -> Result``: a quick call of ``fit`` on the shipped data, for
        the shared tests.
    chapter : int
        The book's chapter on it (orders the report's sections).
    """

    name: str
    help: str
    fit: Callable | None = None
    command: Callable | None = None
    options: tuple[Option, ...] = ()
    reads: str = "sessions"
    method: str = "REML"
    sections: tuple[Section, ...] = ()
    key_estimates: tuple[KeyEstimate, ...] = ()
    example: Callable | None = None
    chapter: int = 99


#: The options of every ``alliance fit`` command and every ``fit_*`` function: name ->
#: (default, meaning). ``method``'s default is the analysis's (:attr:`Analysis.method`).
VOCABULARY = {
    "columns": (None, "{name the analysis uses: your column}: your column names"),
    "method": ("REML", "the mixed models' criterion, 'REML' or 'ML' (any capitalisation)"),
    "df": ("satterthwaite", ("tests of fixed effects and contrasts: 'satterthwaite', "
                             "'kenward-roger' (REML only) or 'z'")),
    "conf_level": (0.95, "level of the confidence intervals"),
    "seed": (1, "seed of every random draw (draw i: SeedSequence(seed, spawn_key=(i,)))"),
    "n_boot": (999, "bootstrap draws"),
    "moderator": ("condition", ("column whose levels moderate the effects (session data; "
                                "None for none)")),
}

#: Marks a seed without a default (:data:`RANDOMNESS`): the caller must give it.
REQUIRED = "required"


@dataclass(frozen=True)
class Randomness:
    """How one public function takes its randomness (an entry of :data:`RANDOMNESS`).

    ``seed``: the default of its ``seed`` (:data:`REQUIRED`: none); ``name``: ``"seed"``,
    or ``"rng"`` for a draw function of :func:`alliance.draws.run_draws` (``fn(draw, rng)``
    is handed its draw's generator, not a seed) and what such a function calls; ``count``: the name of
    its number of draws (``n_boot`` for a bootstrap) and ``count_default`` its default;
    ``why``: the reason for a default other than the vocabulary's (the function's
    docstring says it too); ``aliases``: former names accepted for one release
    (``{former: name}``); ``command``: the command line's flag defaults
    (``{"<command> --<flag>": default}``), the same as the function's unless ``why`` says.
    """

    seed: object = 1
    name: str = "seed"
    count: str | None = None
    count_default: object = None
    why: str = ""
    aliases: dict = field(default_factory=dict)
    command: dict = field(default_factory=dict)


_DRAW = ("a draw function of run_draws, or what one calls: fn(draw, rng) is handed its draw's "
         "generator (from the study's seed), not a seed")

#: Every public function that draws random numbers, by its module's name in the package and
#: its own (``"allocation.allocate"`` is ``alliance.allocation.allocate``), and
#: how it takes them. One name: ``seed`` (an int; where noted, a ``numpy.random.Generator``
#: too); one default, :data:`VOCABULARY`'s (1), unless ``why`` says otherwise. The
#: number of bootstrap draws is ``n_boot`` (999); other counts name what they count.
#: ``tests/test_api.py`` checks every public function against this list, both ways.
RANDOMNESS = {
    "allocation.allocate": Randomness(
        seed=REQUIRED, aliases={"rng": "seed"},
        why="a real trial's allocation is made once and must be reproducible from a "
            "recorded seed: no default (neither a fresh, unrecorded one nor a fixed one "
            "that every trial would share)"),
    "synthetic.simulate.simulate": Randomness(
        seed=20221110, command={"simulate --seed": REQUIRED},
        why="simulate() is the shipped synthetic trial (EXAMPLE_SEED, the paper's "
            "online-first date); the command writes a file and asks for its seed"),
    "randomise.permutation.permutation_test": Randomness(
        count="n_permutations", count_default=999, aliases={"rng": "seed"}),
    "rsa.bootstrap.bootstrap_rsa": Randomness(
        count="n_boot", count_default=999,
        command={"fit rsa --seed": 1, "fit rsa --n-boot": None}),
    "studies.bootstrap.cluster_bootstrap": Randomness(count="n_boot",
                                                              count_default=999),
    "studies.bootstrap.headline_inference": Randomness(count="n_boot",
                                                               count_default=999),
    "lagged.nickell_simulation": Randomness(count="reps", count_default=100),
    "findings.replication_rates": Randomness(count="n_draws", count_default=20),
    "studies.power.power_study": Randomness(
        seed=2024, count="n_draws", count_default=1000,
        command={"power --seed": 2024, "power --draws": 1000},
        why="the frozen power study's seed (POWER_SEED), so that a power study with the "
            "defaults, in Python or by `alliance power`, draws the frozen study's first "
            "draws (chapter 9 compares them)"),
    "plots.truth_bias.plot_dyads": Randomness(),
    "draws.runner.run_draws": Randomness(
        seed=REQUIRED, count="n_draws", count_default=REQUIRED,
        why="the runner under every study: its caller's study seed, which keys the "
            "study's chunk store (study_identity)"),
    **{name: Randomness(seed=REQUIRED, name="rng", why=_DRAW)
       for name in ("findings.findings_draw", "studies.power.power_draw",
                    "studies.specifications.specification_draw",
                    "draws.bootstrap.resample_clusters")},
    "draws.runner.draw_rng": Randomness(
        seed=REQUIRED, why="the generator of one draw of a given study's seed"),
    "draws.runner.study_identity": Randomness(
        seed=REQUIRED, why="the identity of a study includes its seed"),
}

#: The options every ``alliance fit`` command takes (beside FILE and the input options).
COMMON_OPTIONS = (
    Option("method", "criterion of the mixed models: REML or ML (any capitalisation)",
           type=str.upper, choices=("REML", "ML")),
    Option("df", "tests of fixed effects and contrasts: t with Satterthwaite degrees of "
                 "freedom (default, as lmerTest), t with Kenward-Roger degrees of freedom "
                 "and adjusted SEs (REML fits only, as pbkrtest), or Wald z",
           default="satterthwaite", choices=("satterthwaite", "kenward-roger", "z")),
    Option("conf_level", "level of the confidence intervals (default 0.95)", default=0.95,
           type=float),
)


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class Found:
    """An analysis as its module's source declares it (read without importing it)."""

    unit: str
    module: str
    name: str
    help: str
    fit: str | None
    command: bool


def _literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _declared(path: Path) -> dict | None:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "ANALYSIS"
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "Analysis"):
            kw = {k.arg: k.value for k in node.value.keywords}
            pos = dict(zip(("name", "help", "fit", "command"), node.value.args))
            kw = {**pos, **kw}
            fit = kw.get("fit")
            return {"name": _literal(kw.get("name")), "help": _literal(kw.get("help")),
                    "fit": fit.id if isinstance(fit, ast.Name) else None,
                    "command": isinstance(kw.get("command"), ast.Name)}
    return None


@functools.lru_cache(maxsize=1)
def analyses() -> dict[str, Found]:
    """Every registered analysis, by the name of its command: read from the sources.

    A top-level module of ``alliance`` (or a subpackage's ``__init__.py``) that defines
    ``ANALYSIS = Analysis(...)`` is an analysis; nothing is imported.
    """
    out: dict[str, Found] = {}
    for path in sorted(PACKAGE.iterdir()):
        if path.suffix == ".py" and path.name != "__init__.py":
            unit, source = path.stem, path
        elif path.is_dir() and (path / "__init__.py").is_file():
            unit, source = path.name, path / "__init__.py"
        else:
            continue
        got = _declared(source)
        if got is not None:
            out[got["name"]] = Found(unit, f"alliance.{unit}", got["name"], got["help"],
                                     got["fit"], got["command"])
    return out


def descriptor(name: str) -> Analysis:
    """The :class:`Analysis` registered under ``name`` (its module is imported)."""
    found = analyses().get(name)
    if found is None:
        raise KeyError(f"no analysis {name!r}; the analyses are {sorted(analyses())}")
    return importlib.import_module(found.module).ANALYSIS


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class Layer:
    """A row of the layers: its top-level modules and subpackages, and what lives there."""

    names: tuple[str, ...]
    what: str


def _analysis_units() -> tuple[str, ...]:
    return tuple(sorted({f.unit for f in analyses().values()}))


def layers() -> tuple[Layer, ...]:
    """The package's layers, from the ground up: each imports only its own and lower ones.

    The analyses' row holds every registered analysis (:func:`analyses`).
    """
    return (
        Layer(("errors", "options", "registry", "outputs", "results", "moderation", "agreement",
               "course"),
              "exceptions and warnings; the one check of every common argument (`options`: "
              "alpha, confidence levels, methods, df, seeds, counts, values picked on the "
              "data), shared by the functions and the command line; the analyses' "
              "descriptors and these layers (`registry`); atomic output files and folders "
              "(`outputs`: whole or not at all, `--force` to replace); the one `Result` "
              "shape (`estimates`, `rows()`, `value()`, `to_dict()`, `summary()`), the Wald "
              "table, `RowLog`; the \"effect per arm and the arm difference\" builder "
              "(`moderation`); the package beside R's frozen references (`agreement`: how "
              "closely a fit matches the committed `tests/r` script's, as the chapters state "
              "it); the course's reading times and week plan (`course`)"),
        Layer(("data", "provenance"),
              "schema, the one validation path (`read_sessions`, `read_table`: files and "
              "DataFrames alike), lags, summaries, the example data (package data); where a "
              "result came from (package version, commit, input checksum)"),
        Layer(("allocation", "synthetic"),
              "the randomisation procedure; the generative model, its parameters and what it "
              "implies"),
        Layer(("mixed",),
              "the mixed-model engine (`fit_lmm` returns a `MixedFit`, itself a `Result`)"),
        Layer(("draws",),
              "the one Monte Carlo runner (`run_draws`: draw *i* has its own seed, a killed "
              "run resumes from its chunk store, local processes or a Dask cluster), the one "
              "bootstrap, rates with binomial intervals; every resampling or simulation goes "
              "through it"),
        Layer(_analysis_units(),
              "the analyses, each registered by its descriptor (`ANALYSIS`): a door "
              "(`fit_*`, validating once) in front of a private fit on validated data"),
        Layer(("findings",),
              "the paper's four findings: the models, the primary tests, the verdicts, "
              "replication rates"),
        Layer(("studies", "exercises"),
              "Monte Carlo studies over whole analyses: power, the cluster bootstrap, the "
              "multiverse, the studies frozen in `data/studies/`; the exercises' self-checks "
              "(answers computed from the data at check time)"),
        Layer(("plots",),
              "every figure (drawn for a phone: `plots.style`) and every table "
              "(`plots.tables.table`, rendered by great_tables, with the plain-language names "
              "of `plots.labels`); reads results and validated data, never refits"),
        Layer(("report",), "every analysis on one file (its sections from the descriptors)"),
        Layer(("cli",), "the only place `argparse` lives: thin adapters built from the "
                        "descriptors"),
    )


def __getattr__(name: str):
    if name == "LAYERS":  # computed on first use: the analyses are read from the sources
        return layers()
    raise AttributeError(f"module 'alliance.registry' has no attribute {name!r}")


def layer_table(style: str = "markdown") -> str:
    """The layers as the table of CONTRIBUTING.md (``"markdown"``) or of ``alliance``'s
    docstring (``"rst"``)."""
    rows = [(", ".join(f"`{n}`" for n in layer.names), layer.what) for layer in layers()]
    if style == "markdown":
        out = ["| layer | what lives there |", "|---|---|"]
        out += [f"| {names} | {what} |" for names, what in rows]
        return "\n".join(out)
    if style != "rst":
        raise ValueError(f"style must be 'markdown' or 'rst'; got {style!r}")
    import textwrap

    width = max(len(f"``{n}``,") for layer in layers() for n in layer.names)
    rule = "=" * width + "  " + "=" * 62
    out = [rule]
    for layer in layers():
        names = [f"``{n}``," for n in layer.names[:-1]] + [f"``{layer.names[-1]}``"]
        what = textwrap.wrap(layer.what.replace("`", ""), 62)
        for i in range(max(len(names), len(what))):
            a = names[i] if i < len(names) else ""
            b = what[i] if i < len(what) else ""
            out.append((a.ljust(width) + "  " + b).rstrip())
    out.append(rule)
    return "\n".join(out)


_BEGIN = {"markdown": "<!-- layers: generated by `python -m alliance.registry --write` -->",
          "rst": ".. layers: generated by ``python -m alliance.registry --write``"}
_END = {"markdown": "<!-- /layers -->", "rst": ".. /layers"}


def layer_files(root: Path | None = None) -> dict[Path, str]:
    """The files that hold a generated layer table, and the style of each."""
    root = Path(root) if root is not None else PACKAGE.parents[1]
    return {root / "CONTRIBUTING.md": "markdown", PACKAGE / "__init__.py": "rst"}


def with_layer_table(text: str, style: str) -> str:
    """``text`` with its generated layer table (between the markers) made current."""
    begin, end = _BEGIN[style], _END[style]
    if begin not in text or end not in text:
        raise ValueError(f"no generated layer table (markers {begin!r} ... {end!r})")
    head, rest = text.split(begin, 1)
    _old, tail = rest.split(end, 1)
    return f"{head}{begin}\n\n{layer_table(style)}\n\n{end}{tail}"


def main(argv=None) -> int:
    """``python -m alliance.registry [--write]``: print (or rewrite) the layer tables."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for path, style in layer_files().items():
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        new = with_layer_table(text, style)
        if "--write" in argv:
            if new != text:
                path.write_text(new, encoding="utf-8")
                print(f"rewrote the layer table of {path}")
        else:
            print(f"{path}: {'current' if new == text else 'out of date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
