"""``python -m calypso_async``: the ``calypso-async`` command line."""

from ._cli import main

raise SystemExit(main())
