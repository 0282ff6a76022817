"""Inbound webhooks: verify ``Sign`` over the raw bytes, then parse into a ``WebhookEvent``.

Pure and synchronous, so every web framework can call it; the aiohttp adapter
(``aiohttp.py`` beside it) is a thin shell around it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from .._core.json import loads
from .._core.signing import verify_signature
from .._errors import ConfigurationError, DecodeError, SignatureVerificationError, StaleEventError
from .._types import WebhookEvent, structure, structure_leniently

__all__ = ["check_max_age", "parse_event", "secret_keys"]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    # A plain dict is case-sensitive; HTTP header names are not.
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def secret_keys(secret_key: str | Sequence[str]) -> tuple[str, ...]:
    """One subscription secret or several (a rotation), checked: never empty."""
    keys = (secret_key,) if isinstance(secret_key, str) else tuple(secret_key)
    if not keys or not all(isinstance(key, str) and key for key in keys):
        raise ConfigurationError(
            "secret_key must be the subscription's non-empty secretKey, or a list of them"
        )
    return keys


def parse_event(
    body: bytes,
    headers: Mapping[str, str],
    secret_key: str | Sequence[str],
    *,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> WebhookEvent:
    """Verify a webhook delivery and parse it.

    Args:
        body: The request body exactly as received. Never a parsed or re-serialised
            object: the signature covers the bytes.
        headers: The request headers (any mapping; names are matched case-insensitively).
        secret_key: The ``secretKey`` of the webhook subscription (not the API secret),
            or several: during a rotation the delivery is genuine if any of them signed it.
        max_age: When given, refuse events whose ``createdDate`` is older than this.
            Off by default: Calypso retries a failed delivery for about 34 hours.
        now: The current time for ``max_age`` (UTC now by default). It must be
            timezone-aware: a naive ``datetime.now()`` is local time, and taking it for
            UTC would misjudge every event's age by the local offset.

    Returns:
        The verified event. Unknown event types and fields are kept, not refused.

    Raises:
        SignatureVerificationError: ``Sign`` is missing or wrong.
        StaleEventError: The event is genuine but older than ``max_age`` (or, with
            ``max_age``, carries no ``createdDate``): acknowledge it and drop it.
        DecodeError: The body is verified but is not a Calypso event.
        ConfigurationError: ``body`` is not bytes, a ``secret_key`` is empty, ``max_age``
            is not a positive ``timedelta`` or ``now`` is not a timezone-aware datetime.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ConfigurationError(
            "parse_event needs the raw request body as bytes, not a parsed or decoded object"
        )
    keys = secret_keys(secret_key)
    check_max_age(max_age)
    if now is not None and (not isinstance(now, datetime) or now.utcoffset() is None):
        raise ConfigurationError("now must be a timezone-aware datetime, such as datetime.now(UTC)")
    raw = bytes(body)
    signature = _header(headers, "Sign")
    if not signature:
        raise SignatureVerificationError("the webhook has no Sign header")
    # Every key is tried, so the time taken does not say which one matched.
    if not any([verify_signature(raw, signature, key) for key in keys]):
        raise SignatureVerificationError("the webhook's Sign does not match its body")
    try:
        data = loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError("the webhook body is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("eventType"), str):
        raise DecodeError("the webhook body is not a Calypso event (no eventType)")
    if data.get("data") is not None and not isinstance(data["data"], dict):
        raise DecodeError("the webhook event's data is not an object")
    try:
        event = structure(data, WebhookEvent)
    except DecodeError:
        # A genuine event with a field in a shape this SDK does not know (a number for
        # createdDate, say): refusing it would lose it once Calypso's retries run out.
        # Read what can be read; the rest is None, and the event as sent stays on raw.
        event = structure_leniently(data, WebhookEvent)
    if max_age is not None:
        _check_fresh(event, max_age, now)
    return event


def check_max_age(max_age: timedelta | None) -> None:
    """Refuse a ``max_age`` that is neither ``None`` nor a positive ``timedelta``."""
    if max_age is not None and (not isinstance(max_age, timedelta) or max_age <= timedelta(0)):
        raise ConfigurationError(
            "max_age must be a positive timedelta, such as timedelta(minutes=5), or None"
        )


def _check_fresh(event: WebhookEvent, max_age: timedelta, now: datetime | None) -> None:
    if event.created_date is None:
        raise StaleEventError("the webhook has no createdDate to check its age", event=event)
    created = event.created_date
    if created.utcoffset() is None:
        created = created.replace(tzinfo=UTC)  # Calypso's dates without a zone are UTC
    age = (now or datetime.now(UTC)) - created
    if age > max_age:
        raise StaleEventError(
            f"the webhook is older than the accepted {max_age.total_seconds():g} s",
            event=event,
        )
