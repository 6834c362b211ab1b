"""The package works outside the checkout: built as a wheel, installed in a fresh environment.

The wheel is built from the repository, installed into a new virtual
environment in a temporary folder, and used from a working directory that is not
the repository: ``alliance validate`` on the shipped data, ``load_example()`` with
its checksum, and one fit. Nothing may reach back into the checkout.

The new environment sees exactly the distributions the wheel declares, and theirs
(the closure of ``Requires-Dist``), linked from the test's own environment (which
``make test`` installed from ``requirements.lock``), and nothing else: an import of
an undeclared package fails here as it would for a user, without downloading the
dependencies again (offline, in seconds). ``pip check`` confirms that the declared
requirements are met.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(cmd, cwd, **extra_env):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra_env)
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=env,
                          check=False)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _link_dependencies(wheel: Path, folder: Path) -> Path:
    """A folder of links to the installed distributions the wheel needs (``Requires-Dist`` of
    the wheel and, recursively, of each dependency; no extras), and to nothing else."""
    from email.parser import Parser
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        todo = Parser().parsestr(zf.read(meta).decode()).get_all("Requires-Dist") or []
    seen: set[str] = set()
    folder.mkdir()
    while todo:
        req = Requirement(todo.pop())
        name = canonicalize_name(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            pytest.fail(f"the wheel requires {req} but the test environment does not have it")
        todo += dist.requires or []
        base = Path(dist.locate_file(""))
        for top in {Path(f).parts[0] for f in dist.files or [] if ".." not in Path(f).parts}:
            link = folder / top
            if not link.exists() and (base / top).exists():
                link.symlink_to(base / top)
    return folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    # build from a copy of what a source distribution holds, so the checkout gets no build/ folder
    src = tmp / "src-copy"
    for name in ("pyproject.toml", "README.md"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
          tmp / "dist", src], cwd=tmp)
    wheel = next((tmp / "dist").glob("alliance-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "alliance/data/files/sessions.csv" in names, names
    assert "alliance/data/files/sessions.csv.sha256" in names
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    py = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", py]  # this environment's pip, installing there
    _run([*pip, "install", "--quiet", "--no-deps", "--no-index", wheel], cwd=tmp)
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     cwd=tmp).stdout.strip())
    deps = _link_dependencies(wheel, tmp / "dependencies")
    (site / "dependencies.pth").write_text(f"{deps}\n")
    _run([*pip, "check"], cwd=tmp)
    work = tmp / "elsewhere"
    work.mkdir()
    return py, venv / "bin" / "alliance", work


def test_the_installed_package_is_not_the_checkout(installed):
    py, _, work = installed
    out = _run([py, "-c", "import alliance; print(alliance.__file__)"], cwd=work).stdout
    assert str(ROOT) not in out and "site-packages" in out


def test_validate_load_example_and_a_fit_from_the_wheel(installed):
    py, exe, work = installed
    path = _run([py, "-c", "import alliance; print(alliance.example_path())"], cwd=work).stdout.strip()
    assert "site-packages" in path
    out = _run([exe, "validate", path], cwd=work).stdout
    assert "valid" in out and "patients: 117" in out
    code = ("import alliance\n"
            "d = alliance.load_example()\n"
            "res = alliance.fit_growth(d, 'patient')\n"
            "print(len(d), repr(res.value('time')))\n")
    # The engine's compiled loop runs interpreted here (NUMBA_DISABLE_JIT: the same code as
    # Python, 2 s): compiling it in the fresh environment would take 50-60 s of the suite's ten
    # minutes, and the compiled loop is the one every other test runs. The two must agree.
    rows, slope = _run([py, "-c", code], cwd=work, NUMBA_DISABLE_JIT="1").stdout.split()
    import alliance

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = alliance.fit_growth(alliance.load_example(), "patient").value("time")
    assert int(rows) == 636
    assert float(slope) == pytest.approx(compiled, rel=1e-9)  # optimizer paths may part at 1e-13
