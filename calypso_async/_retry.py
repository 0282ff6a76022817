"""When to retry and how long to wait: pure functions the session layer calls.

Retries use full-jitter exponential backoff (a random delay between zero and a capped
exponential), and honour ``Retry-After`` when the server sends it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import attrs

from ._errors import ConfigurationError

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy", "parse_retry_after", "retryable_by_default"]

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
"""Statuses that say "not now" rather than "no": safe to retry for a retryable call."""


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
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise ConfigurationError("max_retries must be an integer")
        if self.max_retries < 0:
            raise ConfigurationError("max_retries must be 0 or more")
        for name in ("backoff_base", "backoff_cap", "retry_after_cap"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigurationError(f"{name} must be a finite number of seconds, 0 or more")

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


# Paths that only read: safe to retry however often. The creates Calypso documents with
# an idempotencyKey are retried when they carry one; everything else (return-to-paid,
# close-intervention, other creates, unknown writes) is retried only when the request
# provably never left this process. A key in a payload the API does not document for
# that path would be ignored by the server (it must ignore unknown fields), not honoured.
_READ_PATHS = frozenset(
    {
        "/api/v1/invoice",
        "/api/v1/subscription/webhook",
        "/api/v1/account",
        "/api/v1/payout",
        "/api/v1/exchange/pairs",
        "/api/v1/exchange/pre-calculate",
        "/api/v1/exchange/average-rate",
        "/api/v1/exchange/get",
    }
)
_KEYED_CREATE_PATHS = frozenset(
    {
        "/api/v1/invoice/single/create",
        "/api/v1/invoice/single-fiat/create",
        "/api/v1/invoice/unlimited/create",
        "/api/v1/invoice/bound/create",
        "/api/v1/payout/create",
    }
)


def retryable_by_default(path: str, method: str, payload: Mapping[str, Any] | None) -> bool:
    """Whether a call may be repeated after it may have reached the server.

    Reads and deletes yes; the invoice and payout creates carrying an ``idempotencyKey``
    yes; anything else no (it is retried only when it provably never left).
    """
    if method == "DELETE" or path in _READ_PATHS:
        return True
    return path in _KEYED_CREATE_PATHS and bool(payload and payload.get("idempotencyKey"))
