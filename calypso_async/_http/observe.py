"""What a call looks like from outside: request, response and retry events, and who hears them.

The session reports each attempt of a call to a :class:`CallObservation` when anyone
listens (event hooks, a telemetry observer, a ``client.capture()`` block), and
to nobody otherwise (a call then pays one lookup to find that out). Events carry
the request's headers with ``Key`` and ``Sign`` redacted, never a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Protocol, TypeAlias

import attrs

from .._errors import CalypsoError, ConfigurationError

__all__ = [
    "HOOK_NAMES",
    "CallObservation",
    "CallObserver",
    "Captured",
    "EventHooks",
    "Observer",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "capture",
    "observation",
]

logger = logging.getLogger("calypso_async.http")


@attrs.frozen
class RequestEvent:
    """An attempt about to be sent.

    Attributes:
        method: ``"POST"`` or ``"DELETE"``.
        path: The API path, such as ``"/api/v1/invoice"``.
        attempt: 1 for the first attempt, 2 for the first retry, ...
        headers: The request's headers, ``Key`` and ``Sign`` shown as ``***``.
        idempotency_key: The payload's ``idempotencyKey`` (or a subscription's
            ``requestId``), if it has one.
    """

    method: str
    path: str
    attempt: int
    headers: Mapping[str, str]
    idempotency_key: str | None


@attrs.frozen
class ResponseEvent:
    """An attempt that got an answer (any status).

    Attributes:
        method: ``"POST"`` or ``"DELETE"``.
        path: The API path.
        attempt: Which attempt this answered (1 for the first).
        status: The HTTP status.
        duration_ms: From sending the request to the last byte of the answer.
        headers: The response's headers (read-only; names match in any case).
        trace_id: Calypso's ``traceId`` from an error body, if it sent one.
        idempotency_key: As in :class:`RequestEvent`.
    """

    method: str
    path: str
    attempt: int
    status: int
    duration_ms: float
    headers: Mapping[str, str]
    trace_id: str | None
    idempotency_key: str | None


@attrs.frozen
class RetryEvent:
    """An attempt failed and the call will be sent again after ``delay`` seconds.

    Attributes:
        method: ``"POST"`` or ``"DELETE"``.
        path: The API path.
        attempt: The attempt that failed (the next one is ``attempt + 1``).
        delay: Seconds until the next attempt.
        error: Why the attempt failed (a typed SDK error: its ``status`` and
            ``trace_id`` where the server answered).
        idempotency_key: As in :class:`RequestEvent`.
    """

    method: str
    path: str
    attempt: int
    delay: float
    error: CalypsoError
    idempotency_key: str | None


Hook: TypeAlias = Callable[[Any], "Awaitable[None] | None"]
"""A plain or ``async`` callable taking one event."""

HOOK_NAMES = ("request", "response", "retry")


class CallObserver(Protocol):
    """One call as an observer follows it (a telemetry span, say)."""

    def request(self, event: RequestEvent) -> None:
        """An attempt is about to be sent."""

    def response(self, event: ResponseEvent) -> None:
        """An attempt got an answer."""

    def retry(self, event: RetryEvent) -> None:
        """An attempt failed and the call will be sent again."""

    def end(self, error: BaseException | None) -> None:
        """The call returned (``error`` is ``None``) or raised ``error``."""


class Observer(Protocol):
    """Starts following each call of a session."""

    def start(self, method: str, path: str) -> CallObserver:
        """A call begins."""


class EventHooks:
    """The user's ``event_hooks``: each event to each hook, in order.

    A hook that raises is logged on ``calypso_async.http`` and the call goes on.
    """

    def __init__(self, given: object) -> None:
        if given is not None and not isinstance(given, Mapping):
            raise ConfigurationError(
                'event_hooks must be a dict such as {"retry": [on_retry]}, '
                f"not {type(given).__name__}"
            )
        hooks: dict[str, Sequence[Hook]] = dict(given or {})
        unknown = sorted(set(hooks) - set(HOOK_NAMES))
        if unknown:
            raise ConfigurationError(
                f"event_hooks has no {unknown[0]!r} event; the events are: " + ", ".join(HOOK_NAMES)
            )
        for name, listed in hooks.items():
            if not isinstance(listed, list | tuple) or not all(callable(h) for h in listed):
                raise ConfigurationError(f"event_hooks[{name!r}] must be a list of callables")
        self.request = tuple(hooks.get("request", ()))
        self.response = tuple(hooks.get("response", ()))
        self.retry = tuple(hooks.get("retry", ()))

    def __bool__(self) -> bool:
        return bool(self.request or self.response or self.retry)

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={len(getattr(self, name))}" for name in HOOK_NAMES)
        return f"EventHooks({counts})"

    @staticmethod
    async def run(hooks: Sequence[Hook], event: Any) -> None:
        """Call every hook with ``event``; await the async ones."""
        for hook in hooks:
            try:
                result = hook(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception(
                    "an event hook (%s) raised on a %s event for %s; the call goes on",
                    getattr(hook, "__qualname__", type(hook).__name__),
                    type(event).__name__,
                    event.path,
                    extra={"calypso_path": event.path, "calypso_attempt": event.attempt},
                )


@attrs.define
class Captured:
    """The answers of the calls made inside a :func:`capture` block, in order.

    Attributes:
        responses: One :class:`ResponseEvent` per attempt that got an answer.
    """

    responses: list[ResponseEvent] = attrs.field(factory=list)
    task: asyncio.Task[Any] | None = attrs.field(default=None, repr=False)
    """The task whose calls are recorded: the one that entered the block."""

    @property
    def last(self) -> ResponseEvent:
        """The most recent answer: the one a successful call returned.

        Raises:
            LookupError: No call inside the block got an answer.
        """
        if not self.responses:
            raise LookupError("no call inside the capture block got an answer")
        return self.responses[-1]


_capturing: ContextVar[Captured | None] = ContextVar("calypso_capturing", default=None)


@contextlib.contextmanager
def capture() -> Iterator[Captured]:
    """Record the status and headers of every answer the calls inside the block get.

    The calls of the task that entered the block only: neither those of other tasks
    meanwhile nor those of tasks it starts inside the block (which inherit the block's
    context) are recorded.
    """
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop: no call could be made in the block anyway
        task = None
    captured = Captured(task=task)
    token = _capturing.set(captured)
    try:
        yield captured
    finally:
        _capturing.reset(token)


@contextlib.contextmanager
def _telemetry_fails_quietly(path: str) -> Iterator[None]:
    # An exporter's bug must not turn a call the server carried out into an error.
    try:
        yield
    except Exception:
        logger.exception("telemetry failed on a call to %s; the call goes on", path)


class CallObservation:
    """One call's listeners: the hooks, the observers and a capture block, if any."""

    __slots__ = ("_calls", "_capture", "_hooks", "idempotency_key", "method", "path")

    def __init__(
        self,
        method: str,
        path: str,
        idempotency_key: str | None,
        hooks: EventHooks | None,
        observers: Sequence[Observer],
        captured: Captured | None,
    ) -> None:
        self.method = method
        self.path = path
        self.idempotency_key = idempotency_key
        self._hooks = hooks
        self._capture = captured
        self._calls: list[CallObserver] = []
        for observer in observers:
            with _telemetry_fails_quietly(path):
                self._calls.append(observer.start(method, path))

    async def request(self, attempt: int, headers: Mapping[str, str]) -> None:
        """Report an attempt about to be sent (``headers`` already redacted)."""
        event = RequestEvent(self.method, self.path, attempt, headers, self.idempotency_key)
        for call in self._calls:
            with _telemetry_fails_quietly(self.path):
                call.request(event)
        if self._hooks is not None and self._hooks.request:
            await EventHooks.run(self._hooks.request, event)

    async def response(
        self,
        attempt: int,
        status: int,
        duration_ms: float,
        headers: Mapping[str, str],
        trace_id: str | None,
    ) -> None:
        """Report an attempt's answer."""
        event = ResponseEvent(
            self.method,
            self.path,
            attempt,
            status,
            duration_ms,
            headers,
            trace_id,
            self.idempotency_key,
        )
        if self._capture is not None:
            self._capture.responses.append(event)
        for call in self._calls:
            with _telemetry_fails_quietly(self.path):
                call.response(event)
        if self._hooks is not None and self._hooks.response:
            await EventHooks.run(self._hooks.response, event)

    async def retry(self, attempt: int, delay: float, error: CalypsoError) -> None:
        """Report a failed attempt that will be sent again."""
        event = RetryEvent(self.method, self.path, attempt, delay, error, self.idempotency_key)
        for call in self._calls:
            with _telemetry_fails_quietly(self.path):
                call.retry(event)
        if self._hooks is not None and self._hooks.retry:
            await EventHooks.run(self._hooks.retry, event)

    def end(self, error: BaseException | None) -> None:
        """Report how the call ended."""
        for call in self._calls:
            with _telemetry_fails_quietly(self.path):
                call.end(error)


def observation(
    method: str,
    path: str,
    payload: Mapping[str, Any] | None,
    hooks: EventHooks | None,
    observers: Sequence[Observer],
) -> CallObservation | None:
    """The listeners of a call about to start, or ``None`` when nobody listens."""
    captured = _capturing.get()
    if captured is not None and captured.task is not asyncio.current_task():
        captured = None  # a task started inside another task's capture block
    if hooks is None and not observers and captured is None:
        return None
    key = None
    if payload is not None:
        found = payload.get("idempotencyKey", payload.get("requestId"))
        key = found if isinstance(found, str) else None
    return CallObservation(method, path, key, hooks, observers, captured)
