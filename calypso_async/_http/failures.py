"""How a failed attempt becomes a typed error, and whether the retry loop may retry it.

A timeout, a lost connection or a "not now" status (429, 502, 503, 504) is wrapped in
:class:`Retryable` for the session's loop, which retries it only when the call may be
repeated (or the request provably never left); a TLS failure is never retried.
"""

from __future__ import annotations

from .._errors import CalypsoConnectionError, CalypsoError, CalypsoTimeoutError
from .aiohttp import frameless
from .transport import AnswerLost, NotSent, TLSFailed

__all__ = ["Retryable", "attempt_failed", "no_free_connection", "too_late"]


class Retryable(Exception):
    """Carries an error the retry loop may retry; ``safe_anyway`` when nothing was sent."""

    def __init__(
        self, error: CalypsoError, cause: BaseException | None, *, safe_anyway: bool = False
    ):
        super().__init__(error)
        error.__cause__ = None if cause is None else frameless(cause)
        self.error = error
        self.safe_anyway = safe_anyway


def attempt_failed(
    path: str, failure: TimeoutError | TLSFailed | NotSent | AnswerLost, timeout: float
) -> Exception:
    """The error for an attempt the transport (or its timeout) ended without an answer."""
    if isinstance(failure, TLSFailed):
        error = CalypsoConnectionError(f"{path}: TLS failed: {failure}", path=path)
        error.__cause__ = failure.__cause__
        return error
    if isinstance(failure, NotSent):
        # The connection was never made, so the request never left: always safe.
        return Retryable(
            CalypsoConnectionError(f"{path}: cannot connect: {failure}", path=path),
            failure.__cause__,
            safe_anyway=True,
        )
    if isinstance(failure, AnswerLost):
        lost = CalypsoConnectionError(
            f"{path}: connection lost before the answer ({failure})", path=path
        )
        return Retryable(lost, failure.__cause__)
    late = CalypsoTimeoutError(f"{path}: no answer within {timeout:g} s", path=path)
    return Retryable(late, failure)


def no_free_connection(path: str, deadline: float) -> CalypsoTimeoutError:
    """Nothing was sent: the deadline ran out in the line for a connection."""
    error = CalypsoTimeoutError(
        f"{path}: the {deadline:g} s deadline ran out waiting for a free "
        "connection, nothing sent (raise connection_limit, or make fewer calls at once)",
        path=path,
    )
    error.request_sent = False
    return error


def check_time_left(
    path: str, now: float, deadline_at: float, send_by: float | None, min_attempt: float
) -> None:
    """Refuse to send an attempt with less than ``min_attempt`` left (nothing is sent).

    Raises:
        CalypsoTimeoutError: ``send_by`` or the call's deadline is past or too close,
            with ``request_sent`` ``False``.
    """
    if send_by is not None and send_by - now < min_attempt:
        raise too_late(path)
    if deadline_at - now < min_attempt:
        error = CalypsoTimeoutError(
            f"{path}: the call's deadline ran out before the request was sent (an event "
            "hook took the time left?); nothing left this process",
            path=path,
        )
        error.request_sent = False
        raise error


def too_late(path: str) -> CalypsoTimeoutError:
    """Nothing was sent: at a free connection, ``send_by`` was past or too close."""
    error = CalypsoTimeoutError(
        f"{path}: not sent: its send-by time had passed or was too close for an attempt "
        "(nothing left this process)",
        path=path,
    )
    error.request_sent = False
    return error
