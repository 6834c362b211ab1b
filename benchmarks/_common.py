"""What the benchmark scripts share: the scaled data, the recorder of engine calls, the timer.

Every ``bench_*.py`` imports this module (they run as scripts, so this folder is on
``sys.path``) instead of writing its own timing loop or its own wrapper of ``fit_lmm``:

* :func:`data_at`: the shipped data (1x) or a trial of the book's generative model with
  ``scale`` times its therapists and patients (10x: 400/1,170; 100x: 4,000/11,700);
* :func:`record`: run an analysis with ``fit_lmm`` wrapped in every analysis module, and
  keep what it passed to the engine (to time the engine alone on the same design, or to
  hand that design to a peer);
* :func:`timed`: best and median wall clock (and CPU) of repeated calls, warnings silenced
  (a boundary fit in a random draw is not a timing issue);
* :func:`load`, :func:`machine`: what to print beside the figures (the cores are shared);
* :func:`add_smoke`: the ``--smoke`` flag every script takes: the smallest size and one
  repeat, to show that the script still runs (``tests/test_benchmarks.py``; no timing is
  read from it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

import alliance

#: scale -> (therapists, patients); 1x is the shipped data (40 therapists, 117 patients).
SCALES = {1: None, 10: (400, 1170), 100: (4000, 11700)}

#: The modules whose analyses call the engine through their module-level name ``fit_lmm``.
ANALYSIS_MODULES = ("alliance.growth", "alliance.truth_bias", "alliance.lagged", "alliance.rsa.fit")


def scales(max_scale: int) -> list[int]:
    """The scales up to ``max_scale`` (``--max-scale``)."""
    return [s for s in SCALES if s <= max_scale]


def data_at(scale: int, seed: int = 1):
    """The shipped data at 1x, else ``alliance.simulate`` with ``scale`` x 40 therapists and
    ``scale`` x 117 patients (the book's generative model), seeded by ``seed``."""
    if scale == 1:
        return alliance.load_example()
    params = alliance.SimulationParams(n_therapists=40 * scale, n_patients=117 * scale)
    return alliance.simulate(params, seed=seed)


def record(call, modules=ANALYSIS_MODULES):
    """``call()`` with ``fit_lmm`` wrapped in each of ``modules``: its result and the
    ``(args, kwargs)`` of every engine call it made, in order (AllianceWarning silenced).

    Each module's own name is restored afterwards, whatever happens.
    """
    from alliance.mixed import fit_lmm

    mods = [importlib.import_module(m) for m in modules]
    seen: list[tuple[tuple, dict]] = []

    def recorder(*args, **kwargs):
        seen.append((args, kwargs))
        return fit_lmm(*args, **kwargs)

    saved = [m.fit_lmm for m in mods]
    try:
        for m in mods:
            m.fit_lmm = recorder
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", alliance.AllianceWarning)
            result = call()
    finally:
        for m, f in zip(mods, saved):
            m.fit_lmm = f
    if not seen:
        raise RuntimeError(f"{call!r} never called fit_lmm in {list(modules)}")
    return result, seen


@dataclass
class Timing:
    """Repeated calls of one function: wall-clock and CPU seconds of each, the last result."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    result: object = None

    @property
    def best(self) -> float:
        return min(self.wall)

    @property
    def median(self) -> float:
        return float(statistics.median(self.wall))

    @property
    def median_cpu(self) -> float:
        return float(statistics.median(self.cpu))

    def add(self, fn):
        """Time one call of ``fn()`` (warnings silenced) and keep its result."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w, c = time.perf_counter(), time.process_time()
            self.result = fn()
            self.wall.append(time.perf_counter() - w)
            self.cpu.append(time.process_time() - c)
        return self.result


def timed(fn, repeats: int) -> Timing:
    """``fn()`` called ``repeats`` times (at least once), each timed."""
    t = Timing()
    for _ in range(max(1, repeats)):
        t.add(fn)
    return t


def load() -> str:
    """The machine's load averages, to print before and after the figures."""
    try:
        one, five, fifteen = os.getloadavg()
        return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)"
    except OSError:
        return "load average unknown"


def machine() -> str:
    """CPU, cores and the versions that matter."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"numpy {np.__version__}, alliance {alliance.__version__}")


def add_smoke(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--smoke`` to a script's arguments."""
    ap.add_argument("--smoke", action="store_true",
                    help="the smallest size and one repeat: checks that the script runs "
                         "(tests/test_benchmarks.py); its times mean nothing")
    return ap


def arguments(doc: str, *, repeats: int = 3, max_scale: bool = False) -> argparse.ArgumentParser:
    """A script's parser with ``--repeats``, ``--smoke`` and (``max_scale``) ``--max-scale``
    (1, 10 or 100); add the script's own options, then :func:`parse`."""
    ap = argparse.ArgumentParser(description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=repeats, help="runs of each timed call")
    if max_scale:
        ap.add_argument("--max-scale", type=int, default=100, choices=sorted(SCALES))
    return add_smoke(ap)


def parse(ap: argparse.ArgumentParser, argv: list[str] | None, **smoke) -> argparse.Namespace:
    """``ap``'s arguments; with ``--smoke``, one repeat at 1x and ``smoke``'s values."""
    args = ap.parse_args(argv)
    if args.smoke:
        for name, value in {"repeats": 1, "max_scale": 1, **smoke}.items():
            if hasattr(args, name):
                setattr(args, name, value)
    return args
