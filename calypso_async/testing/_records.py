"""What the fake remembers for tests to inspect: API calls received, webhooks sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._errors import ConfigurationError, ErrorCode

__all__ = [
    "Delivery",
    "FakeCalypsoError",
    "RecordedCall",
    "WrongType",
    "bad_request",
    "not_found",
]


class WrongType(ConfigurationError, TypeError):
    """A FakeCalypso argument of the wrong type.

    A ``ConfigurationError``, and a ``TypeError`` as Python's own would be.
    """


class FakeCalypsoError(Exception):
    """A request or a simulation step the fake refuses.

    Raised in Python by :meth:`FakeCalypso.pay`, :meth:`FakeCalypso.settle` and friends;
    the server sends the same refusals as Calypso error bodies.

    Attributes:
        status: The HTTP status the server answers with.
        error_code: The ``errorCode`` of the error body: one of Calypso's published
            codes (``"004"`` not found, ``"006"`` wrong invoice state, ...; see
            :class:`~calypso_async.ErrorCode`), the fake's detail being in ``message``.
        message: The ``message`` of the error body.
    """

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = str(error_code)  # an ErrorCode member counts as its value
        self.message = message


def bad_request(message: str) -> FakeCalypsoError:
    """A 400 with Calypso's published ``"001"`` (bad request); ``message`` says why."""
    return FakeCalypsoError(400, ErrorCode.BAD_REQUEST, message)


def not_found(message: str) -> FakeCalypsoError:
    """A 404 with Calypso's published ``"004"`` (not found)."""
    return FakeCalypsoError(404, ErrorCode.NOT_FOUND, message)


@attrs.define
class RecordedCall:
    """One API request the fake received, in arrival order.

    Attributes:
        path: The request path, such as ``"/api/v1/invoice/return-to-paid"``.
        method: ``"POST"`` or ``"DELETE"`` (or whatever the client sent).
        payload: The envelope's ``payload`` object, or ``None`` when the body had none
            or was not JSON.
        status: The status answered, or ``None`` while in progress or when the
            connection was dropped instead.
        headers: The request headers, case-insensitive (``Key`` and ``Sign`` included).
        body: The raw request body.
        error_code: The ``errorCode`` answered, for a refused request.
        dropped: Whether the connection was closed instead of answering.
        processed_status: The status the fake's own processing produced, before an
            injected fault replaced the answer; ``None`` when a fault struck before the
            call was processed. Tells a lost success (``200``, yet ``status`` is not)
            from a call that never took effect, and a write sent in the wrong state
            (``400``) from one the server carried out.
        processed_error_code: The ``errorCode`` of that processing, for a refusal.
        at: When it arrived: the local clock (``time.time()``), to measure rates as
            the server sees them.
    """

    path: str
    method: str
    payload: Mapping[str, Any] | None
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=False)
    status: int | None = None
    error_code: str | None = None
    dropped: bool = False
    processed_status: int | None = None
    processed_error_code: str | None = None
    at: float = 0.0


@attrs.define
class Delivery:
    """One attempt to deliver a webhook event to a subscription's URL.

    Attributes:
        url: Where the event was POSTed.
        event: The event as a JSON dict (``requestId``, ``id``, ``eventType``, ``data``...).
        body: The exact bytes sent (``Sign`` covers these).
        headers: The headers sent: ``Key``, ``Sign``, ``Content-Type``.
        status: The receiver's HTTP status, or ``None`` when it could not be reached.
        error: Why the attempt failed (connection error, timeout, non-2xx), or ``None``.
        attempt: 1 for the first attempt at this copy of the event, 2 for its first
            retry, and so on.
        request_id: The subscription's ``requestId``.
    """

    url: str
    event: Mapping[str, Any]
    body: bytes = attrs.field(repr=False)
    headers: Mapping[str, str] = attrs.field(repr=False)
    status: int | None = None
    error: str | None = None
    attempt: int = 1
    request_id: str = ""

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 200: for Calypso no other status counts."""
        return self.status == 200
