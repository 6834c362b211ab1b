"""``python -m alliance.cli.make_data [--check]``: regenerate the shipped synthetic data.

A maintenance command for a checkout of the repository: it rewrites
``src/alliance/data/files/sessions.csv``, its checksum and ``data/README.md``
(:func:`alliance.synthetic.make_data.build`); ``--check`` builds into a temporary
folder and exits 1 if any file differs from the committed one.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from alliance.data.example import DATA_DIR
from alliance.synthetic.make_data import README_DIR, build

__all__ = ["main"]


def main(argv=None) -> int:
    """Regenerate (or, with ``--check``, compare) the shipped data; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="build into a temporary folder and compare; exit 1 on any difference")
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            made = build(Path(tmp))
            committed = {"data": DATA_DIR, "checksum": DATA_DIR, "readme": README_DIR}
            diff = [p.name for k, p in made.items()
                    if (committed[k] / p.name).read_bytes() != p.read_bytes()]
        print("identical" if not diff else f"different: {diff}")
        return 1 if diff else 0
    for kind, path in build().items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
