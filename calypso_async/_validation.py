"""Argument checks for the resource methods: clear errors before any request is sent.

Amounts: ``Decimal``, ``int`` and numeric ``str`` are taken as they are; a ``float`` is
converted through ``str()`` (its shortest repr, so ``10.234`` becomes ``Decimal("10.234")``,
never the binary ``10.2339999...``). ``bool``, NaN, infinities and non-positive amounts
are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import TypeVar
from urllib.parse import urlsplit

from ._errors import ConfigurationError

__all__ = [
    "amount",
    "enum_values",
    "identifier",
    "optional_bool",
    "optional_identifier",
    "optional_text",
    "optional_timestamp",
    "optional_url",
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
        result = Decimal(str(value))  # the shortest repr, never the binary expansion
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
