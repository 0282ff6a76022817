"""A client's options, validated once, and the ``Runtime`` every layer takes time from.

``CalypsoClient`` and ``CalypsoSession`` take the same options (:class:`ClientOptions`)
and turn them into one :class:`ClientSettings` before any I/O. Time and randomness come
from one :class:`Runtime`, which the session, the resources and the resolver all receive,
so a test that injects a sleep or a clock there never really waits anywhere.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import attrs

from ._core import checks
from ._core.retry import RetryPolicy
from ._errors import ConfigurationError

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEFAULT_BASE_URL",
    "CallOptions",
    "ClientOptions",
    "ClientSettings",
    "Runtime",
    "Sleep",
    "Telemetry",
]

DEFAULT_BASE_URL = "https://api.calypso.finance"
"""The production API; ``https://api.calypso.money`` serves the same API."""

Sleep = Callable[[float], Awaitable[None]]
"""An ``asyncio.sleep``-like coroutine function."""


@attrs.frozen
class Runtime:
    """Where time and randomness come from, for every layer of one client.

    Attributes:
        sleep: Awaited for every wait (backoffs, polls); tests inject one that returns
            at once.
        clock: Monotonic seconds, for deadlines and polling.
        wall_clock: Unix seconds, for request timestamps.
        rand: Uniform numbers in [0, 1) for jitter.
    """

    sleep: Sleep = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random


def _provider(method: str) -> Callable[[object, attrs.Attribute[object], object], None]:
    def check(instance: object, attribute: attrs.Attribute[object], value: object) -> None:
        if value is not None and not callable(getattr(value, method, None)):
            raise ConfigurationError(
                f"{attribute.name} must be an OpenTelemetry provider with {method}(), "
                f"or None for the global one, not {type(value).__name__}"
            )

    return check


@attrs.frozen
class Telemetry:
    """OpenTelemetry for a client: where its spans and metrics go.

    ``CalypsoClient(..., telemetry=True)`` means ``telemetry=Telemetry()``: OpenTelemetry's
    global providers, as the application set them up (spans and metrics go nowhere
    until it does). Give providers to send them elsewhere, such as a test's in-memory
    exporters::

        client = CalypsoClient(..., telemetry=Telemetry(tracer_provider=provider))

    Needs the ``otel`` extra (``pip install 'calypso_async[otel]'``, which brings
    ``opentelemetry-api``); without ``telemetry`` nothing of OpenTelemetry is imported.

    Attributes:
        tracer_provider: An ``opentelemetry.trace.TracerProvider``; ``None`` for the
            global one.
        meter_provider: An ``opentelemetry.metrics.MeterProvider``; ``None`` for the
            global one.
    """

    tracer_provider: object = attrs.field(default=None, validator=_provider("get_tracer"))
    meter_provider: object = attrs.field(default=None, validator=_provider("get_meter"))


def _telemetry(given: object) -> Telemetry | None:
    if given is None or given is False:
        return None
    if given is True:
        return Telemetry()
    if isinstance(given, Telemetry):
        return given
    raise ConfigurationError(
        f"telemetry must be True, False or a Telemetry(...), not {type(given).__name__}"
    )


class ClientOptions(TypedDict, total=False):
    """The options of ``CalypsoClient`` and ``CalypsoSession`` besides the credentials.

    Every one is optional; the default is given in brackets.

    Attributes:
        base_url: The API root [``https://api.calypso.finance``]; plain ``http`` only for
            a loopback address (such as ``FakeCalypso``).
        session: An ``aiohttp.ClientSession`` to borrow (never closed by the SDK) [one
            is created lazily inside the running loop and closed by ``aclose()``].
        timeout: Seconds one attempt may take, from sending to the last body byte; a wait
            for a free connection is counted only in ``deadline`` [30].
        deadline: Seconds a whole call may take, retries and waits included [60].
        max_retries: Retries after the first attempt for calls safe to repeat; ``0``
            disables retrying [2].
        retry_policy: Full backoff settings; overrides ``max_retries`` [built from it].
        sync_clock: Learn the server's clock from its ``Date`` header and correct request
            timestamps when they are off by more than a couple of seconds [True].
        connection_limit: Connections an owned session opens at most; calls beyond it
            wait in line, first come first served. A borrowed session's own connector
            limit is respected the same way [100].
        sleep: Awaited for every wait [``asyncio.sleep``].
        clock: Monotonic seconds, for deadlines and polling [``time.monotonic``].
        wall_clock: Unix seconds, for request timestamps [``time.time``].
        rand: Uniform numbers in [0, 1) for jitter [``random.random``].
        event_hooks: ``{"request": [...], "response": [...], "retry": [...]}``: plain or
            ``async`` callables, each given a frozen event for every attempt
            (``RequestEvent``, ``ResponseEvent``, ``RetryEvent``), ``Key`` and ``Sign``
            redacted. A hook that raises is logged and the call goes on. Hooks run
            inside the call and their time counts in ``deadline``: keep them quick
            [none].
        telemetry: OpenTelemetry spans and metrics for every call, and for every run of
            a resolver built on the client: ``True`` for the global tracer and meter
            providers, a ``Telemetry`` for given ones; needs the ``otel`` extra
            [off: nothing of OpenTelemetry is imported].
    """

    base_url: str
    session: aiohttp.ClientSession | None
    timeout: float
    deadline: float
    max_retries: int
    retry_policy: RetryPolicy | None
    sync_clock: bool
    connection_limit: int
    sleep: Sleep
    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    rand: Callable[[], float]
    event_hooks: Mapping[str, Sequence[Callable[[Any], Any]]] | None
    telemetry: bool | Telemetry | None


_OPTIONS = frozenset(ClientOptions.__annotations__)


class CallOptions(TypedDict, total=False):
    """What ``with_options`` may change for the calls of a derived client.

    Attributes:
        timeout: Seconds one attempt may take.
        deadline: Seconds a whole call may take, retries and waits included.
        max_retries: Retries after the first attempt for calls safe to repeat (the
            rest of the retry policy, such as its backoff, is kept).
    """

    timeout: float
    deadline: float
    max_retries: int


_CALL_OPTIONS = ("timeout", "deadline", "max_retries")
_RUNTIME = ("sleep", "clock", "wall_clock", "rand")


@attrs.frozen
class ClientSettings:
    """The validated settings of one client (see :class:`ClientOptions`).

    Attributes:
        account: The merchant account id sent in every envelope.
        base_url: The API root, without a trailing slash.
        timeout: Seconds one attempt may take.
        deadline: Seconds one call may take.
        retry_policy: The retry settings in force.
        sync_clock: Whether request timestamps follow the server's clock.
        connection_limit: Connections an owned aiohttp session opens at most.
        borrowed_session: The aiohttp session lent by the caller, if any.
        runtime: Time and randomness.
        event_hooks: The hooks by event name, as given (checked by the session).
        telemetry: Where spans and metrics go; ``None`` when off.
    """

    account: str
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 30.0
    deadline: float = 60.0
    retry_policy: RetryPolicy = attrs.field(factory=RetryPolicy)
    sync_clock: bool = True
    connection_limit: int = 100
    borrowed_session: aiohttp.ClientSession | None = attrs.field(default=None, repr=False)
    runtime: Runtime = attrs.field(factory=Runtime)
    event_hooks: object = attrs.field(default=None, repr=False)  # the session checks it
    telemetry: Telemetry | None = None

    @classmethod
    def from_options(cls, account: object, **options: Unpack[ClientOptions]) -> ClientSettings:
        """Validate the options of a client for ``account``.

        Raises:
            TypeError: An option that does not exist, as for any keyword argument.
            ConfigurationError: A value that cannot be used.
        """
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise TypeError(
                f"unexpected keyword argument {unknown[0]!r} (the options are "
                + ", ".join(sorted(_OPTIONS))
                + ")"
            )
        given: dict[str, Any] = dict(options)
        retry_policy = given.get("retry_policy")
        if retry_policy is None:
            retry_policy = RetryPolicy(max_retries=given.get("max_retries", 2))
        elif not isinstance(retry_policy, RetryPolicy):
            raise ConfigurationError("retry_policy must be a RetryPolicy")
        runtime = Runtime(**{name: given[name] for name in _RUNTIME if name in given})
        for name in _RUNTIME:
            if not callable(getattr(runtime, name)):
                raise ConfigurationError(f"{name} must be callable")
        return cls(
            account=checks.credential("account", account),
            base_url=checks.base_url(given.get("base_url", DEFAULT_BASE_URL)),
            timeout=checks.seconds("timeout", given.get("timeout", 30.0)),
            deadline=checks.seconds("deadline", given.get("deadline", 60.0)),
            retry_policy=retry_policy,
            sync_clock=bool(given.get("sync_clock", True)),
            connection_limit=checks.integer(
                "connection_limit", given.get("connection_limit", 100), least=1
            ),
            borrowed_session=given.get("session"),
            runtime=runtime,
            event_hooks=given.get("event_hooks"),
            telemetry=_telemetry(given.get("telemetry")),
        )

    def with_options(self, **options: Unpack[CallOptions]) -> ClientSettings:
        """These settings with ``timeout``, ``deadline`` or ``max_retries`` replaced.

        Each value is checked as the client's own option is; those not given are kept.

        Raises:
            TypeError: An option ``with_options`` does not take (the message names those
                it takes).
            ConfigurationError: A value that cannot be used.
        """
        unknown = sorted(set(options) - set(_CALL_OPTIONS))
        if unknown:
            raise TypeError(
                f"with_options() got an unexpected keyword argument {unknown[0]!r} "
                f"(it takes {', '.join(_CALL_OPTIONS)})"
            )
        given: dict[str, Any] = dict(options)
        changes: dict[str, Any] = {}
        for name in ("timeout", "deadline"):
            if name in given:
                changes[name] = checks.seconds(name, given[name])
        if "max_retries" in given:
            max_retries = checks.integer("max_retries", given["max_retries"])
            changes["retry_policy"] = attrs.evolve(self.retry_policy, max_retries=max_retries)
        return attrs.evolve(self, **changes) if changes else self

    @property
    def min_attempt(self) -> float:
        """Seconds an attempt needs at least: one with less left is not sent at all.

        An attempt sent with a sliver of time left can only end "no answer in time",
        which for a write means "may have acted": better not to send it.
        """
        return min(1.0, self.timeout, self.deadline / 4)
