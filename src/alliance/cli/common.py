"""What every command shares: the input options and how they become a data set."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

__all__ = ["Parser", "UsageError", "add_column_option", "add_input_options", "add_option",
           "add_scheduler_options", "nonnegative_int", "option_message", "parse_columns",
           "scheduler_security"]


class UsageError(Exception):
    """A command-line option that cannot be used as given (exit code 2, one line)."""


SCHEDULER_HELP = (
    "a running dask.distributed scheduler (tcp://host:8786, or tls://host:8786 with --tls-ca-file, "
    "--tls-cert and --tls-key) to use instead of local processes. SECURITY: the work is sent to it "
    "pickled and the results it returns are unpickled here, so a scheduler someone else controls "
    "can run code on this machine: use only a cluster of your own, and TLS across a network")


def add_scheduler_options(parser: argparse.ArgumentParser) -> None:
    """``--scheduler`` and the TLS options that go with a ``tls://`` address (``alliance power``
    and ``make_studies``)."""
    parser.add_argument("--scheduler", metavar="ADDRESS", help=SCHEDULER_HELP)
    parser.add_argument("--tls-ca-file", metavar="FILE",
                        help="with a tls:// --scheduler: the certificate authority that signed the "
                             "cluster's certificates")
    parser.add_argument("--tls-cert", metavar="FILE",
                        help="with a tls:// --scheduler: this client's certificate")
    parser.add_argument("--tls-key", metavar="FILE",
                        help="with a tls:// --scheduler: the private key of --tls-cert")


def scheduler_security(args):
    """Dask TLS settings from the --tls-* options (None without them); checked at the door."""
    tls = {"tls_ca_file": args.tls_ca_file, "tls_client_cert": args.tls_cert,
           "tls_client_key": args.tls_key}
    given = {k: v for k, v in tls.items() if v}
    address = str(args.scheduler or "")
    if given and not address.startswith("tls://"):
        raise UsageError("--tls-ca-file, --tls-cert and --tls-key go with a tls:// --scheduler "
                         "address")
    if address.startswith("tls://"):
        names = {"tls_ca_file": "--tls-ca-file", "tls_client_cert": "--tls-cert",
                 "tls_client_key": "--tls-key"}
        missing = [names[k] for k in tls if not tls[k]]
        if missing:
            raise UsageError(f"a tls:// --scheduler needs {', '.join(missing)} (the certificate "
                             "authority, this client's certificate and its key)")
        for k, v in tls.items():
            if not os.path.isfile(v) or not os.access(v, os.R_OK):
                raise UsageError(f"{names[k]} {v}: not a readable file")
    elif address and not address.startswith(("tcp://", "inproc://", "ucx://")) and "://" in address:
        raise UsageError(f"--scheduler {address}: use a tcp:// or tls:// address")
    if args.scheduler:
        try:
            from distributed.security import Security
        except ImportError:  # pragma: no cover - distributed is a dependency
            raise UsageError("--scheduler needs the Python package 'distributed'") from None
        if given:
            return Security(**tls, require_encryption=True)
    return None


def parse_columns(items: Sequence[str] | None) -> dict[str, str]:
    """Turn ``["canonical=theirs", ...]`` into ``{canonical: theirs}``."""
    from alliance.data.schema import CANONICAL_COLUMNS  # not at import: the CLI starts light

    mapping: dict[str, str] = {}
    for item in items or []:
        canon, sep, theirs = item.partition("=")
        if not sep or not canon or not theirs:
            raise UsageError(f"--column expects canonical=yours, got {item!r}")
        if canon not in CANONICAL_COLUMNS:
            raise UsageError(
                f"--column {item!r}: {canon!r} is not a canonical column "
                f"({', '.join(CANONICAL_COLUMNS)})"
            )
        if canon in mapping:
            raise UsageError(f"--column maps {canon!r} twice")
        if theirs in mapping.values():
            other = next(k for k, v in mapping.items() if v == theirs)
            raise UsageError(f"--column maps both {other!r} and {canon!r} onto your column "
                             f"{theirs!r}; each canonical column needs its own column")
        mapping[canon] = theirs
    return mapping


def add_column_option(parser: argparse.ArgumentParser) -> None:
    """The ``--column canonical=yours`` option of commands reading session data."""
    parser.add_argument(
        "--column", action="append", metavar="CANONICAL=YOURS", default=[],
        help="map one of your column names onto a canonical one (repeatable), "
             "e.g. --column alliance_patient=wai_p",
    )


def add_input_options(parser: argparse.ArgumentParser, columns: bool = True) -> None:
    """FILE's format options (``--sep``, ``--decimal``, ``--ids``) and, for session data,
    ``--column``."""
    if columns:
        add_column_option(parser)
    parser.add_argument("--ids", choices=["text", "numeric"], default="text",
                        help="ids are the text written (default: one number written two ways, "
                             "such as 1 and 1.0, is refused with its rows), or numeric: a whole "
                             "number written any way (1, 1.0, 01) is one id")
    parser.add_argument("--sep", choices=[",", ";", "tab"],
                        help="delimiter of FILE (default: detected from its header line)")
    parser.add_argument("--decimal", choices=[".", ","],
                        help="decimal mark of FILE (default: '.' for comma-separated files, "
                             "detected for semicolon- and tab-separated ones)")


def add_option(parser: argparse.ArgumentParser, option) -> None:
    """An :class:`alliance.registry.Option` as an argparse argument (its ``dest`` the option's
    name, so the parsed value goes to the analysis under that keyword)."""
    kw = {"dest": option.name, "help": option.help or None}
    if option.kind == "flag":
        parser.add_argument(option.option, action="store_true", **kw)
        return
    if option.metavar is not None:
        kw["metavar"] = option.metavar
    if option.kind == "list":
        kw.update(action="append", default=None)
    elif option.kind == "pair":
        kw.update(nargs=2, default=None)
    else:
        kw.update(default=option.default, required=option.required)
    if option.type is not None:
        kw["type"] = option.type
    if option.choices is not None:
        kw["choices"] = list(option.choices)
        if option.type in (str.upper, str.lower):  # any capitalisation, named as typed
            kw["choices"] = _AnyCase(option.choices, option.type)
            kw["action"] = _converting(option.type)
            del kw["type"]
    parser.add_argument(option.option, **kw)


class _AnyCase(tuple):
    """Choices matched in any capitalisation (``reml`` is ``REML``), so that argparse names an
    invalid value as it was typed."""

    def __new__(cls, choices, convert):
        out = super().__new__(cls, choices)
        out.convert = convert
        return out

    def __contains__(self, value) -> bool:
        return tuple.__contains__(self, self.convert(value) if isinstance(value, str) else value)


def _converting(convert):
    """An argparse action storing the checked value converted (``reml`` -> ``REML``)."""

    class Store(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            setattr(namespace, self.dest, convert(values))

    return Store


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (``prog: error: ...``), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def nonnegative_int(text: str) -> int:
    """argparse type: a whole number >= 0 (seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _options(parser: argparse.ArgumentParser, into: dict[str, str]) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _options(sub, into)
        elif action.option_strings:
            into.setdefault(action.dest, max(action.option_strings, key=len))
    return into


def option_message(parser: argparse.ArgumentParser | None, message: str) -> str:
    """A package argument check's message in the words of the command line.

    The analyses check their arguments with their Python names (``conf_level
    must be ...``, ``columns= maps ...``); a message that starts with the name of
    one of the command's options gets the option instead (``--conf-level must be
    ...``).
    """
    names = _options(parser, {}) if parser is not None else {}
    names.setdefault("columns", "--column")
    head, sep, rest = message.partition(" ")
    key = head.rstrip("=")
    if sep and key in names:
        return f"{names[key]} {rest}"
    return message
