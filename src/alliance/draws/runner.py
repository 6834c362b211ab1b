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

A store is also protected against the other ways draws get lost or mixed:

* **one run at a time**: :func:`run_draws` holds a lock on its store
  (:func:`folder_lock`, a ``.lock`` file locked by the operating system and
  released when the process ends, even if it is killed): a second run on the same
  store is refused at once, naming the run that holds it, instead of computing
  draws that cannot be written;
* **a damaged chunk** (cut off, unparsable, holding other draws than its name
  says) is named in a warning, removed and its draws recomputed; :func:`read_store`
  refuses it with the chunk named;
* **a whole command's arguments**: :func:`claim_run` records the arguments of a
  command whose work folder holds several stores (``alliance power``) and refuses
  to resume it with other arguments, naming each one that differs, unless the
  caller asks to start clean.

Draws on a Dask cluster (``scheduler=``) travel as pickles: the cluster runs the
function it is sent and this process unpickles the rows it returns, so a scheduler
someone else controls can run code on this machine. Use only a cluster of your
own; across a network use TLS (``tls://`` addresses with ``security=``, a
``distributed.security.Security`` holding the certificates).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import multiprocessing as mp
import os
import shutil
import socket
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as completed
from pathlib import Path

import numpy as np
import pandas as pd

from alliance import __version__
from alliance.errors import AllianceWarning
from alliance.options import MAX_DRAWS, check_count, check_jobs, check_seed
from alliance.outputs import OutputError

try:  # POSIX: a lock the operating system releases when its process ends
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["all_failed", "claim_run", "draw_rng", "folder_lock", "progress_bar", "read_store",
           "run_draws", "study_identity"]

#: The file of a store that names the study its draws belong to.
STUDY_FILE = "study.json"
#: The file of a command's work folder that records the arguments it was started with.
RUN_FILE = "run.json"
#: The lock file of a folder one run at a time writes into.
LOCK_FILE = ".lock"

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


class _Damaged(Exception):
    """A chunk file that is not what :func:`_write_chunk` wrote (the message says why)."""


def _read_chunk(path: Path) -> pd.DataFrame:
    """One chunk file, checked: whole (ends with its line break), parsable, holding the draws
    its name says (the first and the last, unique, none outside)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _Damaged(f"cannot be read ({exc.strerror or exc})") from None
    if not data.endswith(b"\n"):
        raise _Damaged("it does not end with a line break (cut off while being written or "
                       "copied)")
    try:
        rows = pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=[""])
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError is a ValueError
        raise _Damaged(f"cannot be parsed ({' '.join(str(exc).split())[:200]})") from None
    parts = path.stem.split("-")
    try:
        first, last = int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        raise _Damaged("its name is not chunk-<first draw>-<last draw>.csv") from None
    if "draw" not in rows or rows.empty:
        raise _Damaged("it holds no draws")
    draw = pd.to_numeric(rows["draw"], errors="coerce")
    if draw.isna().any() or (draw != draw.round()).any():
        raise _Damaged("its draw column holds values that are not draw numbers")
    draw = draw.astype(int)
    if draw.duplicated().any() or draw.min() != first or draw.max() != last:
        raise _Damaged(f"it holds draws {int(draw.min())}-{int(draw.max())} "
                       f"({len(draw)} rows), not {first}-{last} as its name says (rows lost "
                       "or added)")
    return rows


def read_store(store) -> pd.DataFrame:
    """Every row written to a store folder, sorted by draw (duplicates refused).

    A damaged chunk file (cut off, unparsable, or not holding the draws its name
    says) raises :class:`~alliance.outputs.OutputError` naming it; :func:`run_draws`
    instead removes it and recomputes its draws.
    """
    parts = []
    for f in sorted(Path(store).glob("chunk-*.csv")):
        try:
            parts.append(_read_chunk(f))
        except _Damaged as exc:
            raise OutputError(f"store {store}: chunk {f.name} is damaged: {exc}") from None
    return _combine(parts, store)


def _combine(parts: list[pd.DataFrame], store) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=list(RUNNER_COLUMNS))
    out = pd.concat(parts, ignore_index=True)
    if out["draw"].duplicated().any():
        raise OutputError(f"store {store}: a draw appears in two chunks; the store is corrupt")
    return _clean(out)


def _load_store(store: Path) -> pd.DataFrame:
    """The store's rows for resuming: a damaged chunk is named, removed and left to recompute."""
    parts = []
    for f in sorted(store.glob("chunk-*.csv")):
        try:
            parts.append(_read_chunk(f))
        except _Damaged as exc:
            warnings.warn(f"store {store}: chunk {f.name} is damaged ({exc}); it is removed and "
                          "its draws are computed again", AllianceWarning, stacklevel=3)
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
    return _combine(parts, store)


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


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another run"
    return (f"another run (process {info.get('pid')} on {info.get('host')}, started "
            f"{info.get('started')})")


@contextlib.contextmanager
def folder_lock(folder, *, what: str | None = None) -> Iterator[Path]:
    """Hold ``folder/.lock`` while the body runs: one run at a time writes into ``folder``.

    A second run asking for the lock is refused at once with
    :class:`~alliance.outputs.OutputError` (``<what>: another run (process N on
    HOST, started ...) is writing into it; wait for it to finish, or use another
    folder``), before it computes anything. The lock is the operating system's
    (``flock``): it is released when the process ends, even when it is killed, so a
    crashed run never leaves a folder locked. The lock file is removed on release.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    label = what or str(folder)
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    busy = (f"{label}: {{holder}} is writing into it; wait for it to finish, or use another "
            "folder")
    if fcntl is None:  # pragma: no cover - Windows: an exclusive create, stale if the pid is gone
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise OutputError(busy.format(holder=_holder(path))) from None
        os.write(fd, json.dumps(me).encode())
        os.close(fd)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        return
    for _attempt in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputError(busy.format(holder=_holder(path))) from None
        try:  # the file may have been removed by the previous holder between open and flock
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:  # pragma: no cover - five races in a row
        raise OutputError(busy.format(holder="another run"))
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(me).encode())
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _normal(obj):
    """Arguments as JSON gives them back (tuples as lists), for comparing with a stored record."""
    return json.loads(json.dumps(obj, default=str))


def claim_run(folder, arguments: dict, *, force: bool = False, what: str | None = None,
              option=lambda name: name, clean_hint: str = "force=True") -> bool:
    """Make ``folder`` the work folder of the run with ``arguments``, or refuse to mix two runs.

    ``folder`` holds a command's unfinished work (several stores of draws). Its
    ``run.json`` records the arguments the run was started with. A run with the
    same arguments resumes there; a run with other arguments is refused with
    :class:`~alliance.outputs.OutputError` naming every argument that differs (as
    ``option(name)`` spells it) and its stored and given values, and nothing is
    touched -- unless ``force``: then the folder's contents are deleted and the
    run starts clean. A folder with contents but no record (another program's, or
    a run of an older version) is treated the same way. Call it while holding
    :func:`folder_lock` on ``folder``.

    Returns True when work already in the folder is resumed.
    """
    folder = Path(folder)
    label = what or str(folder)
    record = folder / RUN_FILE
    given = _normal(arguments)
    contents = [p for p in folder.iterdir() if p.name != LOCK_FILE] if folder.exists() else []
    why = None
    if record.exists():
        try:
            held = json.loads(record.read_text())
        except (OSError, ValueError) as exc:
            held, why = None, f"its {RUN_FILE} cannot be read ({exc})"
        if held is not None:
            differ = [k for k in dict.fromkeys([*given, *held]) if held.get(k) != given.get(k)]
            if not differ:
                return True
            shown = "; ".join(f"{option(k)}: stored {held.get(k)!r}, given {given.get(k)!r}"
                              for k in differ)
            why = (f"holds the unfinished draws of another study ({shown} -- "
                   f"{'it differs' if len(differ) == 1 else 'they differ'})")
    elif contents:
        why = f"holds files but no {RUN_FILE} saying which run they belong to"
    if why is not None:
        if not force:
            raise OutputError(f"{label}: {why}; run the same command again to resume it, or pass "
                              f"{clean_hint} to delete it and start clean")
        for p in contents:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    elif contents and not record.exists():  # pragma: no cover - handled above
        pass
    folder.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(given, indent=1) + "\n")
    os.replace(tmp, record)
    return False


def all_failed(draws: pd.DataFrame) -> str | None:
    """The first error when every draw failed (None when any draw succeeded, or there are none)."""
    if draws.empty or "error" not in draws:
        return None
    errors = draws["error"].astype(str)
    if (errors == "").any():
        return None
    return str(errors.iloc[0])


def progress_bar(iterable=None, show: bool = True, **kwargs):
    """The package's one progress bar (tqdm, on standard error): every long computation shows
    its progress with it on a terminal (``show=False``: none; never when standard error is a
    file or a pipe, where a command's errors are one line each). ``kwargs`` go to
    :class:`tqdm.tqdm`."""
    from tqdm import tqdm

    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, disable=None if show else True, **kwargs)  # None: off unless a TTY


def run_draws(fn: Callable, n_draws: int, *, seed: int, args: tuple = (), kwargs: dict | None = None,
              jobs: int = 1, scheduler: str | None = None, store=None, chunk_size: int = 25,
              draws: Sequence[int] | None = None, progress: bool = False,
              security=None) -> pd.DataFrame:
    """Run ``fn(draw, rng, *args, **kwargs)`` for draws ``0 .. n_draws - 1``.

    Parameters
    ----------
    fn : callable
        A module-level function (it is sent to other processes) returning a dict of
        plain values for one draw.
    n_draws : int
        Number of draws.
    seed : int
        The study's seed; draw *i* uses :func:`draw_rng` ``(seed, i)``. Required (no
        default, unlike the analyses' ``seed=1``): the runner is under every study, whose
        caller owns the seed, and a store is claimed for one seed
        (:func:`study_identity`).
    args, kwargs
        Further arguments of ``fn`` (the same for every draw; they must pickle).
    jobs : int
        Local worker processes (1: in this process).
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler (``"tcp://host:8786"``,
        ``"tls://host:8786"``); the chunks are computed there instead (``jobs`` is then
        ignored). The work is sent pickled and the rows come back pickled: use only a
        cluster you control (see the module's notes).
    security : distributed.security.Security, optional
        TLS settings for the scheduler (certificates; needed for ``tls://``).
    store : path, optional
        Folder for the chunk files; completed chunks found there are read, not recomputed
        (a damaged one is named in a warning, removed and recomputed). The store is
        claimed for this study (:func:`study_identity` in ``study.json``): a store of
        another function, seed or arguments raises :class:`~alliance.outputs.OutputError`
        and is left as it was. One run at a time: a store another run is writing into is
        refused at once (:func:`folder_lock`).
    chunk_size : int
        Draws per chunk (the unit of work sent to a worker and written to the store).
    draws : sequence of int, optional
        Compute only these draws (e.g. to recompute a random subset of a frozen study).
    progress : bool
        A progress bar on standard error (:func:`progress_bar`: tqdm; on a Dask cluster too,
        advancing as chunks come back).

    Returns
    -------
    pandas.DataFrame
        One row per draw, sorted by ``draw``: the function's outputs and ``seconds``,
        ``warnings``, ``error`` (empty when the draw succeeded).
    """
    kwargs = dict(kwargs or {})
    n_draws = check_count(n_draws, "n_draws", low=0 if draws is not None else 1, high=MAX_DRAWS)
    seed = check_seed(seed)
    jobs = check_jobs(jobs)
    chunk_size = check_count(chunk_size, "chunk_size", low=1)
    wanted = list(range(n_draws)) if draws is None else sorted({int(d) for d in draws})
    if store is None:
        return _run(fn, wanted, seed, args, kwargs, jobs, scheduler, None, chunk_size, progress,
                    security)
    store = Path(store)
    with folder_lock(store, what=f"store {store}"):
        return _run(fn, wanted, seed, args, kwargs, jobs, scheduler, store, chunk_size, progress,
                    security)


def _client(scheduler: str, security):
    from distributed import Client  # optional heavy dependency

    if str(scheduler).startswith("tls://") and security is None:
        raise ValueError(f"scheduler {scheduler!r} is a TLS address: give security= (a "
                         "distributed.security.Security with the CA file, the certificate and its "
                         "key)")
    return Client(scheduler, security=security) if security is not None else Client(scheduler)


def _run(fn, wanted, seed, args, kwargs, jobs, scheduler, store, chunk_size, progress,
         security) -> pd.DataFrame:
    done_rows: list[dict] = []
    if store is not None:
        _claim_store(store, study_identity(fn, seed, args, kwargs))
        prior = _load_store(store)
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
    results: list[dict] = list(done_rows)
    bar = progress_bar(show=progress, total=len(wanted), initial=len(done_rows), unit="draw",
                       desc="draws")

    def finished(c, rows):
        if store is not None:
            _write_chunk(store, rows, c)
        results.extend(rows)
        bar.update(len(rows))

    if scheduler is not None:
        from distributed import as_completed  # optional heavy dependency

        with _client(scheduler, security) as client:
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
    bar.close()
    if not results:
        return pd.DataFrame(columns=list(RUNNER_COLUMNS))
    return _clean(pd.DataFrame(results))
