"""``python -m alliance.cli``: the ``alliance`` command."""

from alliance.cli import main

raise SystemExit(main())
