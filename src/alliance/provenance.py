"""Where a result came from: package and library versions, the input's checksum, the code's commit.

The book's reproducibility page, ``alliance report`` and the frozen studies all
record the same facts through :func:`provenance`, so a folder or a page always
says what produced it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from alliance.outputs import sha256_file as sha256

__all__ = ["PACKAGES", "git_commit", "machine", "provenance", "sha256", "source_sha256", "versions"]

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


def _cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS)."""
    try:
        info: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip().lower(), value.strip())
        name = info.get("model name") or info.get("hardware") or info.get("cpu model")
        if name:  # a virtual machine's name can be vague ("AMD EPYC"): family and model too
            ids = [f"{k} {info[k]}" for k in ("cpu family", "model", "stepping") if info.get(k)]
            return f"{name} ({', '.join(ids)})" if ids else name
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], check=False,
                                 capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or "unknown"


def machine() -> dict:
    """What, besides the code, decides the last bits of a floating-point result.

    The operating system and architecture, the processor model and core count, Python,
    NumPy and SciPy, the SIMD extensions NumPy uses, and every BLAS library loaded
    (implementation, version, the kernel architecture it chose, threading, threads).
    Two runs of the same code agree bit for bit when all of these are equal; otherwise
    a different instruction path (FMA, vector width, BLAS kernel) rounds differently
    and an iterative fit may stop at a slightly different point within its tolerance.
    No host name, user or path is recorded.

    Examples
    --------
    >>> facts = machine()
    >>> sorted(facts)[:4]
    ['blas', 'cpu', 'cpu_count', 'machine']
    """
    import numpy as np
    import scipy
    import scipy.linalg  # loads SciPy's BLAS, so that it is listed too
    from threadpoolctl import threadpool_info

    try:
        simd = sorted(np.show_config(mode="dicts").get("SIMD Extensions", {}).get("found", []))
    except (TypeError, AttributeError):  # pragma: no cover - NumPy < 2 has no mode="dicts"
        simd = []
    blas = sorted({f"{i.get('internal_api')} {i.get('version')} ({i.get('prefix')}; "
                   f"{i.get('architecture')}; {i.get('threading_layer')}; "
                   f"{i.get('num_threads')} threads)"
                   for i in threadpool_info() if i.get("user_api") == "blas"})
    return {"system": platform.system(), "machine": platform.machine(), "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__, "numpy_simd": simd,
            "blas": blas}


def source_sha256(package_dir=None) -> str:
    """SHA-256 of the package's Python source (every ``*.py`` under it, by relative path).

    Equal fingerprints mean the same code, whether or not it is a git checkout and
    whatever its version number says.
    """
    root = Path(package_dir) if package_dir is not None else Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


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
