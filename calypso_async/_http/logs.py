"""The ``calypso_async.http`` log lines, each with structured ``extra`` fields.

Each answer at DEBUG, each retry at INFO, and a failure the caller should know about at
WARNING.
"""

from __future__ import annotations

import logging
from typing import Any

from .._errors import CalypsoConnectionError, CalypsoError, CalypsoTimeoutError, ServerError

__all__ = ["answer", "final", "logger", "retrying"]

logger = logging.getLogger("calypso_async.http")

# A write never repeated that ended with one of these may have been carried out.
_ANSWER_LOST = (CalypsoConnectionError, CalypsoTimeoutError, ServerError)


def _fields(path: str, attempt: int, error: BaseException) -> dict[str, Any]:
    return {
        "calypso_path": path,
        "calypso_attempt": attempt,
        "calypso_status": getattr(error, "status", None),
        "calypso_trace_id": getattr(error, "trace_id", None),
    }


def answer(
    method: str, path: str, attempt: int, status: int, took_ms: float, trace_id: str | None
) -> None:
    """An attempt's answer, at DEBUG."""
    logger.debug(
        "%s %s -> %d in %.1f ms",
        method,
        path,
        status,
        took_ms,
        extra={
            "calypso_path": path,
            "calypso_status": status,
            "calypso_attempt": attempt,
            "calypso_duration_ms": round(took_ms, 3),
            "calypso_trace_id": trace_id,
        },
    )


def retrying(method: str, path: str, attempt: int, delay: float, error: BaseException) -> None:
    """A failed attempt that will be sent again, at INFO: retrying is routine."""
    logger.info(
        "retrying %s %s in %.2f s (attempt %d failed: %s)",
        method,
        path,
        delay,
        attempt,
        type(error).__name__,
        extra=_fields(path, attempt, error),
    )


def final(method: str, path: str, attempt: int, error: CalypsoError, unsent: bool) -> None:
    """Log a failure the caller gets, if it matters.

    At WARNING when retries ran out, or when a write that is never repeated may have
    reached the server (its answer was lost).
    """
    if attempt > 1:
        message = "%s %s failed after %d attempts: %s"
    elif isinstance(error, _ANSWER_LOST) and not unsent and error.request_sent is not False:
        message = "%s %s: no answer to attempt %d (%s); the server may have acted on it"
    else:
        return
    if logger.isEnabledFor(logging.WARNING):
        logger.warning(
            message,
            method,
            path,
            attempt,
            type(error).__name__,
            extra=_fields(path, attempt, error),
        )
