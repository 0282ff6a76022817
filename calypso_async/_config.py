"""Validation of client settings, done before any I/O, with messages that hold no secret."""

from __future__ import annotations

import ipaddress
import math
from urllib.parse import urlsplit

from ._errors import ConfigurationError

__all__ = [
    "DEFAULT_BASE_URL",
    "check_base_url",
    "check_credential",
    "check_seconds",
]

DEFAULT_BASE_URL = "https://api.calypso.finance"
"""The production API; ``https://api.calypso.money`` serves the same API."""


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> str:
    """Return ``base_url`` without a trailing slash, or raise :class:`ConfigurationError`.

    Only ``https`` is accepted, except plain ``http`` to a loopback address (a local fake
    server): TLS is never optional on a real network.
    """
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigurationError("base_url must be a non-empty URL string")
    try:
        parts = urlsplit(base_url.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - reading it validates the port
    except ValueError as exc:
        raise ConfigurationError(f"base_url is not a valid URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError("base_url must look like https://host[:port]")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("base_url must not carry credentials")
    if parts.query or parts.fragment:
        raise ConfigurationError("base_url must not carry a query or a fragment")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigurationError(
            "base_url must use https: plain http is accepted only for a loopback address "
            "(127.0.0.1, ::1 or localhost), such as an embedded FakeCalypso"
        )
    return base_url.strip().rstrip("/")


def check_credential(name: str, value: object) -> str:
    """Return ``value`` if it is usable as a credential or header value, else raise.

    The message names the setting, never its value.
    """
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty string")
    if value != value.strip() or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        raise ConfigurationError(f"{name} must not contain whitespace or control characters")
    return value


def check_seconds(name: str, value: object) -> float:
    """Return ``value`` as a positive finite number of seconds, or raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number of seconds")
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive, finite number of seconds")
    return float(value)
