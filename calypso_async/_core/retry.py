"""When a call may be sent again, and how long to wait: pure, for the session layer.

Whether a call may be repeated is the caller's to say (:class:`Replay`): each resource
declares it where it makes the call, so the session holds no table of paths. Retries use
full-jitter exponential backoff (a random delay between zero and a capped exponential),
and honour ``Retry-After`` when the server sends it.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import attrs

from . import checks

__all__ = ["RETRYABLE_STATUSES", "Replay", "RetryPolicy", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
"""Statuses that say "not now" rather than "no": safe to retry for a retryable call."""


class Replay(enum.Enum):
    """Whether a call may be sent again after an attempt that may have reached the server.

    A call that provably never left (no connection was made, or the server refused its
    timestamp) is always sent again, whatever it is: nothing acted on it.
    """

    SAFE = "safe"
    """Repeat freely: a read, or a create carrying an idempotency key the server keys on."""
    DELETE = "delete"
    """Repeat freely; a ``404`` after an attempt that may have acted means that one did."""
    NEVER = "never"
    """A state-changing write: after an ambiguous failure the caller re-reads instead."""

    @classmethod
    def of(cls, retry: bool | Replay | None, method: str) -> Replay:
        """What ``CalypsoSession.call(retry=...)`` means for a call with ``method``.

        ``None`` is :attr:`NEVER` for ``POST`` and :attr:`DELETE` for ``DELETE``; a true
        value is :attr:`SAFE` (:attr:`DELETE` for a ``DELETE``), a false one
        :attr:`NEVER`.
        """
        if isinstance(retry, Replay):
            return retry
        if retry is None:
            return cls.DELETE if method == "DELETE" else cls.NEVER
        if retry:
            return cls.DELETE if method == "DELETE" else cls.SAFE
        return cls.NEVER


@attrs.frozen
class RetryPolicy:
    """How many times to retry and how long to wait between attempts.

    Attributes:
        max_retries: Retries after the first attempt (``2`` means three attempts; ``0``
            disables retrying).
        backoff_base: Seconds; the jitter window of the first retry.
        backoff_cap: Seconds; no backoff window grows beyond this.
        retry_after_cap: Seconds; a ``Retry-After`` longer than this is shortened to it.
    """

    max_retries: int = 2
    backoff_base: float = 0.25
    backoff_cap: float = 4.0
    retry_after_cap: float = 20.0

    def __attrs_post_init__(self) -> None:
        checks.integer("max_retries", self.max_retries)
        for name in ("backoff_base", "backoff_cap", "retry_after_cap"):
            checks.seconds(name, getattr(self, name), allow_zero=True)

    def backoff(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Return the full-jitter delay before retry ``retry_number`` (counted from 1)."""
        window = min(self.backoff_cap, self.backoff_base * 2.0 ** (retry_number - 1))
        return window * rand()

    def delay(
        self,
        retry_number: int,
        retry_after: float | None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Return how long to wait: the server's ``Retry-After`` (capped) or the backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        return self.backoff(retry_number, rand)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Read a ``Retry-After`` header as seconds from ``now`` (a Unix time).

    Args:
        value: The header: delay-seconds (``"3"``) or an HTTP date.
        now: The current Unix time, to turn a date into a delay.

    Returns:
        Seconds to wait (never negative), or ``None`` for a missing or unreadable header.
    """
    if not value:
        return None
    value = value.strip()
    # delay-seconds is ASCII digits; str.isdigit() also takes "²", which float() refuses.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - now, 0.0)
