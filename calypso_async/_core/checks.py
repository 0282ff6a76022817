"""Checks of what callers pass, made before any I/O, with messages that hold no secret.

Settings (seconds, counts, the base URL, credentials) and resource arguments alike. Every
refusal is a :class:`ConfigurationError` naming the argument, never its value when the
value may be a secret.

Amounts: ``Decimal``, ``int`` and numeric ``str`` are taken as they are. A ``float`` is
refused, as the type hints say: binary floats are not exact (``0.1 + 0.2`` is
``0.30000000000000004``), and a payment SDK should not guess which amount was meant.
``bool``, NaN, infinities and non-positive amounts are refused too.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import TypeVar
from urllib.parse import urlsplit

from .._errors import ConfigurationError

__all__ = [
    "amount",
    "base_url",
    "credential",
    "enum_values",
    "identifier",
    "integer",
    "is_loopback",
    "optional_bool",
    "optional_identifier",
    "optional_text",
    "optional_timestamp",
    "optional_url",
    "seconds",
    "text",
    "url",
]

E = TypeVar("E", bound=Enum)

_DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")

# Far beyond any real amount (crypto goes to 18 decimals), yet small enough that an
# amount such as Decimal("1e-5000000") cannot turn into a five-megabyte request body.
_MAX_DIGITS = 60
_MAX_MAGNITUDE = 40


def amount(name: str, value: object) -> Decimal:
    """Return ``value`` as a positive, finite ``Decimal``."""
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a number, not a bool")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        raise ConfigurationError(
            f"{name} must be a Decimal, int or numeric str, not a float (binary floats are "
            f"not exact): write Decimal({str(value)!r}) or {str(value)!r}"
        )
    elif isinstance(value, str):
        # Decimal() also takes "1_000" and non-ASCII digits; an amount should not.
        if not _DECIMAL_TEXT.fullmatch(value.strip()):
            raise ConfigurationError(f"{name} must be a decimal number, got {value!r}")
        result = Decimal(value.strip())
    else:
        raise ConfigurationError(
            f"{name} must be a Decimal, int or numeric str, not {type(value).__name__}"
        )
    if not result.is_finite():
        raise ConfigurationError(f"{name} must be finite, got {value!r}")
    if result <= 0:
        raise ConfigurationError(f"{name} must be greater than zero, got {value!r}")
    if len(result.as_tuple().digits) > _MAX_DIGITS or abs(result.adjusted()) > _MAX_MAGNITUDE:
        raise ConfigurationError(
            f"{name} is out of range: at most {_MAX_DIGITS} digits, "
            f"between 1e-{_MAX_MAGNITUDE} and 1e{_MAX_MAGNITUDE}"
        )
    return result


def text(name: str, value: object, *, max_length: int = 1024) -> str:
    """Return ``value`` if it is a string with visible content, else raise."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ConfigurationError(f"{name} must not be empty")
    if len(value) > max_length:
        raise ConfigurationError(f"{name} is longer than {max_length} characters")
    return value


def optional_text(name: str, value: object, *, max_length: int = 1024) -> str | None:
    """Like :func:`text`, but ``None`` passes through."""
    return None if value is None else text(name, value, max_length=max_length)


def identifier(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty string without whitespace, else raise."""
    result = text(name, value, max_length=256)
    # split() breaks on exactly what str.isspace() calls whitespace, without a Python loop.
    if result.split() != [result]:
        raise ConfigurationError(f"{name} must not contain whitespace")
    return result


def optional_identifier(name: str, value: object) -> str | None:
    """Like :func:`identifier`, but ``None`` passes through."""
    return None if value is None else identifier(name, value)


def url(name: str, value: object) -> str:
    """Return ``value`` if it is an absolute http(s) URL, else raise."""
    result = text(name, value, max_length=2048)
    try:
        parts = urlsplit(result)
    except ValueError:
        raise ConfigurationError(f"{name} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{name} must be an absolute http(s) URL")
    return result


def optional_url(name: str, value: object) -> str | None:
    """Like :func:`url`, but ``None`` passes through."""
    return None if value is None else url(name, value)


def optional_bool(name: str, value: object) -> bool | None:
    """Return ``value`` if it is a bool or ``None``, else raise."""
    if value is None or isinstance(value, bool):
        return value
    raise ConfigurationError(f"{name} must be True, False or None")


def optional_timestamp(name: str, value: object) -> str | None:
    """Return an aware ``datetime`` as the API writes dates (UTC, no zone), or ``None``."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ConfigurationError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def enum_values(name: str, values: object, enum_cls: type[E]) -> list[str]:
    """Return the wire strings of an iterable of enum members or strings, else raise."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigurationError(f"{name} must be a list of {enum_cls.__name__} values")
    result: list[str] = []
    for item in values:
        if isinstance(item, enum_cls):
            result.append(str(item.value))
        elif isinstance(item, str) and item.strip():
            result.append(item)
        else:
            raise ConfigurationError(f"{name} must hold {enum_cls.__name__} values, got {item!r}")
    return result


# -- settings ---------------------------------------------------------------------------


def integer(name: str, value: object, *, least: int = 0, most: int | None = None) -> int:
    """Return ``value`` if it is an ``int`` (not a ``bool``) in ``[least, most]``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{name} must be an integer")
    if value < least or (most is not None and value > most):
        bounds = f"from {least} to {most}" if most is not None else f"of at least {least}"
        raise ConfigurationError(f"{name} must be an integer {bounds}")
    return value


def seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite number of seconds, positive (or 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number of seconds")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        if allow_zero:
            raise ConfigurationError(f"{name} must be a finite number of seconds, 0 or more")
        raise ConfigurationError(f"{name} must be a positive, finite number of seconds")
    return float(value)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url(value: object) -> str:
    """Return the base URL ``value`` without a trailing slash, or raise :class:`ConfigurationError`.

    Only ``https`` is accepted, except plain ``http`` to a loopback address (a local fake
    server): TLS is never optional on a real network.
    """
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError("base_url must be a non-empty URL string")
    try:
        parts = urlsplit(value.strip())
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
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigurationError(
            "base_url must use https: plain http is accepted only for a loopback address "
            "(127.0.0.1, ::1 or localhost), such as an embedded FakeCalypso"
        )
    return value.strip().rstrip("/")


def credential(name: str, value: object) -> str:
    """Return ``value`` if it is usable as a credential or header value, else raise.

    The message names the setting, never its value.
    """
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty string")
    if value != value.strip() or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        raise ConfigurationError(f"{name} must not contain whitespace or control characters")
    return value
