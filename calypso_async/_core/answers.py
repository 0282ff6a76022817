"""Reading answers: a 2xx body into JSON, anything else into a typed ``APIError``.

Pure functions of the status, headers and bytes received (no I/O), so every mapping is
tested without a network and the session layer stays a thin shell around them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import APIError, DecodeError, ErrorCode, error_class_for_status
from .json import loads
from .retry import parse_retry_after

__all__ = ["AUTH_HINT", "CLOCK_HINT", "api_error", "decode_success", "is_timestamp_rejection"]

CLOCK_HINT = (
    "check the system clock: the server rejected the request timestamp "
    "(it accepts 3 minutes either way of its own time)"
)
AUTH_HINT = (
    "check api_key, secret_key and account: the key, the signature or the account was refused"
)


def is_timestamp_rejection(status: int, error_code: str | None, message: str) -> bool:
    """Whether an error answer says the request's timestamp was refused."""
    # 011 is the published code; the words catch a proxy's or an older server's answer.
    if error_code == ErrorCode.INVALID_TIMESTAMP.value:
        return True
    return status in (400, 401, 403) and "timestamp" in f"{error_code or ''} {message}".lower()


def decode_success(path: str, status: int, raw: bytes) -> Any:
    """Return the JSON of a 2xx answer (``None`` for an empty body), or raise DecodeError."""
    if not raw.strip():
        return None
    try:
        return loads(raw)
    except ValueError as exc:
        raise DecodeError(
            f"{path} answered {status} with a body that is not JSON", path=path, status=status
        ) from exc


def api_error(
    path: str, status: int, raw: bytes, headers: Mapping[str, str], now: float
) -> APIError:
    """Build the typed error for a non-2xx answer, whatever its body holds.

    Args:
        path: The API path that answered.
        status: The HTTP status.
        raw: The body; a Calypso error object, a proxy's HTML page, or nothing.
        headers: The response headers (``Retry-After`` is read).
        now: Unix seconds on the clock the request timestamps use, to turn an HTTP-date
            ``Retry-After`` (written in the server's time) into a delay.
    """
    error_code = trace_id = None
    message = ""
    try:
        data = loads(raw) if raw.strip() else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        error_code = _str_or_none(data.get("errorCode"))
        trace_id = _str_or_none(data.get("traceId"))
        message = _str_or_none(data.get("message")) or ""
    if not message:
        message = (
            "no error details in the body"
            if not raw.strip()
            else "the error body is not a Calypso error object"
        )
    return error_class_for_status(status)(
        status=status,
        message=message,
        path=path,
        error_code=error_code,
        trace_id=trace_id,
        retry_after=parse_retry_after(headers.get("Retry-After"), now),
        hint=_hint(status, error_code, message),
    )


def _hint(status: int, error_code: str | None, message: str) -> str | None:
    if is_timestamp_rejection(status, error_code, message):
        return CLOCK_HINT
    return AUTH_HINT if status in (401, 403) else None


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
