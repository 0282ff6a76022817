"""Retry policy: full-jitter backoff bounded by its cap, Retry-After honoured and capped."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from calypso_async import ConfigurationError, RetryPolicy
from calypso_async._core.retry import RETRYABLE_STATUSES, parse_retry_after

NOW = 1_700_000_000.0


def test_only_not_now_statuses_are_retryable() -> None:
    """429 and the proxy 502/503/504 are retryable; 500 and 4xx are not."""
    assert frozenset({429, 502, 503, 504}) == RETRYABLE_STATUSES
    assert 500 not in RETRYABLE_STATUSES


def test_backoff_window_doubles_from_the_base() -> None:
    """At the top of the jitter range the delays are base, 2*base, 4*base..."""
    policy = RetryPolicy(backoff_base=0.25, backoff_cap=100.0)
    assert [policy.backoff(n, rand=lambda: 1.0) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 2.0]


def test_backoff_is_full_jitter_between_zero_and_the_window() -> None:
    """The delay is the window times the random draw: 0 at 0, half at 0.5."""
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=100.0)
    assert policy.backoff(3, rand=lambda: 0.0) == 0.0
    assert policy.backoff(3, rand=lambda: 0.5) == 2.0


@pytest.mark.parametrize("retry_number", [1, 5, 10, 60, 200])
def test_backoff_never_exceeds_the_cap(retry_number: int) -> None:
    """However many retries, no delay is longer than backoff_cap."""
    policy = RetryPolicy(backoff_base=0.25, backoff_cap=4.0)
    delay = policy.backoff(retry_number, rand=lambda: 0.999999)
    assert 0.0 <= delay <= 4.0


def test_delay_prefers_retry_after_over_backoff() -> None:
    """When the server says how long, that is the wait (no jitter)."""
    policy = RetryPolicy()
    assert policy.delay(1, 3.0, rand=lambda: 0.0) == 3.0


def test_delay_caps_retry_after() -> None:
    """A Retry-After beyond retry_after_cap is shortened to the cap; negative is zero."""
    policy = RetryPolicy(retry_after_cap=20.0)
    assert policy.delay(1, 3600.0) == 20.0
    assert policy.delay(1, -5.0) == 0.0


def test_delay_without_retry_after_is_the_backoff() -> None:
    """No Retry-After: the jittered backoff for that retry number."""
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=4.0)
    assert policy.delay(2, None, rand=lambda: 0.5) == 0.5


def test_retry_after_seconds() -> None:
    """delay-seconds is read as seconds."""
    assert parse_retry_after("3", NOW) == 3.0
    assert parse_retry_after(" 120 ", NOW) == 120.0


def test_retry_after_http_date_is_seconds_from_now() -> None:
    """An HTTP date becomes the seconds between now and then."""
    assert parse_retry_after(formatdate(NOW + 7, usegmt=True), NOW) == 7.0


def test_retry_after_in_the_past_is_zero() -> None:
    """A date already gone means: retry now."""
    assert parse_retry_after(formatdate(NOW - 60, usegmt=True), NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-3", "1.5", "Mon, 99 Foo 2023"])
def test_unreadable_retry_after_is_ignored(value: str | None) -> None:
    """Anything unreadable is None, so the normal backoff applies."""
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize(
    "settings",
    [
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"max_retries": True},
        {"backoff_base": -0.1},
        {"backoff_cap": float("inf")},
        {"retry_after_cap": float("nan")},
        {"retry_after_cap": "20"},
    ],
    ids=repr,
)
def test_a_nonsense_retry_policy_is_refused(settings: dict[str, object]) -> None:
    """Negative, infinite or non-numeric settings fail when the policy is made."""
    with pytest.raises(ConfigurationError):
        RetryPolicy(**settings)  # type: ignore[arg-type]
