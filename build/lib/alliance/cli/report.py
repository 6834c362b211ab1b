"""``alliance report FILE --out DIR``: every analysis of the book on one data file."""

from __future__ import annotations

from pathlib import Path

from alliance.cli.common import parse_columns
from alliance.data.validate import read_sessions
from alliance.report import run_report

__all__ = ["run"]


def run(args) -> int:
    """Validate FILE, run the report into ``--out``; exit code 3 if an analysis could not be fitted."""
    data = read_sessions(args.file, parse_columns(args.column), sep=args.sep, decimal=args.decimal)
    written = run_report(data, Path(args.out))
    print(f"wrote {len(written['tables'])} tables, {len(written['figures'])} figures and "
          f"{written['summary']}")
    for name, msg in written["failed"].items():
        print(f"failed: {name}: {msg}")
    return 3 if written["failed"] else 0
