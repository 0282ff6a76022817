"""The session: envelope, serialise once, sign those bytes, send, decode, retry.

Everything above it deals in payload dicts and JSON values; below it, the transport sends
one attempt and the pure core writes envelopes, signs and reads answers. Whether a call
may be sent again is the caller's to declare (:class:`~calypso_async._core.retry.Replay`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal, Self, Unpack

from .._aio import ConnectionGate, Timeouts
from .._core import checks
from .._core.answers import api_error, decode_success, is_timestamp_rejection
from .._core.clock import ServerClock
from .._core.envelope import Envelope
from .._core.retry import RETRYABLE_STATUSES, Replay, RetryPolicy
from .._core.signing import SignedHeaders, Signer
from .._errors import (
    APIError,
    CalypsoTimeoutError,
    ConfigurationError,
    LifecycleError,
)
from .._settings import CallOptions, ClientOptions, ClientSettings, Runtime, Sleep
from . import failures, logs, telemetry
from .aiohttp import AiohttpTransport
from .observe import CallObservation, EventHooks, Observer, observation
from .shared import SharedState
from .transport import AnswerLost, NotSent, TLSFailed, Transport

__all__ = ["CalypsoSession"]

Method = Literal["POST", "DELETE"]


class CalypsoSession:
    """Signed calls to the Calypso API over one connection pool.

    Every call is wrapped in the envelope ``{timestamp, account, payload}``, serialised
    once, signed over those exact bytes and sent with ``Key``/``Sign`` headers. Failures
    become typed errors; retryable ones are retried with a fresh timestamp and signature.

    Usually reached as ``client.session``; usable on its own::

        async with CalypsoSession(api_key=..., secret_key=..., account=...) as session:
            invoice_json = await session.call("/api/v1/invoice", {"id": invoice_id}, retry=True)

    Args:
        api_key: The public API key, sent as the ``Key`` header.
        secret_key: The API secret; signs requests and is never sent, logged or shown.
        account: The merchant account id placed in every envelope.
        **options: The options of :class:`~calypso_async.CalypsoClient` (``base_url``,
            ``session``, ``timeout``, ``deadline``, ``max_retries``, ``retry_policy``,
            ``sync_clock``, ``connection_limit``, ``event_hooks``, ``telemetry``,
            ``sleep``, ``clock``, ``wall_clock``, ``rand``), described once in
            ``ClientOptions``.
    """

    def __init__(
        self, *, api_key: str, secret_key: str, account: str, **options: Unpack[ClientOptions]
    ) -> None:
        refused: Exception | None = None
        try:
            self._signer = Signer(checks.credential("secret_key", secret_key))
            self._api_key = checks.credential("api_key", api_key)
        except ConfigurationError as exc:
            refused = ConfigurationError(str(exc))
        # Held by the signer and self only: not locals of any later traceback.
        del secret_key, api_key
        if refused is not None:
            # Raised afresh, here: the refusing check's frame held them as locals.
            raise refused from None
        settings = self.settings = ClientSettings.from_options(account, **options)
        """The validated settings (account, base URL, timeouts, retries, runtime)."""
        runtime = settings.runtime
        self._envelope = Envelope(settings.account)
        transport: Transport = AiohttpTransport(
            settings.base_url, settings.borrowed_session, settings.connection_limit
        )
        server_clock = ServerClock(
            wall_clock=runtime.wall_clock, clock=runtime.clock, enabled=settings.sync_clock
        )
        self._shared = SharedState(transport, server_clock)
        self._server_clock = server_clock
        self._owner = True
        hooks = EventHooks(settings.event_hooks)
        self._hooks = hooks if hooks else None
        self._observers: tuple[Observer, ...] = telemetry.observers(settings)
        self._use(settings)

    def _use(self, settings: ClientSettings) -> None:
        self.settings = settings
        self._retry = settings.retry_policy
        self._timeout = settings.timeout
        self._deadline = settings.deadline
        self._min_attempt = settings.min_attempt
        runtime = settings.runtime
        self._sleep, self._clock, self._rand = runtime.sleep, runtime.clock, runtime.rand

    def with_options(self, **options: Unpack[CallOptions]) -> CalypsoSession:
        """This session with other call options, sharing its pool, clock, hooks and telemetry.

        Only the owner closes the shared pool: a derived session's :meth:`aclose` does
        nothing. See :meth:`CalypsoClient.with_options` (same options and errors).
        """
        derived = object.__new__(CalypsoSession)
        derived.__dict__.update(self.__dict__)
        derived._owner = False
        derived._use(self.settings.with_options(**options))
        return derived

    def __repr__(self) -> str:
        # getattr: a traceback capturing locals may show an instance whose __init__ raised.
        settings = getattr(self, "settings", None)
        base_url = settings.base_url if settings else "?"
        account = settings.account if settings else "?"
        return (
            f"CalypsoSession(base_url={base_url!r}, account={account!r}, "
            "api_key=***, secret_key=***)"
        )

    @property
    def base_url(self) -> str:
        """The API root every path is appended to."""
        return self.settings.base_url

    @property
    def account(self) -> str:
        """The merchant account id sent in every envelope."""
        return self.settings.account

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry settings in force."""
        return self._retry

    @property
    def runtime(self) -> Runtime:
        """Where this session's time and randomness come from."""
        return self.settings.runtime

    @property
    def clock_offset(self) -> float:
        """Seconds added to the local clock for request timestamps (0 unless skewed)."""
        return self._server_clock.offset

    @property
    def sleep(self) -> Sleep:
        """The runtime's sleep (``runtime.sleep``)."""
        return self._sleep

    @property
    def clock(self) -> Callable[[], float]:
        """The runtime's monotonic clock (``runtime.clock``)."""
        return self._clock

    def random(self) -> float:
        """A uniform number in [0, 1) from the runtime's ``rand``."""
        return self._rand()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called (on the owner, for a derived session)."""
        return self._shared.closed

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool if this object created it; idempotent.

        A session made by :meth:`with_options` owns nothing: closing it does nothing.
        """
        if self._owner:
            await self._shared.aclose()

    def envelope(self, payload: Mapping[str, Any] | None) -> bytes:
        """Serialise a request body for now: ``{timestamp, account[, payload]}``."""
        payload_json = Envelope.payload("this call", payload)
        return self._envelope.body(self._server_clock.timestamp_ms(), payload_json)

    async def call(
        self,
        path: str,
        payload: Mapping[str, Any] | None = None,
        *,
        method: Method = "POST",
        retry: bool | Replay | None = None,
        send_by: float | None = None,
    ) -> Any:
        """Send one signed call and return the decoded JSON answer.

        Args:
            path: The API path, such as ``"/api/v1/invoice"``.
            payload: The operation's payload; ``None`` for operations that send none.
            method: ``"POST"``, or ``"DELETE"`` for deleting a webhook subscription.
            retry: Whether the call may be sent again after an attempt that may have
                reached the server: ``True`` for a read or a create carrying an
                idempotency key, ``False`` for anything that changes state. ``None``
                (the default) is ``False`` for ``POST`` and ``True`` for ``DELETE``. A
                call that provably never left is sent again in every case.
            send_by: A time on the client's monotonic clock by which every attempt must
                have been sent and answered: checked once a connection is free, right
                before the request is written (with less than an attempt's least time
                left, the call raises ``CalypsoTimeoutError`` with ``request_sent``
                ``False``), and an attempt's timeout ends there at the latest. For a
                write whose right to be sent expires (the resolver's return-to-paid).

        Returns:
            The JSON answer with every non-integer number as ``Decimal``, or ``None`` for
            an empty 2xx body.

        Raises:
            APIError: A non-2xx answer (its subclass tells the status family).
            CalypsoConnectionError: The request could not be sent or its answer was lost.
            CalypsoTimeoutError: An attempt or the overall deadline ran out.
            DecodeError: A 2xx answer that is not JSON.
            ConfigurationError: A payload that cannot be written as JSON, or a bad path
                or method.
            LifecycleError: The client is closed or belongs to another loop.
        """
        if method not in ("POST", "DELETE"):
            raise ConfigurationError(f"method must be 'POST' or 'DELETE', not {method!r}")
        payload_json = Envelope.payload(path, payload)
        replay = Replay.of(retry, method)
        self._shared.ready()
        if path not in self._shared.paths:
            if not isinstance(path, str) or not path.startswith("/"):
                raise ConfigurationError(f"path must start with '/': {path!r}")
            self._shared.paths.add(path)
        observe = observation(method, path, payload, self._hooks, self._observers)
        if observe is None:
            return await self._call(method, path, payload_json, replay, send_by, None)
        try:
            result = await self._call(method, path, payload_json, replay, send_by, observe)
        except BaseException as exc:
            observe.end(exc)
            raise
        observe.end(None)
        return result

    async def _call(
        self,
        method: Method,
        path: str,
        payload_json: bytes | None,
        replay: Replay,
        send_by: float | None,
        observe: CallObservation | None,
    ) -> Any:
        started = self._clock()
        deadline_at = started + self._deadline
        retried_clock = False
        maybe_acted = False  # an earlier attempt may have reached the server and acted
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:
                # aclose() may have run during the backoff: say so, not the transport.
                self._shared.ready()
            if deadline_at - self._clock() < self._min_attempt:
                raise CalypsoTimeoutError(
                    f"{path}: the {self._deadline:g} s deadline ran out", path=path
                )
            clock_generation = self._server_clock.generation
            try:
                return await self._attempt(
                    method, path, payload_json, deadline_at, send_by, attempt, observe
                )
            except failures.Retryable as wrapped:
                error, safe_anyway = wrapped.error, wrapped.safe_anyway
                if self._shared.closed:
                    raise LifecycleError(
                        f"{path}: this Calypso client was closed while the call was in "
                        "flight; whether the server acted on it is unknown"
                    ) from error
            except APIError as error_:
                if replay is Replay.DELETE and error_.status == 404 and maybe_acted:
                    # The earlier attempt deleted it and its answer was lost: gone is done.
                    return None
                # A rejected timestamp was not acted on: one immediate retry is safe once
                # the server's Date header has taught us its clock.
                if (
                    not retried_clock
                    and self._server_clock.generation != clock_generation
                    and is_timestamp_rejection(error_.status, error_.error_code, error_.message)
                ):
                    retried_clock = True
                    attempt -= 1
                    continue
                raise
            if (replay is Replay.NEVER and not safe_anyway) or attempt > self._retry.max_retries:
                if safe_anyway and not maybe_acted:
                    error.request_sent = False
                logs.final(method, path, attempt, error, safe_anyway and not maybe_acted)
                raise error
            maybe_acted = maybe_acted or not safe_anyway
            delay = self._retry.delay(attempt, getattr(error, "retry_after", None), self._rand)
            if self._clock() + delay + self._min_attempt > deadline_at:
                logs.final(method, path, attempt, error, False)
                raise error
            if logs.logger.isEnabledFor(logging.INFO):
                logs.retrying(method, path, attempt, delay, error)
            if observe is not None:
                await observe.retry(attempt, delay, error)
            await self._sleep(delay)

    async def _attempt(
        self,
        method: str,
        path: str,
        payload_json: bytes | None,
        deadline_at: float,
        send_by: float | None,
        attempt: int,
        observe: CallObservation | None,
    ) -> Any:
        gate, timeouts = self._shared.gate, self._shared.timeouts
        assert timeouts is not None  # made with the loop, before any attempt
        if gate is not None and not gate.enter_now():
            await self._wait_for_connection(gate, timeouts, path, deadline_at)
        try:
            if observe is not None:  # before the timestamp, so a slow hook cannot age it
                await observe.request(attempt, _SENT_HEADERS)
            now = self._clock()  # the hook's time counts: nothing is sent without enough left
            failures.check_time_left(path, now, deadline_at, send_by, self._min_attempt)
        except BaseException:
            if gate is not None:
                gate.leave()
            raise
        try:
            # Timestamped and signed once a connection is free, however long the wait.
            body = self._envelope.body(self._server_clock.timestamp_ms(), payload_json)
            headers = SignedHeaders(
                Key=self._api_key,
                Sign=self._signer.sign(body),
                **{"Content-Type": "application/json"},
            )
            began = self._clock()
            timeout = min(self._timeout, deadline_at - began)
            if send_by is not None:
                timeout = min(timeout, send_by - began)
            with timeouts.scope(timeout):
                answer = await self._shared.transport.send(method, path, body, headers)
        except (TimeoutError, TLSFailed, NotSent, AnswerLost) as exc:
            failed = failures.attempt_failed(path, exc, timeout)
            raise failed from failed.__cause__  # no context: it holds the transport's frames
        finally:
            if gate is not None:
                gate.leave()
        status = answer.status
        took_ms = (self._clock() - began) * 1000
        self._server_clock.observe(answer.headers.get("Date"), force=status >= 400)
        if 200 <= status < 300:
            if logs.logger.isEnabledFor(logging.DEBUG):
                logs.answer(method, path, attempt, status, took_ms, None)
            if observe is not None:
                await observe.response(attempt, status, took_ms, answer.headers, None)
            return decode_success(path, status, answer.body)
        # An HTTP-date Retry-After is in the server's time: compare it with the
        # (injectable, skew-corrected) clock the timestamps use, not the host's.
        now = self._server_clock.timestamp_ms() / 1000
        error = api_error(path, status, answer.body, answer.headers, now)
        if logs.logger.isEnabledFor(logging.DEBUG):
            logs.answer(method, path, attempt, status, took_ms, error.trace_id)
        if observe is not None:
            await observe.response(attempt, status, took_ms, answer.headers, error.trace_id)
        if status in RETRYABLE_STATUSES:
            raise failures.Retryable(error, None)
        raise error

    async def _wait_for_connection(
        self, gate: ConnectionGate, timeouts: Timeouts, path: str, deadline_at: float
    ) -> None:
        try:
            with timeouts.scope(deadline_at - self._clock() - self._min_attempt):
                await gate.enter()
        except TimeoutError:
            # Nothing was sent, and too little time is left to send it now.
            raise failures.no_free_connection(path, self._deadline) from None
        try:
            self._shared.ready()  # closed while in line: say so, not the transport
            if deadline_at - self._clock() < self._min_attempt:
                raise failures.no_free_connection(path, self._deadline)
        except (LifecycleError, CalypsoTimeoutError):
            gate.leave()
            raise


# What an attempt sends besides the body, as hooks see it (Key and Sign redacted).
_SENT_HEADERS = MappingProxyType({"Key": "***", "Sign": "***", "Content-Type": "application/json"})
