"""JSON as money needs it: ``Decimal`` in, ``Decimal`` out, never a binary float.

The standard encoder cannot write a ``Decimal`` as a JSON number, so requests are
written by a small encoder of our own (payloads are small and flat); responses are read
by the standard decoder with ``parse_float=Decimal``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

__all__ = ["MAX_DEPTH", "dumps", "format_decimal", "loads"]

#: How deep an answer or event may nest. Calypso's nest a few levels; the limit is the
#: SDK's own so that a hostile body is refused alike on every Python (3.13's decoder
#: parses thousands of levels that 3.11's refuses) and nothing deeper reaches user code.
MAX_DEPTH = 128


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# json.loads builds a new decoder on every call that passes options; this one is reused.
_decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant)


def loads(text: str | bytes | bytearray) -> Any:
    """Parse JSON text or bytes, reading every non-integer number as a ``Decimal``.

    ``NaN`` and ``Infinity`` (which Python's decoder accepts by default) are refused.
    Bytes are decoded as ``json.loads`` decodes them (UTF-8, -16 or -32, detected).
    """
    if isinstance(text, (bytes, bytearray)):
        # "{" then a non-zero byte is UTF-8 to detect_encoding too: skip it for answers.
        utf8_object = text[:1] == b"{" and text[1:2] != b"\x00"
        encoding = "utf-8" if utf8_object else json.detect_encoding(text)
        text = text.decode(encoding, "surrogatepass")
    elif isinstance(text, str) and text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    try:
        value = _decoder.decode(text)
    except RecursionError:
        # Hostile nesting must end as the documented ValueError, not a RecursionError.
        raise ValueError("JSON nested too deeply") from None
    # Fewer brackets than the limit cannot nest past it: the walk is for the rare body.
    if text.count("[") + text.count("{") > MAX_DEPTH and _nested_deeper_than(value, MAX_DEPTH):
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def _nested_deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def format_decimal(value: Decimal) -> str:
    """Write a finite ``Decimal`` in plain notation with every digit it carries."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite amount")
    return format(value, "f")


def _encode(value: Any, out: list[str]) -> None:
    # Order matters: bool is an int, and str is checked first because it is the commonest.
    if isinstance(value, str):
        out.append(encode_basestring_ascii(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, Decimal):
        out.append(format_decimal(value))
    elif isinstance(value, Mapping):
        out.append("{")
        first = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
            if not first:
                out.append(",")
            first = False
            out.append(encode_basestring_ascii(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, float):
        raise TypeError("refusing to write a float: pass money as Decimal or str")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    """Serialise ``value`` as compact JSON bytes (no spaces, ASCII-only).

    ``Decimal`` values are written as JSON numbers in plain notation with every digit;
    a ``float`` is refused so that no amount ever passes through binary.
    """
    out: list[str] = []
    try:
        _encode(value, out)
    except RecursionError:
        raise ValueError("value nested too deeply to write as JSON") from None
    return "".join(out).encode("ascii")
