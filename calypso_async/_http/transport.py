"""The seam under the session: one attempt in (method, path, bytes, headers), an answer out.

Everything above this seam is plain Python and testable without a network; the only
implementation, :class:`~calypso_async._http.aiohttp.AiohttpTransport`, is the one place
that imports aiohttp's client. Failures cross the seam as the three exceptions below,
already stripped of the HTTP library's frames (which hold the signed headers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = ["Answer", "AnswerLost", "NotSent", "TLSFailed", "Transport"]


class Answer:
    """What the server answered: status, headers and the whole body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class NotSent(Exception):
    """No connection was made, so the request never left: safe to send again."""


class TLSFailed(Exception):
    """The TLS handshake failed (a certificate that does not verify, say)."""


class AnswerLost(Exception):
    """The connection broke after the request may have been sent, before the answer."""


class Transport(Protocol):
    """Sends one attempt and reads its whole answer."""

    @property
    def connection_limit(self) -> int:
        """Connections it opens at once at most (0: no limit of its own)."""
        ...

    def open(self) -> None:
        """Make ready to send, inside the running loop (raises ``LifecycleError``)."""
        ...

    async def send(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """Send ``body`` to ``path`` and return the answer; never follows a redirect.

        Raises:
            NotSent: Nothing left this process.
            TLSFailed: The TLS handshake failed.
            AnswerLost: The connection broke before the answer was read.
        """
        ...

    async def aclose(self) -> None:
        """Close what the transport opened (never what it borrowed); idempotent."""
        ...
