"""Logs on stderr for a program that set up none: the ``CALYPSO_LOG`` switch and ``-v``.

``CALYPSO_LOG=debug`` (or ``info``, ``warning``) in the environment, read once when
``calypso_async`` is imported, shows the SDK's records on stderr, as ``OPENAI_LOG`` and
``STRIPE_LOG`` do for their SDKs. The handler stands aside while the root logger has
handlers of its own, so a program that sets up logging itself, before or after the
import, gets each record once, through its own handlers and format.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

__all__ = ["LEVELS", "from_environment", "log_on_stderr"]

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _UntilConfigured(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr, for as long as the program's root logger has no handler of its own."""

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)


def log_on_stderr(level: int) -> None:
    """Show ``calypso_async`` records from ``level`` up on stderr."""
    sdk = logging.getLogger("calypso_async")
    sdk.setLevel(level)
    if not any(isinstance(handler, _UntilConfigured) for handler in sdk.handlers):
        handler = _UntilConfigured()
        handler.setFormatter(logging.Formatter(FORMAT))
        sdk.addHandler(handler)


def from_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Apply ``CALYPSO_LOG``, if set; an unknown value is said on stderr, not ignored."""
    value = environ.get("CALYPSO_LOG", "").strip().lower()
    if not value:
        return
    level = LEVELS.get(value)
    if level is None:
        log_on_stderr(logging.WARNING)
        logging.getLogger("calypso_async").warning(
            "CALYPSO_LOG=%r is not one of %s; ignored", value, ", ".join(LEVELS)
        )
        return
    log_on_stderr(level)
