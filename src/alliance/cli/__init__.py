"""The ``alliance`` command line: thin adapters over the package's functions.

Conventions every subcommand follows:

* human-readable tables on stdout by default;
* with ``--json``: exactly one JSON object on stdout, whose tables are lists of
  records with at least ``term``, ``estimate``, ``se``, ``statistic``, ``p``,
  ``ci_low``, ``ci_high`` (plus ``level`` where a moderator splits the
  estimates), and ``n_obs``, ``n_groups``, ``converged``, ``warnings`` at the
  top level;
* every failure is one line on stderr, never a traceback, with the exit code
  (:data:`EXIT_CODES`): 0 success; 1 invalid data (the validation message, or
  an input file that cannot be read); 2 usage error: an option value the
  command cannot use (argparse's own errors, the package's argument checks,
  the same column mapped twice) or an output it must not or cannot write
  (a non-empty folder or an existing file without ``--force``, a folder where a
  file is wanted, a place it cannot write to); 3 a fit that cannot be trusted
  (``FitError``), or a report with analyses that could not run (the folder is
  still written whole; 0 with ``--best-effort``); 70 an internal error (a bug:
  set ``ALLIANCE_TRACEBACK=1`` to see the traceback); 130 interrupted (Ctrl-C)
  and 143 terminated (SIGTERM), with any output left as it was;
* outputs (``--out``) are written atomically (:mod:`alliance.outputs`): a
  temporary file or folder beside the target, moved into place when complete.

This is the only module that uses :mod:`argparse`. A command's module is
imported only when that command runs (``alliance validate`` never loads the
model code), so every command starts quickly. This module itself imports only
the standard library and the package's light base modules, and :func:`main`
installs its signal handlers before anything heavy (pandas, NumPy) is loaded.
When this module is imported as the ``alliance`` program itself (the console
script, or ``python -m alliance.cli``), its very first lines install a handler
that only records a signal, and :func:`main` acts on it when it starts: Ctrl-C
at any moment after the interpreter has started gives the one-line message,
never a traceback. ``alliance fit KIND`` is built from the descriptor of the analysis
(:mod:`alliance.registry`): every analysis with a command gets one, with the options
every fit takes (``--method``, ``--df``, ``--conf-level``, the input options) and its
own; nothing here names an analysis. Every long command takes ``--quiet``.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading

#: Signals received while the program itself was still starting (before :func:`main`).
_EARLY: list[int] = []
#: The exit code of an interrupted run of the program (set by :func:`main`; see :func:`_keep_exit_code`).
_INTERRUPTED_CODE: list[int] = []


def _keep_exit_code() -> None:
    """The last exit handler of an interrupted program: exit with 130 or 143, as documented.

    CPython 3.11 remembers a KeyboardInterrupt that passed through ``exec()`` of a
    string (SciPy's array-API shim imports NumPy that way) and, at exit, kills the
    process with SIGINT even though the program handled the interruption; the
    caller then sees "killed by signal 2" one run in a few instead of the code the
    program chose. Registered first, this handler runs after every other one, so
    only the interpreter's own final teardown is skipped; the streams are flushed.
    """
    if _INTERRUPTED_CODE:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(_INTERRUPTED_CODE[-1])


def _early_signal(signum, frame) -> None:
    """A signal before :func:`main` runs: remembered (raising here would print a traceback)."""
    _EARLY.append(signum)


def _is_the_program() -> bool:
    """True when this import is the start of the ``alliance`` program, not a library import."""
    argv = list(getattr(sys, "orig_argv", []))
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return (name in ("alliance", "alliance.exe")
            or any(argv[i:i + 2] == ["-m", "alliance.cli"] for i in range(len(argv))))


if _is_the_program() and threading.current_thread() is threading.main_thread():
    for _sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_sig, _early_signal)
    atexit.register(_keep_exit_code)

import argparse  # after the early handler: the program's start is covered
import dataclasses
import importlib
import json
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

from alliance.cli.common import (
    Parser,
    UsageError,
    add_input_options,
    add_option,
    option_message,
    parse_columns,
)
from alliance.errors import (
    AllianceWarning,
    DataError,
    FitError,
    OptionError,
    OptionTypeError,
)
from alliance.outputs import (
    COMPLETED,
    SIGNALS_SEEN,
    OutputError,
    deferring_signals,
)

__all__ = ["COMMANDS", "EXIT_CODES", "build_parser", "fit_commands", "main"]

#: Exit codes of every command (README.md documents the same table).
EXIT_CODES = {
    0: "success",
    1: "invalid data, or an input file that cannot be read",
    2: "usage error: an option value that cannot be used, or an output that must not or "
       "cannot be written",
    3: "a fit that cannot be trusted (degenerate model); for report: analyses that could not run",
    70: "internal error (a bug; ALLIANCE_TRACEBACK=1 shows the traceback)",
    130: "interrupted (Ctrl-C)",
    143: "terminated (SIGTERM)",
}

#: ``alliance NAME`` -> (adapter module with ``add_arguments`` and ``run(args) -> int``, help).
COMMANDS = {
    "simulate": ("alliance.cli.simulate",
                 "write a synthetic trial (the book's generative model or a named scenario)"),
    "power": ("alliance.cli.power",
              "power of the primary tests for a planned trial (simulation; local or Dask)"),
    "multiverse": ("alliance.cli.multiverse",
                   "each finding's key estimate under every defensible specification "
                   "(specification curve)"),
}


def fit_commands() -> dict:
    """``alliance fit KIND`` -> the analysis registered with a command (read from the sources,
    :func:`alliance.registry.analyses`: nothing is imported)."""
    from alliance.registry import analyses

    return {name: found for name, found in analyses().items() if found.command}


def _validate(args) -> int:
    from alliance.data.summary import validation_summary
    from alliance.data.validate import read_sessions

    data = read_sessions(args.file, parse_columns(args.column), sep=args.sep, decimal=args.decimal,
                         ids=args.ids)
    summary = validation_summary(data)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.file}: valid")
        for key, value in summary.items():
            if key != "notes":
                print(f"  {key}: {value}")
        for note in summary["notes"]:
            print(f"  note: {note}")
    return 0


def _command(args) -> int:
    return importlib.import_module(args.module).run(args)


def _fit(args) -> int:
    from alliance.registry import descriptor

    analysis = descriptor(args.kind)
    read = {"sep": args.sep, "decimal": args.decimal, "ids": args.ids}
    if analysis.reads == "sessions":
        read["columns"] = parse_columns(args.column)
    options = {o.name: getattr(args, o.name) for o in analysis.options}
    result = analysis.command(args.file, read=read, method=args.method, df=args.df,
                              conf_level=args.conf_level, **options)
    print(result.to_json(indent=2) if args.json else result.summary())
    return 0


def _add_fit_options(parser, kind: str) -> None:
    """The options of ``alliance fit KIND``: every fit's and the analysis's own."""
    from alliance.registry import COMMON_OPTIONS, descriptor

    analysis = descriptor(kind)
    add_input_options(parser, columns=analysis.reads == "sessions")
    for option in COMMON_OPTIONS:
        if option.name == "method":  # every fit's choices; the analysis's default
            option = dataclasses.replace(option, default=analysis.method,
                                         help=f"{option.help} (default {analysis.method})")
        add_option(parser, option)
    for option in analysis.options:
        add_option(parser, option)


def _report(args) -> int:
    return importlib.import_module("alliance.cli.report").run(args)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``fit`` kind named in ``argv`` loads its adapter (and its options)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = Parser(
        prog="alliance",
        description="Validate and analyse session-by-session alliance data.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a data file against the data model")
    p.add_argument("file")
    add_input_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_validate)

    for name, (modname, helptext) in COMMANDS.items():
        p = sub.add_parser(name, help=helptext, description=helptext)
        if argv[:1] == [name]:  # only the command that runs loads its adapter
            importlib.import_module(modname).add_arguments(p)
        p.set_defaults(func=_command, module=modname)

    fit = sub.add_parser("fit", help="fit one of the book's models to a data file")
    kinds = fit.add_subparsers(dest="kind", required=True)
    wanted = argv[argv.index("fit") + 1] if "fit" in argv[:-1] else None
    for kind, found in fit_commands().items():
        kp = kinds.add_parser(kind, help=found.help, description=found.help)
        kp.add_argument("file")
        if kind == wanted:  # only the command that runs loads its analysis (and its options)
            _add_fit_options(kp, kind)
        kp.add_argument("--json", action="store_true",
                        help="print one JSON object instead of tables")
        kp.set_defaults(func=_fit)

    p = sub.add_parser("report", help="run every analysis of the book on a file")
    p.add_argument("file")
    p.add_argument("--out", required=True,
                   help="output folder: new or empty (written whole or not at all)")
    p.add_argument("--force", action="store_true",
                   help="replace a non-empty --out folder whole (never mixed with new files)")
    p.add_argument("--best-effort", action="store_true",
                   help="exit 0 even if some analyses could not run (they are listed in the "
                        "summary); default: exit 3")
    p.add_argument("--quiet", action="store_true",
                   help="no progress and no summary on standard output (errors and warnings "
                        "still on standard error)")
    add_input_options(p)
    p.set_defaults(func=_report)
    return parser


class _Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that outputs are cleaned up on the way out."""


def _on_signal(signum, frame):
    SIGNALS_SEEN.append(signum)
    if deferring_signals():  # an output is being moved into place: finish that first
        return
    if signum == signal.SIGTERM:
        raise _Terminated()
    raise KeyboardInterrupt()


def _quiet_unraisable(unraisable) -> None:
    """Drop the "Exception ignored in ..." report of a signal swallowed by a finaliser.

    A signal can arrive while Python runs a finaliser or a weak-reference callback;
    the exception the handler raises there cannot propagate and Python prints it to
    stderr. The signal is recorded in ``SIGNALS_SEEN`` and handled on the way out
    (``main`` ends with the one-line interruption message), so the report is noise.
    Every other unraisable exception goes to Python's default hook.
    """
    if isinstance(unraisable.exc_value, (KeyboardInterrupt, _Terminated)) and SIGNALS_SEEN:
        return
    sys.__unraisablehook__(unraisable)


def _signalled() -> int | None:
    """The exit code of a signal received during the command (it may have been swallowed)."""
    if not SIGNALS_SEEN:
        return None
    return 143 if SIGNALS_SEEN[-1] == signal.SIGTERM else 130


def _raised_by_package(exc: BaseException) -> bool:
    """True if ``exc`` was raised by the package's own code (an argument check), not a library."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return False
    here = Path(__file__).resolve().parents[1]
    return Path(last.tb_frame.f_code.co_filename).resolve().is_relative_to(here)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings of the package as one line on stderr (``alliance: warning: ...``)."""
    if issubclass(category, AllianceWarning):
        print(f"alliance: warning: {' '.join(str(message).split())}", file=sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def _fail(text: str, code: int) -> int:
    print(" ".join(text.split()), file=sys.stderr)
    return code


def _interrupted(word: str) -> str:
    """The interruption message: what exists now, truthfully."""
    if COMPLETED:
        done = ", ".join(str(p) for p in dict.fromkeys(COMPLETED))
        return (f"alliance: {word} after the output was complete: {done} was written whole; "
                "nothing was left half-written")
    return f"alliance: {word}; no output was left half-written"


def _stop_listening(handlers: dict) -> None:
    """Ignore further SIGINT / SIGTERM (the command is already on its way out)."""
    if handlers:
        for sig in handlers:
            signal.signal(sig, signal.SIG_IGN)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (:data:`EXIT_CODES`).

    The signal handlers are installed first, before anything heavy is imported,
    so that Ctrl-C at any moment gives one line (never a traceback); the
    interruption message says what exists (:func:`_interrupted`). Called as the
    ``alliance`` program (``argv`` None), a signal that arrives after the command
    has finished is ignored: the exit code already says what happened. Called
    with ``argv`` (from Python), the previous handlers are restored.
    """
    program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    previous = {}
    SIGNALS_SEEN.clear()
    COMPLETED.clear()
    previous_hook = sys.unraisablehook
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        sys.unraisablehook = _quiet_unraisable
        if previous.get(signal.SIGINT) is _early_signal:  # the program's own start: handled here
            previous = {s: signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL
                        for s in previous}
    SIGNALS_SEEN.extend(_EARLY)  # a signal while the program was starting
    _EARLY.clear()
    code = 70
    try:
        code = _main(argv, previous)
        return code
    except (KeyboardInterrupt, _Terminated) as exc:  # a signal while another outcome was reported
        _stop_listening(previous)
        code = _signalled() or (143 if isinstance(exc, _Terminated) else 130)
        return _fail(_interrupted("terminated" if code == 143 else "interrupted"), code)
    finally:
        if program:
            _stop_listening(previous)
            if code in (130, 143):
                _INTERRUPTED_CODE.append(code)
        else:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        sys.unraisablehook = previous_hook


def _main(argv: list[str], handlers: dict) -> int:
    parser = None
    try:
        if SIGNALS_SEEN:  # Ctrl-C while the program was starting: stop before anything runs
            raise KeyboardInterrupt()
        parser = build_parser(argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
            return exc.code if isinstance(exc.code, int) else 2
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            code = args.func(args)
        if _signalled() is not None:  # a signal swallowed by a finaliser: still an interruption
            raise KeyboardInterrupt()
        return code
    except (UsageError, OptionError, OptionTypeError) as exc:
        return _fail(f"alliance: error: {option_message(parser, str(exc))}", 2)
    except DataError as exc:
        return _fail(f"alliance: invalid data: {exc}", 1)
    except FitError as exc:
        return _fail(f"alliance: fit failed: {exc}", 3)
    except OutputError as exc:
        return _fail(f"alliance: error: {exc}", 2)
    except (KeyboardInterrupt, _Terminated) as exc:
        _stop_listening(handlers)  # a second Ctrl-C must not interrupt the message
        code = _signalled() or (143 if isinstance(exc, _Terminated) else 130)
        word = "terminated" if code == 143 else "interrupted"
        return _fail(_interrupted(word), code)
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        sys.stderr.close()
        return 0
    except OSError as exc:  # the file system refused something not caught earlier
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"alliance: error: {where}{exc.strerror or exc}", 2)
    except Exception as exc:
        if _signalled() is not None:
            # a signal broke a library call it arrived in (e.g. NumPy's import fails with an
            # ImportError when Ctrl-C lands inside it): the interruption is what happened, not a bug
            _stop_listening(handlers)
            code = _signalled()
            return _fail(_interrupted("terminated" if code == 143 else "interrupted"), code)
        if os.environ.get("ALLIANCE_TRACEBACK"):
            raise
        if isinstance(exc, ValueError) and _raised_by_package(exc):
            # the package's own argument checks (an option value it cannot use)
            return _fail(f"alliance: error: {option_message(parser, str(exc))}", 2)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return _fail(f"alliance: internal error: {type(exc).__name__}: {exc} (at "
                     f"{Path(frame.filename).name}:{frame.lineno}; please report it; "
                     "ALLIANCE_TRACEBACK=1 shows the traceback)", 70)


if __name__ == "__main__":
    raise SystemExit(main())
