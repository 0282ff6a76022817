"""The base of every resource namespace: payload in, model out, retry safety declared.

A resource is a list of methods; each validates its arguments, builds the payload (wire
names) and calls one of the three helpers below, which say how the call may be repeated:
a read, an idempotent create carrying its key, or a write that is never replayed. The
session does the rest (envelope, signing, retries); resources never build envelopes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._core.retry import Replay
from .._errors import CalypsoError
from .._types import structure

if TYPE_CHECKING:
    from .._http import CalypsoSession
    from .._settings import Runtime

__all__ = ["Resource"]

T = TypeVar("T")


def compact(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload without its ``None`` values (optional fields left out)."""
    return {key: value for key, value in payload.items() if value is not None}


class Resource:
    """A namespace of API operations on the client (``client.invoices``, ...).

    Args:
        session: The session the calls go through.
        runtime: Where waits and jitter come from (the client's runtime).
    """

    def __init__(self, session: CalypsoSession, runtime: Runtime) -> None:
        self._session = session
        self._runtime = runtime

    async def _read(self, path: str, payload: Mapping[str, Any] | None, model: type[T]) -> T:
        """A call that changes nothing: repeated freely after any retryable failure."""
        data = await self._session.call(path, payload, retry=Replay.SAFE)
        return structure(data, model, path=path)

    async def _create(self, path: str, payload: dict[str, Any], model: type[T]) -> T:
        """A create keyed by ``idempotencyKey``: every attempt carries the same key.

        The key (the caller's, or a UUID4 made here, before the first attempt) lets the
        server answer a repeat with what it already made, so a retry never makes two.
        After a failure the error carries it (``error.idempotency_key``), to look the
        object up or to create it again without a duplicate.
        """
        if payload.get("idempotencyKey") is None:
            payload["idempotencyKey"] = str(uuid.uuid4())
        try:
            data = await self._session.call(path, compact(payload), retry=Replay.SAFE)
            return structure(data, model, path=path)
        except CalypsoError as exc:
            exc.idempotency_key = payload["idempotencyKey"]
            raise

    async def _write(
        self,
        path: str,
        payload: Mapping[str, Any],
        model: type[T],
        *,
        send_by: float | None = None,
    ) -> T:
        """A state-changing call with no key: never sent again once it may have landed.

        After a lost or ambiguous answer, only a read of the object tells whether it
        took effect; that is the caller's to do (the resolver does). ``send_by`` is the
        latest time (client clock) it may leave (see ``CalypsoSession.call``).
        """
        data = await self._session.call(path, payload, retry=Replay.NEVER, send_by=send_by)
        return structure(data, model, path=path)
