"""The data layer: schema, the one validation path, lags, summaries and the example data.

Everything that enters the package is read and checked here
(:func:`read_sessions` for session data, :func:`read_table` for any long table);
the analyses trust what comes out.
"""

from __future__ import annotations

from alliance.data.example import example_path, load_example, write_sessions
from alliance.data.lags import lag, lag_name, split_within_between
from alliance.data.validate import read_sessions, read_table

__all__ = ["example_path", "lag", "lag_name", "load_example", "read_sessions", "read_table",
           "split_within_between", "write_sessions"]
