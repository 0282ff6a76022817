"""The session layer: envelope, serialise once, sign those bytes, POST, decode, retry.

This is the only module that talks to aiohttp's client. Everything above it deals in
payload dicts and JSON values; everything below it is pure.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Self

import aiohttp
from yarl import URL

from . import _json
from ._clock import ServerClock
from ._config import DEFAULT_BASE_URL, check_base_url, check_credential, check_seconds
from ._errors import (
    APIError,
    CalypsoConnectionError,
    CalypsoError,
    CalypsoTimeoutError,
    ConfigurationError,
    LifecycleError,
)
from ._flow import ConnectionGate, Timeouts
from ._responses import api_error, decode_success, is_timestamp_rejection
from ._retry import RETRYABLE_STATUSES, RetryPolicy, retryable_by_default
from ._signing import SignedHeaders, Signer

__all__ = ["CalypsoSession"]

logger = logging.getLogger("calypso_async")

Sleep = Callable[[float], Awaitable[None]]
Method = Literal["POST", "DELETE"]


class CalypsoSession:
    """Signed calls to the Calypso API over one aiohttp connection pool.

    Every call is wrapped in the envelope ``{timestamp, account, payload}``, serialised
    once, signed over those exact bytes and sent with ``Key``/``Sign`` headers. Failures
    become typed errors; retryable ones are retried with a fresh timestamp and signature.

    Usually reached as ``client.session``; usable on its own::

        async with CalypsoSession(api_key=..., secret_key=..., account=...) as session:
            invoice_json = await session.call("/api/v1/invoice", {"id": invoice_id})

    Args:
        api_key: The public API key, sent as the ``Key`` header.
        secret_key: The API secret; signs requests and is never sent, logged or shown.
        account: The merchant account id placed in every envelope.
        base_url: ``https://...``; plain ``http`` only for a loopback address.
        session: An ``aiohttp.ClientSession`` to borrow (never closed by us). Without
            one, a session is created lazily inside the running loop and closed by
            :meth:`aclose`.
        timeout: Seconds one attempt may take, from sending to the last body byte (a
            wait for a free connection is not counted here, only in ``deadline``).
        deadline: Seconds a whole call may take, retries and waits included.
        max_retries: Retries after the first attempt (``0`` disables retrying).
        retry_policy: Backoff settings; overrides ``max_retries`` when given.
        sync_clock: Learn the server's clock from its ``Date`` header and correct
            request timestamps by the offset when it exceeds a couple of seconds.
        connection_limit: Connections an owned session opens at most; calls beyond it
            wait in line, first come first served. A borrowed session's own connector
            limit is respected the same way.
        sleep: Awaited for every backoff; tests inject one that does not wait.
        clock: Monotonic seconds, for deadlines.
        wall_clock: Unix seconds, for request timestamps.
        rand: Uniform numbers in [0, 1) for jitter; tests inject a fixed one.
    """

    def __init__(
        self,
        *,
        api_key: str,
        secret_key: str,
        account: str,
        base_url: str = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        deadline: float = 60.0,
        max_retries: int = 2,
        retry_policy: RetryPolicy | None = None,
        sync_clock: bool = True,
        connection_limit: int = 100,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        refused: str | None = None
        try:
            self._signer = Signer(check_credential("secret_key", secret_key))
            self._api_key = check_credential("api_key", api_key)
        except ConfigurationError as exc:
            refused = str(exc)
        # Held by the signer and self only: not locals of any later traceback.
        del secret_key, api_key
        if refused is not None:
            # Raised afresh, here: the refusing check's frame held them as locals.
            raise ConfigurationError(refused) from None
        self._account = check_credential("account", account)
        self._account_json = _json.dumps(self._account)
        self._base_url = check_base_url(base_url)
        self._timeout = check_seconds("timeout", timeout)
        self._deadline = check_seconds("deadline", deadline)
        # An attempt sent with a sliver of time left can only end "no answer in time",
        # which for a write means "may have acted": better not to send it at all.
        self._min_attempt = min(1.0, self._timeout, self._deadline / 4)
        if retry_policy is None:
            retry_policy = RetryPolicy(max_retries=max_retries)  # it checks the count
        elif not isinstance(retry_policy, RetryPolicy):
            raise ConfigurationError("retry_policy must be a RetryPolicy")
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError("session must be an aiohttp.ClientSession")
        if (
            isinstance(connection_limit, bool)
            or not isinstance(connection_limit, int)
            or connection_limit < 1
        ):
            raise ConfigurationError("connection_limit must be an integer of at least 1")
        self._retry = retry_policy
        self._http = session
        self._owns_http = session is None
        self._connection_limit = connection_limit
        self._sleep = sleep
        self._clock = clock
        self._server_clock = ServerClock(wall_clock=wall_clock, clock=clock, enabled=sync_clock)
        self._rand = rand
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: Timeouts | None = None
        self._gate: ConnectionGate | None = None
        self._closed = False
        self._urls: dict[str, URL] = {}

    def __repr__(self) -> str:
        # getattr: a traceback capturing locals may show an instance whose __init__ raised.
        base_url = getattr(self, "_base_url", "?")
        account = getattr(self, "_account", "?")
        return (
            f"CalypsoSession(base_url={base_url!r}, account={account!r}, "
            "api_key=***, secret_key=***)"
        )

    @property
    def base_url(self) -> str:
        """The API root every path is appended to."""
        return self._base_url

    @property
    def account(self) -> str:
        """The merchant account id sent in every envelope."""
        return self._account

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry settings in force."""
        return self._retry

    @property
    def clock_offset(self) -> float:
        """Seconds added to the local clock for request timestamps (0 unless skewed)."""
        return self._server_clock.offset

    @property
    def sleep(self) -> Sleep:
        """The sleep this session was given: every wait above it goes through this."""
        return self._sleep

    @property
    def clock(self) -> Callable[[], float]:
        """The monotonic clock this session was given, for deadlines."""
        return self._clock

    def random(self) -> float:
        """A uniform number in [0, 1) for jitter (seedable in tests via ``rand``)."""
        return self._rand()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closed

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the aiohttp session if this object created it; idempotent."""
        self._closed = True
        if self._timeouts is not None:
            self._timeouts.close()
        http, self._http = self._http, None
        if http is not None and self._owns_http and not http.closed:
            await http.close()

    def _http_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise LifecycleError("this Calypso client is closed; create a new one")
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                raise LifecycleError(
                    "this Calypso client belongs to another event loop; create one client per loop"
                )
            self._loop = loop
            self._timeouts = Timeouts(loop)
            limit = (
                self._connection_limit
                if self._http is None
                else _connector_limit(self._http)  # a borrowed session's own limit
            )
            self._gate = ConnectionGate(limit) if limit else None
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connection_limit),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        elif self._http.closed:
            raise LifecycleError("the aiohttp.ClientSession this client borrows is closed")
        return self._http

    def _url(self, path: str) -> URL:
        url = self._urls.get(path)
        if url is None:
            if not path.startswith("/"):
                raise ConfigurationError(f"path must start with '/': {path!r}")
            url = self._urls[path] = URL(self._base_url + path)
        return url

    def envelope(self, payload: Mapping[str, Any] | None) -> bytes:
        """Serialise a request body for now: ``{timestamp, account[, payload]}``."""
        return self._stamp(None if payload is None else _json.dumps(payload))

    def _stamp(self, payload_json: bytes | None) -> bytes:
        # The bytes dumps() writes for the dict {timestamp, account[, payload]}, joined
        # from parts: the account is written once per session, the payload once per
        # call, and only the timestamp once per attempt.
        head = b'{"timestamp":%d,"account":%s' % (
            self._server_clock.timestamp_ms(),
            self._account_json,
        )
        if payload_json is None:
            return head + b"}"
        return head + b',"payload":' + payload_json + b"}"

    async def call(
        self,
        path: str,
        payload: Mapping[str, Any] | None = None,
        *,
        method: Method = "POST",
        retry: bool | None = None,
    ) -> Any:
        """Send one signed call and return the decoded JSON answer.

        Args:
            path: The API path, such as ``"/api/v1/invoice"``.
            payload: The operation's payload; ``None`` for operations that send none.
            method: ``"POST"``, or ``"DELETE"`` for deleting a webhook subscription.
            retry: Whether the call may be repeated after it may have reached the server.
                ``None`` decides from the path: reads and deletes yes, the invoice and
                payout creates carrying an ``idempotencyKey`` yes, anything else no.

        Returns:
            The JSON answer with every non-integer number as ``Decimal``, or ``None`` for
            an empty 2xx body.

        Raises:
            APIError: A non-2xx answer (its subclass tells the status family).
            CalypsoConnectionError: The request could not be sent or its answer was lost.
            CalypsoTimeoutError: An attempt or the overall deadline ran out.
            DecodeError: A 2xx answer that is not JSON.
            ConfigurationError: A payload that cannot be written as JSON.
            LifecycleError: The client is closed or belongs to another loop.
        """
        if payload is not None and not isinstance(payload, Mapping):
            raise ConfigurationError("payload must be a mapping or None")
        if method not in ("POST", "DELETE"):
            raise ConfigurationError(f"method must be 'POST' or 'DELETE', not {method!r}")
        try:
            payload_json = None if payload is None else _json.dumps(payload)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"payload for {path} cannot be sent: {exc}") from exc
        http = self._http_session()
        url = self._url(path)
        if retry is None:
            retry = retryable_by_default(path, method, payload)
        started = self._clock()
        deadline_at = started + self._deadline
        retried_clock = False
        maybe_acted = False  # an earlier attempt may have reached the server and acted
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:
                # aclose() may have run during the backoff: say so, not aiohttp's
                # RuntimeError("Session is closed").
                http = self._http_session()
            if deadline_at - self._clock() < self._min_attempt:
                raise CalypsoTimeoutError(
                    f"{path}: the {self._deadline:g} s deadline ran out", path=path
                )
            clock_generation = self._server_clock.generation
            try:
                return await self._attempt(http, method, url, path, payload_json, deadline_at)
            except _Retryable as wrapped:
                error, safe_anyway = wrapped.error, wrapped.safe_anyway
                if self._closed:
                    raise LifecycleError(
                        f"{path}: this Calypso client was closed while the call was in "
                        "flight; whether the server acted on it is unknown"
                    ) from error
            except APIError as error_:
                if method == "DELETE" and error_.status == 404 and maybe_acted:
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
            if not (retry or safe_anyway) or attempt > self._retry.max_retries:
                raise error
            maybe_acted = maybe_acted or not safe_anyway
            delay = self._retry.delay(attempt, getattr(error, "retry_after", None), self._rand)
            if self._clock() + delay + self._min_attempt > deadline_at:
                raise error
            if logger.isEnabledFor(logging.WARNING):
                logger.warning(
                    "retrying %s %s in %.2f s (attempt %d failed: %s)",
                    method,
                    path,
                    delay,
                    attempt,
                    type(error).__name__,
                    extra={"calypso_path": path, "calypso_attempt": attempt},
                )
            await self._sleep(delay)

    def _signed(self, payload_json: bytes | None) -> tuple[bytes, SignedHeaders]:
        body = self._stamp(payload_json)
        return body, SignedHeaders(
            Key=self._api_key,
            Sign=self._signer.sign(body),
            **{"Content-Type": "application/json"},
        )

    async def _attempt(
        self,
        http: aiohttp.ClientSession,
        method: str,
        url: URL,
        path: str,
        payload_json: bytes | None,
        deadline_at: float,
    ) -> Any:
        gate, timeouts = self._gate, self._timeouts
        assert timeouts is not None  # made with the loop, before any attempt
        if gate is not None and not gate.enter_now():
            await self._wait_for_connection(gate, timeouts, path, deadline_at)
        try:
            # Timestamped and signed once a connection is free, however long the wait.
            body, headers = self._signed(payload_json)
            began = self._clock()
            timeout = min(self._timeout, deadline_at - began)
            with timeouts.scope(timeout):
                # Never follow a redirect: it could leave TLS or the API host and replay
                # the signed body there (307/308). A 3xx surfaces as an APIError instead.
                # raise_for_status=False: a borrowed session configured to raise must not
                # turn an error answer into a "connection lost" that gets retried.
                async with http.request(
                    method,
                    url,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    raise_for_status=False,
                ) as response:
                    raw = await response.read()
                    status = response.status
                    response_headers = response.headers
        except asyncio.CancelledError as exc:
            # Cancelled from outside (the caller's own timeout, say) while inside aiohttp:
            # its frames must not travel up with the cancellation either.
            _frameless(exc)
            raise
        except TimeoutError as exc:
            raise _Retryable(
                CalypsoTimeoutError(f"{path}: no answer within {timeout:g} s", path=path), exc
            ) from None
        except aiohttp.ClientSSLError as exc:
            raise CalypsoConnectionError(f"{path}: TLS failed: {exc}", path=path) from (
                _frameless(exc)
            )
        except aiohttp.ClientConnectorError as exc:
            # The connection was never made, so the request never left: always safe.
            raise _Retryable(
                CalypsoConnectionError(f"{path}: cannot connect: {exc}", path=path),
                exc,
                safe_anyway=True,
            ) from None
        except aiohttp.ClientError as exc:
            lost = CalypsoConnectionError(
                f"{path}: connection lost before the answer ({type(exc).__name__})", path=path
            )
            raise _Retryable(lost, exc) from None
        finally:
            if gate is not None:
                gate.leave()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d in %.1f ms",
                method,
                path,
                status,
                (self._clock() - began) * 1000,
                extra={"calypso_path": path, "calypso_status": status},
            )
        self._server_clock.observe(response_headers.get("Date"), force=status >= 400)
        if 200 <= status < 300:
            return decode_success(path, status, raw)
        # An HTTP-date Retry-After is in the server's time: compare it with the
        # (injectable, skew-corrected) clock the timestamps use, not the host's.
        now = self._server_clock.timestamp_ms() / 1000
        error = api_error(path, status, raw, response_headers, now)
        if status in RETRYABLE_STATUSES:
            raise _Retryable(error, None)
        raise error

    async def _wait_for_connection(
        self, gate: ConnectionGate, timeouts: Timeouts, path: str, deadline_at: float
    ) -> None:
        try:
            with timeouts.scope(deadline_at - self._clock() - self._min_attempt):
                await gate.enter()
        except TimeoutError:
            # Nothing was sent, and too little time is left to send it now.
            raise self._no_free_connection(path) from None
        try:
            self._http_session()  # closed while in line: say so, not aiohttp's RuntimeError
            if deadline_at - self._clock() < self._min_attempt:
                raise self._no_free_connection(path)
        except (LifecycleError, CalypsoTimeoutError):
            gate.leave()
            raise

    def _no_free_connection(self, path: str) -> CalypsoTimeoutError:
        return CalypsoTimeoutError(
            f"{path}: the {self._deadline:g} s deadline ran out waiting for a free "
            "connection, nothing sent (raise connection_limit, or make fewer calls at once)",
            path=path,
        )


def _connector_limit(http: aiohttp.ClientSession) -> int:
    """The most connections a borrowed session will open to one host (0: no limit)."""
    connector = http.connector
    if connector is None:
        return 0
    limits = [limit for limit in (connector.limit, connector.limit_per_host) if limit]
    return min(limits, default=0)


class _Retryable(Exception):
    """Carries an error the retry loop may retry; ``safe_anyway`` when nothing was sent."""

    def __init__(
        self, error: CalypsoError, cause: BaseException | None, *, safe_anyway: bool = False
    ):
        super().__init__(error)
        error.__cause__ = None if cause is None else _frameless(cause)
        self.error = error
        self.safe_anyway = safe_anyway


def _frameless(exc: BaseException) -> BaseException:
    """Drop the tracebacks of a failure from inside aiohttp, and of what it chains.

    aiohttp's frames hold the request's headers in a plain mapping, ``Key`` and
    ``Sign`` included, and its body: an error reporter that captures frame locals along
    the cause chain would record a request anyone could replay for three minutes. The
    exception's type and message say what went wrong; where in aiohttp it did is lost.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return exc
