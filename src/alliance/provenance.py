"""Where a result came from: package and library versions, the input's checksum, the code's commit.

The book's reproducibility page, ``alliance report`` and the frozen studies all
record the same facts through :func:`provenance`, so a folder or a page always
says what produced it.
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from alliance.outputs import sha256_file as sha256

__all__ = ["PACKAGES", "git", "git_commit", "git_is_ancestor", "git_last_change", "provenance",
           "sha256", "versions"]

#: Libraries whose versions decide the numbers.
PACKAGES = ("alliance", "numpy", "scipy", "pandas", "statsmodels", "matplotlib", "plotly")


def versions(packages=PACKAGES) -> dict[str, str]:
    """``{"python": ..., package: version}`` (``"not installed"`` where absent)."""
    out = {"python": platform.python_version()}
    for p in packages:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = "not installed"
    return out


def git(args, cwd) -> str | None:
    """``git <args>`` in ``cwd``: its standard output, or ``None`` (no git, not a checkout, error)."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_last_change(path) -> tuple[str, str] | None:
    """``(commit, date)`` of the last commit that changed the file ``path``, if git can tell."""
    path = Path(path)
    got = git(["log", "-1", "--format=%H %cs", "--", path.name], path.parent)
    return tuple(got.split()) if got else None


def git_is_ancestor(first: str, second: str, cwd) -> bool | None:
    """Whether commit ``first`` is an ancestor of ``second`` (``None`` if git cannot tell)."""
    try:
        out = subprocess.run(["git", "merge-base", "--is-ancestor", first, second], cwd=cwd,
                             capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return {0: True, 1: False}.get(out.returncode)


def git_commit(path=None) -> str | None:
    """The commit checked out at ``path`` (default: the package's source folder), if it is a git checkout."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def provenance(input_path=None, command: list[str] | None = None) -> dict:
    """Facts that identify a run: date (UTC), versions, platform, commit, input checksum, command line."""
    facts = {
        "date_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        **versions(),
        "platform": f"{platform.system()} {platform.machine()}",
        "git_commit": git_commit() or "not a git checkout",
        "command": " ".join(command if command is not None else sys.argv),
    }
    if input_path is not None:
        facts["input"] = str(input_path)
        facts["input_sha256"] = sha256(input_path)
    return facts
