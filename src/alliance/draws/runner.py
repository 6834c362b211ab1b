"""The one resampling and simulation runner: draws that are reproducible one by one.

Every Monte Carlo computation of the package -- replication rates and power
(:mod:`alliance.studies`), bootstrap confidence intervals, randomisation tests at
scale -- is a function of one draw, ``fn(draw, rng) -> dict``, mapped over draws
by :func:`run_draws`. Draw *i* gets its own generator from
``numpy.random.SeedSequence(seed, spawn_key=(i,))`` (the *i*-th child of
``SeedSequence(seed).spawn(n)``), so its result does not depend on the order in
which draws run, on the number of workers, or on the machine: the same draw
gives the same row locally, in a process pool, or on a Dask cluster.

Results are rows keyed by ``draw`` (never by arrival order). Each row records
the function's outputs, the seconds the draw took, the warnings it raised and,
if it failed, the exception (``error``) instead of hiding it. With a ``store``
folder, draws are computed in chunks and each finished chunk is written
atomically (``chunk-<first draw>-<last draw>.csv``): a killed run resumes where
it stopped without losing or repeating a draw. A store belongs to one study: its
``study.json`` records the function, the seed, a fingerprint of the
arguments and the package version, and a run that differs in any is refused
(:class:`~alliance.outputs.OutputError`) instead of mixing its draws with the
stored ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import multiprocessing as mp
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as completed
from pathlib import Path

import numpy as np
import pandas as pd

from alliance import __version__
from alliance.outputs import OutputError

__all__ = ["draw_rng", "read_store", "run_draws", "study_identity"]

#: The file of a store that names the study its draws belong to.
STUDY_FILE = "study.json"

#: Columns every row of :func:`run_draws` carries besides the function's own outputs.
RUNNER_COLUMNS = ("draw", "seconds", "warnings", "error")


def draw_rng(seed: int, draw: int) -> np.random.Generator:
    """The generator of draw ``draw`` of a study seeded with ``seed`` (independent of any other)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(draw),)))


def _one(fn: Callable, seed: int, draw: int, args: tuple, kwargs: dict) -> dict:
    start = time.perf_counter()
    row: dict = {"draw": int(draw)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(draw, draw_rng(seed, draw), *args, **kwargs)
            row.update(out if isinstance(out, dict) else {"value": out})
            row["error"] = ""
        except Exception as exc:  # a failed draw is a result: recorded, never hidden
            row["error"] = f"{type(exc).__name__}: {exc}"
            row["traceback"] = traceback.format_exc(limit=3)
    row["warnings"] = " | ".join(dict.fromkeys(str(w.message) for w in caught))
    row["seconds"] = time.perf_counter() - start
    return row


def _chunk(fn, seed, draws: Sequence[int], args, kwargs) -> list[dict]:
    return [_one(fn, seed, d, args, kwargs) for d in draws]


def _chunk_name(draws: Sequence[int]) -> str:
    return f"chunk-{draws[0]:07d}-{draws[-1]:07d}.csv"


def read_store(store) -> pd.DataFrame:
    """Every row written to a store folder, sorted by draw (duplicates refused)."""
    files = sorted(Path(store).glob("chunk-*.csv"))
    if not files:
        return pd.DataFrame(columns=list(RUNNER_COLUMNS))
    out = pd.concat([pd.read_csv(f, keep_default_na=False, na_values=[""]) for f in files],
                    ignore_index=True)
    if out["draw"].duplicated().any():
        raise RuntimeError(f"{store}: a draw appears in two chunks; the store is corrupt")
    return _clean(out)


def _clean(out: pd.DataFrame) -> pd.DataFrame:
    out = out.sort_values("draw").reset_index(drop=True)
    out["draw"] = out["draw"].astype(int)
    for col in ("warnings", "error"):
        out[col] = (out[col].astype(object).where(out[col].notna(), "")
                    if col in out else "")
    return out


def _write_chunk(store: Path, rows: list[dict], draws: Sequence[int]) -> None:
    path = store / _chunk_name(draws)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    pd.DataFrame(rows).to_csv(tmp, index=False)
    os.replace(tmp, path)  # a chunk appears whole or not at all


def _feed(h, obj) -> None:
    """Feed a stable description of ``obj`` to the hash ``h`` (the same value gives the same bytes
    in any process, on any machine)."""
    if isinstance(obj, pd.DataFrame):
        h.update(b"frame" + repr((list(map(str, obj.columns)), list(map(str, obj.dtypes)))).encode())
        h.update(pd.util.hash_pandas_object(obj, index=True).to_numpy().tobytes())
    elif isinstance(obj, pd.Series):
        h.update(b"series" + repr((str(obj.name), str(obj.dtype))).encode())
        h.update(pd.util.hash_pandas_object(obj, index=True).to_numpy().tobytes())
    elif isinstance(obj, np.ndarray):
        h.update(b"array" + repr((obj.dtype.str, obj.shape)).encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(f"dataclass {type(obj).__module__}.{type(obj).__qualname__}".encode())
        for f in dataclasses.fields(obj):
            h.update(f.name.encode())
            _feed(h, getattr(obj, f.name))
    elif isinstance(obj, dict):
        h.update(b"dict")
        for k in sorted(obj, key=repr):
            _feed(h, k)
            _feed(h, obj[k])
    elif isinstance(obj, list | tuple):
        h.update(f"{type(obj).__name__}{len(obj)}".encode())
        for v in obj:
            _feed(h, v)
    elif callable(obj):
        h.update(f"callable {getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj)}"
                 .encode())
    else:
        h.update(f"{type(obj).__name__} {obj!r}".encode())


def study_identity(fn: Callable, seed: int, args: tuple = (), kwargs: dict | None = None) -> dict:
    """What makes two runs the same study: the function, the seed, the arguments' fingerprint and
    the package version (a draw of another version may differ).

    ``n_draws`` is not part of it (a study may be extended), nor are ``jobs``,
    ``scheduler`` or ``chunk_size`` (they do not change a draw's row).

    Examples
    --------
    >>> a = study_identity(draw_rng, 1, (2.0,), {"n": 3})
    >>> a == study_identity(draw_rng, 1, (2.0,), {"n": 3}), a == study_identity(draw_rng, 2, (2.0,))
    (True, False)
    """
    h = hashlib.sha256()
    _feed(h, (tuple(args), dict(kwargs or {})))
    return {"function": f"{fn.__module__}.{fn.__qualname__}", "seed": int(seed),
            "arguments_sha256": h.hexdigest(), "alliance_version": __version__}


def _claim_store(store: Path, identity: dict) -> None:
    """Make ``store`` the store of the study ``identity``, or refuse one that holds another's draws."""
    record = store / STUDY_FILE
    if record.exists():
        try:
            held = json.loads(record.read_text())
        except (OSError, ValueError) as exc:
            raise OutputError(f"store {store}: {STUDY_FILE} cannot be read ({exc}); it cannot be "
                              "told which study its draws belong to") from None
        differ = [k for k in identity if held.get(k) != identity[k]]
        if differ:
            raise OutputError(
                f"store {store}: holds the draws of another study (its {', '.join(differ)} "
                f"{'differs' if len(differ) == 1 else 'differ'}: stored {', '.join(f'{k}={held.get(k)!r}' for k in differ)}); resume "
                "with the same command, or give a new store (the stored draws are kept)")
        return
    if any(store.glob("chunk-*.csv")):
        raise OutputError(f"store {store}: holds draws but no {STUDY_FILE}, so it cannot be told "
                          "which study they belong to; give a new store")
    tmp = record.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(identity, indent=1) + "\n")
    os.replace(tmp, record)


def _progress(done: int, total: int, start: float, stream, before: int = 0) -> None:
    if stream is None:
        return
    elapsed = time.perf_counter() - start
    rate = (done - before) / elapsed if elapsed > 0 else math.nan  # draws computed in this run
    left = (total - done) / rate if rate and rate > 0 else math.nan
    bar = "#" * int(30 * done / max(total, 1))
    stream.write(f"\r[{bar:<30s}] {done}/{total} draws, {rate:.2f}/s, ~{left:.0f} s left ")
    stream.flush()
    if done >= total:
        stream.write("\n")


def run_draws(fn: Callable, n_draws: int, *, seed: int, args: tuple = (), kwargs: dict | None = None,
              jobs: int = 1, scheduler: str | None = None, store=None, chunk_size: int = 25,
              draws: Sequence[int] | None = None, progress: bool = False) -> pd.DataFrame:
    """Run ``fn(draw, rng, *args, **kwargs)`` for draws ``0 .. n_draws - 1``.

    Parameters
    ----------
    fn : callable
        A module-level function (it is sent to other processes) returning a dict of
        plain values for one draw.
    n_draws : int
        Number of draws.
    seed : int
        The study's seed; draw *i* uses :func:`draw_rng` ``(seed, i)``.
    args, kwargs
        Further arguments of ``fn`` (the same for every draw; they must pickle).
    jobs : int
        Local worker processes (1: in this process).
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler (``"tcp://host:8786"``); the
        chunks are computed there instead (``jobs`` is then ignored).
    store : path, optional
        Folder for the chunk files; completed chunks found there are read, not recomputed.
        The store is claimed for this study (:func:`study_identity` in ``study.json``):
        a store of another function, seed or arguments raises
        :class:`~alliance.outputs.OutputError` and is left as it was.
    chunk_size : int
        Draws per chunk (the unit of work sent to a worker and written to the store).
    draws : sequence of int, optional
        Compute only these draws (e.g. to recompute a random subset of a frozen study).
    progress : bool
        A progress bar on standard error.

    Returns
    -------
    pandas.DataFrame
        One row per draw, sorted by ``draw``: the function's outputs and ``seconds``,
        ``warnings``, ``error`` (empty when the draw succeeded).
    """
    kwargs = dict(kwargs or {})
    wanted = list(range(int(n_draws))) if draws is None else sorted({int(d) for d in draws})
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1; got {jobs}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1; got {chunk_size}")
    done_rows: list[dict] = []
    if store is not None:
        store = Path(store)
        store.mkdir(parents=True, exist_ok=True)
        _claim_store(store, study_identity(fn, seed, args, kwargs))
        prior = read_store(store)
        done_rows = prior[prior["draw"].isin(wanted)].to_dict("records")
        have = set(prior["draw"].astype(int))
        wanted_new = [d for d in wanted if d not in have]
    else:
        wanted_new = wanted
    # chunks align with the draw numbers (chunk k holds draws k*size .. k*size + size - 1), so a
    # resumed or partial run computes exactly the draws that are missing
    by_chunk: dict[int, list[int]] = {}
    for d in wanted_new:
        by_chunk.setdefault(d // chunk_size, []).append(d)
    chunks = list(by_chunk.values())
    stream = sys.stderr if progress else None
    start = time.perf_counter()
    total, count = len(wanted), len(done_rows)
    results: list[dict] = list(done_rows)

    def finished(c, rows):
        nonlocal count
        if store is not None:
            _write_chunk(store, rows, c)
        results.extend(rows)
        count += len(rows)
        _progress(count, total, start, stream, len(done_rows))

    if scheduler is not None:
        from distributed import Client, as_completed  # optional heavy dependency

        with Client(scheduler) as client:
            futures = {client.submit(_chunk, fn, seed, c, args, kwargs, pure=False): tuple(c)
                       for c in chunks}
            for fut in as_completed(futures):
                finished(futures[fut], fut.result())
    elif jobs > 1 and len(chunks) > 1:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = {pool.submit(_chunk, fn, seed, c, args, kwargs): tuple(c) for c in chunks}
            for fut in completed(futures):
                finished(futures[fut], fut.result())
    else:
        for c in chunks:
            finished(c, _chunk(fn, seed, c, args, kwargs))
    if not results:
        return pd.DataFrame(columns=list(RUNNER_COLUMNS))
    return _clean(pd.DataFrame(results))
