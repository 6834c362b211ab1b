"""Outputs that appear whole or not at all: atomic files and folders, and the input's checksum.

Every command that writes results (``alliance report``, ``alliance simulate``,
and the Monte Carlo commands) writes through this module, so that

* a folder or file is first written under a temporary name *beside* its target
  (same file system) and moved into place with :func:`os.replace` only when it
  is complete: an error, a crash or Ctrl-C leaves the target exactly as it was
  (and no temporary files behind, except after a hard kill);
* an existing target is never mixed with new output: a non-empty folder or an
  existing file is refused unless the caller passes ``force=True``, and then it
  is replaced *whole* (the old folder is moved aside, the new one moved in, the
  old one deleted -- never a mixture of old and new files);
* a target that cannot be used (an empty path, a folder where a file is
  wanted or the reverse, a parent that is a file) is refused before any work is
  done, with one :class:`OutputError` naming the path;
* a written folder can say what it came from: :func:`sha256_file` gives the
  SHA-256 of the input, which ``alliance report`` records in its summary.

This is a base-layer module: it imports nothing from the package but the errors.

Examples
--------
>>> import tempfile, pathlib
>>> from alliance.outputs import atomic_dir, OutputError
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_dir(root / "report") as tmp:
...     _ = (tmp / "summary.md").write_text("done")
>>> sorted(p.name for p in (root / "report").iterdir())
['summary.md']
>>> try:
...     with atomic_dir(root / "report") as tmp:
...         pass
... except OutputError as exc:
...     print(str(exc).split(": ", 1)[1])
is a folder that is not empty; pass force=True to replace it whole, or give a new folder
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from alliance.errors import AllianceError

__all__ = ["COMPLETED", "OutputError", "atomic_dir", "atomic_file", "check_target",
           "deferring_signals", "sha256_file"]

_CHUNK = 1 << 20


class OutputError(AllianceError, OSError):
    """An output target that cannot be used or written (the message names the path).

    Raised for an empty path, a non-empty folder or an existing file without
    ``force``, a folder where a file is wanted (or the reverse), a parent that is
    not a folder, and any operating-system error while writing (permission
    denied, disk full), always before the target is touched.
    """


def sha256_file(path) -> str:
    """SHA-256 hex digest of a file, read in chunks (a large input is not loaded whole)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


#: Signals the command line received while outputs were being written (its handlers append).
#: A signal can arrive while Python runs a finaliser, which swallows the exception it raises;
#: checking this list before an output is moved into place makes the interruption stick.
SIGNALS_SEEN: list[int] = []

#: Outputs moved into place whole during the current command (the command line's interruption
#: message says so: a signal that arrives after an output is complete must not claim otherwise).
COMPLETED: list[Path] = []

_DEFERRING = [0]


def deferring_signals() -> bool:
    """True while an output is being moved into place: a signal handler must only record the
    signal (in :data:`SIGNALS_SEEN`) and let the move finish; the signal is acted on after it."""
    return _DEFERRING[0] > 0


@contextlib.contextmanager
def _critical() -> Iterator[None]:
    _DEFERRING[0] += 1
    try:
        yield
    finally:
        _DEFERRING[0] -= 1


def _stop_if_signalled() -> None:
    if SIGNALS_SEEN:
        raise KeyboardInterrupt(f"signal {SIGNALS_SEEN[-1]} received")


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_target(target, *, kind: str, force: bool = False, option: str = "output",
                 keep=()) -> Path:
    """Check that ``target`` may be written as a ``kind`` ("folder" or "file"); return it as a Path.

    Refused with :class:`OutputError` (message ``<option> <path>: <why>``): an
    empty path; a symbolic link; an existing target of the other kind; an
    existing non-empty folder or an existing file unless ``force``; with
    ``force``, a folder that holds the current working folder or any path of
    ``keep`` (e.g. the input file: replacing the folder would delete it); a
    parent path that exists but is not a folder, or one that cannot be written
    in. A missing parent folder is fine (it is created when the output is
    written). Nothing is created or changed here.
    """
    if kind not in ("folder", "file"):
        raise ValueError(f"kind must be 'folder' or 'file'; got {kind!r}")
    name = os.fspath(target) if target is not None else ""
    if not str(name).strip():
        raise OutputError(f"{option} '': the output path is empty; give a {kind} name")
    path = Path(name)
    label = f"{option} {name}"
    hint = "pass --force" if option.startswith("--") else "pass force=True"
    if path.is_symlink():
        raise OutputError(f"{label}: is a symbolic link; give the path of a real {kind}")
    if path.exists():
        if kind == "folder":
            if not path.is_dir():
                raise OutputError(f"{label}: exists and is not a folder; give the name of a "
                                  "new or empty folder")
            try:
                empty = not any(path.iterdir())
            except OSError as exc:
                raise OutputError(f"{label}: cannot list the folder ({_describe(exc)})") from None
            if not empty and not force:
                raise OutputError(f"{label}: is a folder that is not empty; {hint} to "
                                  "replace it whole, or give a new folder")
            if not empty and not os.access(path, os.W_OK | os.X_OK):
                # replacing it moves it aside first, which needs write permission on it
                raise OutputError(f"{label}: cannot replace the folder (permission denied: it "
                                  "cannot be moved aside); it was left as it was")
            here = path.resolve()
            for inside in (Path.cwd(), *(Path(k) for k in keep)):
                if inside.resolve().is_relative_to(here):
                    what = "the current folder" if inside == Path.cwd() else f"'{inside}'"
                    raise OutputError(f"{label}: holds {what}, which replacing the folder would "
                                      "delete; give a new folder")
        else:
            if path.is_dir():
                raise OutputError(f"{label}: is a folder; give the name of a file")
            if not force:
                raise OutputError(f"{label}: the file exists; {hint} to replace it")
            for k in keep:
                if Path(k).resolve() == path.resolve():
                    raise OutputError(f"{label}: is the input file; give another name")
    parent = path.absolute().parent
    for p in (parent, *parent.parents):
        if p.exists():
            if not p.is_dir():
                raise OutputError(f"{label}: '{p}' is not a folder")
            if not os.access(p, os.W_OK | os.X_OK):
                raise OutputError(f"{label}: cannot write in '{p}' (permission denied)")
            break
    return path


def _make_parent(path: Path, label: str) -> Path:
    parent = path.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{label}: cannot create the folder '{parent}' ({_describe(exc)})") from None
    return parent


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def atomic_dir(target, *, force: bool = False, option: str = "output", keep=()) -> Iterator[Path]:
    """Write a folder atomically: yield a temporary folder beside ``target``, move it into place.

    The body writes everything into the yielded folder. When the body finishes
    without an exception the folder is moved to ``target`` (an empty existing
    folder is replaced; with ``force`` a non-empty one is moved aside first and
    deleted after the new one is in place). When the body raises -- including
    ``KeyboardInterrupt`` -- the temporary folder is deleted and ``target`` is left
    exactly as it was. The target is checked by :func:`check_target` before the
    body runs.
    """
    path = check_target(target, kind="folder", force=force, option=option, keep=keep)
    label = f"{option} {os.fspath(target)}"
    parent = _make_parent(path, label)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=parent))
    except OSError as exc:
        raise OutputError(f"{label}: cannot create a folder in '{parent}' ({_describe(exc)})") from None
    try:
        yield tmp
        _stop_if_signalled()
        _move_into_place(tmp, path, force=force, option=option, kind="folder", keep=keep)
    except OutputError:
        _remove(tmp)
        raise
    except OSError as exc:  # disk full, permission lost, ...: name the target, not the temporary
        _remove(tmp)
        raise OutputError(f"{label}: cannot write the output ({_describe(exc)}); nothing was "
                          "written") from exc
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_file(target, *, force: bool = False, option: str = "output", keep=()) -> Iterator[Path]:
    """Write a file atomically: yield a temporary path beside ``target``, then :func:`os.replace` it.

    Same contract as :func:`atomic_dir` for one file: an existing file is refused
    unless ``force`` (then replaced in one step); on any exception the temporary
    file is removed and ``target`` is untouched.
    """
    path = check_target(target, kind="file", force=force, option=option, keep=keep)
    label = f"{option} {os.fspath(target)}"
    parent = _make_parent(path, label)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.partial-", dir=parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{label}: cannot create a file in '{parent}' ({_describe(exc)})") from None
    tmp = Path(name)
    try:
        yield tmp
        _stop_if_signalled()
        _move_into_place(tmp, path, force=force, option=option, kind="file", keep=keep)
    except OutputError:
        _remove(tmp)
        raise
    except OSError as exc:
        _remove(tmp)
        raise OutputError(f"{label}: cannot write the output ({_describe(exc)}); nothing was "
                          "written") from exc
    except BaseException:
        _remove(tmp)
        raise


def _move_into_place(tmp: Path, path: Path, *, force: bool, option: str, kind: str,
                     keep=()) -> None:
    # Re-check: the target may have been created while the output was being computed.
    check_target(path, kind=kind, force=force, option=option, keep=keep)
    label = f"{option} {path}"
    folder = kind == "folder"
    old = None
    with _critical():  # a signal now waits until the target is whole again (old or new)
        try:
            if folder and path.is_dir() and any(path.iterdir()):
                # os.replace cannot replace a non-empty folder: move the old one aside first
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=tmp.parent))
                os.replace(path, old / path.name)
            if folder:
                tmp.chmod(0o777 & ~_umask())
            else:
                tmp.chmod(0o666 & ~_umask())
            os.replace(tmp, path)
        except OSError as exc:
            if old is not None:
                if (old / path.name).exists() and not path.exists():
                    os.replace(old / path.name, path)  # put the old folder back
                if not (old / path.name).exists():
                    _remove(old)  # never leave the empty folder made to hold the old one
            raise OutputError(f"{label}: cannot move the finished output into place "
                              f"({_describe(exc)}); it was left as it was") from None
        COMPLETED.append(path)
        if old is not None:
            _remove(old)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
