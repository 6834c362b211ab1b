"""``alliance report FILE --out DIR``: every analysis of the book on one data file."""

from __future__ import annotations

import sys

from alliance.cli.common import parse_columns
from alliance.report import run_report

__all__ = ["run"]


def run(args) -> int:
    """Validate FILE and write the report into ``--out`` (atomically).

    Exit code 0 when every analysis ran; 3 when one or more could not run (the
    folder is still written whole, its summary lists them), 0 with
    ``--best-effort``. ``--quiet``: no progress and nothing on standard output.
    """
    written = run_report(args.file, args.out, columns=parse_columns(args.column), force=args.force,
                         sep=args.sep, decimal=args.decimal, option="--out", ids=args.ids,
                         progress=not args.quiet)
    say = (lambda *a, **k: None) if args.quiet else print
    say(f"wrote {len(written['tables'])} tables, {len(written['figures'])} figures and "
        f"{written['summary']}")
    for name, msg in written["failed"].items():
        print(f"alliance: analysis not run: {name}: {msg}", file=sys.stderr)
    code = 0
    if written["failed"]:
        n = len(written["failed"])
        say(f"report incomplete: {n} analys{'is' if n == 1 else 'es'} could not run (listed in "
            f"{written['summary']})" + ("" if args.best_effort else "; exit code 3"))
        code = 0 if args.best_effort else 3
    # the last line names the page to open (and send): the report as one self-contained file
    say(f"report: {written['out'] / 'report.html'} (open it in a browser; it works offline)")
    return code
