"""The connection under ``RedisStore``: its URL shown safely, its scripts, its errors.

Everything here is about talking to Redis, not about the store's records: opening (the
server answers, the intake's consumer group exists, and a warning when Redis would
forget what it acknowledged), every command and script mapped to ``StoreError`` with no
password in it, and the consumer group made again should Redis have lost it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote_plus, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from ..._core import checks
from ..._errors import ConfigurationError, StoreError
from . import redis_scripts as lua
from .redis_tracks import SCRIPTS

__all__ = ["GROUP", "RedisConnection"]

logger = logging.getLogger("calypso_async.store")

T = TypeVar("T")

GROUP = "resolvers"
"""The consumer group every worker reads the intake stream in."""


def _masked(url: str) -> str:
    """``url`` with any password (in the user part, or as a query value) as ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    query = "&".join(
        f"{name}=***" if name.lower() == "password" else f"{name}={value}"
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _secrets(url: str) -> list[str]:
    """The passwords ``url`` carries, to keep out of any message."""
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password" and v]
    return found


def _namespace_in(url: str) -> tuple[str, str | None]:
    """``url`` without its ``namespace`` query value, and that value (``None``: none)."""
    parts = urlsplit(url)
    named = [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k == "namespace"]
    if not named:
        return url, None
    # The other options stay as written, still encoded (a password may hold '&' or '=').
    rest = "&".join(
        part for part in parts.query.split("&") if unquote_plus(part.split("=")[0]) != "namespace"
    )
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), named[-1]


def _check_options(url: str) -> None:
    """Refuse, before any I/O, a URL option redis-py would only trip on when connecting."""
    try:
        # Builds a connection object from the URL's options without opening a socket.
        pool: Any = aioredis.ConnectionPool.from_url(url)
        pool.make_connection()
    except (TypeError, ValueError) as exc:
        message = str(exc)
        for secret in _secrets(url):
            message = message.replace(secret, "***")
        raise ConfigurationError(
            f"the Redis store URL {_masked(url)} has an option redis-py does not take: {message}"
        ) from None


class RedisConnection:
    """A Redis connection for one store namespace (see ``RedisStore`` for the args)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str,
        clock: Callable[[], float] | None,
        socket_timeout: float,
        create: bool,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://")):
            raise ConfigurationError("a RedisStore URL starts with redis:// or rediss://")
        url, named = _namespace_in(url)
        if named is not None:
            if namespace not in ("calypso", named):
                raise ConfigurationError(
                    f"the URL names namespace {named!r} and namespace= {namespace!r}"
                )
            namespace = named
        if not isinstance(namespace, str) or not namespace or "}" in namespace:
            raise ConfigurationError("namespace must be a non-empty string without '}'")
        self._url = url
        _check_options(url)
        self._create = bool(create)
        shown = _masked(url)
        if namespace != "calypso":
            shown += ("&" if "?" in shown else "?") + f"namespace={namespace}"
        self.url = shown
        """The URL with any password shown as ``***`` (and the namespace, unless the
        default)."""
        self._prefix = "{" + namespace + "}:"
        self._clock = clock
        self._socket_timeout = checks.seconds("socket_timeout", socket_timeout)
        self._redis: aioredis.Redis | None = None
        self._opening: asyncio.Lock | None = None
        self._scripts: dict[str, Any] = {}
        self._stream = self._prefix + "intake"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _now_ms(self) -> str:
        """The time scripts read (milliseconds), or ``''``: Redis's own ``TIME``."""
        return "" if self._clock is None else str(int(self._clock() * 1000))

    def _key(self, kind: str, *parts: str) -> str:
        return self._prefix + kind + ":" + ":".join(parts)

    async def open(self) -> None:
        """Connect, check the server answers and make the consumer group; idempotent."""
        if self._redis is not None:
            return
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._scripts:
                return  # opened by another task meanwhile
            client = aioredis.Redis.from_url(
                self._url,
                decode_responses=True,
                socket_connect_timeout=self._socket_timeout,
                socket_timeout=self._socket_timeout,
                health_check_interval=30,
            )
            try:
                await client.ping()
                if not self._create and not await client.exists(self._stream):
                    await client.aclose()
                    raise StoreError(
                        f"{self.url}: there is no store in this namespace (is this the "
                        "--store your workers use?)"
                    )
                await self._make_group(client)
                await self._check_durability(client)
            except RedisError as exc:
                await client.aclose()
                raise self._error(exc) from None
            self._scripts = {
                name: client.register_script(getattr(lua, name)) for name in lua.__all__
            } | {name: client.register_script(text) for name, text in SCRIPTS.items()}
            self._redis = client

    async def _make_group(self, client: aioredis.Redis) -> None:
        try:
            await client.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _check_durability(self, client: aioredis.Redis) -> None:
        """Warn when Redis would lose what it acknowledged (a warning: CONFIG may be off)."""
        try:
            config: Any = await client.config_get("appendonly")
            policy: Any = await client.config_get("maxmemory-policy")
        except RedisError:
            return  # managed Redis often forbids CONFIG: nothing to say
        if config.get("appendonly") == "no":
            logger.warning(
                "%s runs without appendonly: a restart of Redis forgets what it accepted "
                "and which return-to-paid calls were sent; set appendonly yes",
                self.url,
            )
        evicting = policy.get("maxmemory-policy", "noeviction")
        if evicting != "noeviction":
            logger.warning(
                "%s evicts keys under memory pressure (maxmemory-policy %s): an evicted "
                "record could let a return-to-paid be sent twice; set noeviction",
                self.url,
                evicting,
            )

    async def aclose(self) -> None:
        """Close the connections; idempotent."""
        client, self._redis = self._redis, None
        self._scripts = {}
        if client is not None:
            await client.aclose()

    def _error(self, exc: BaseException) -> StoreError:
        message = str(exc).replace(self._url, self.url)
        for secret in _secrets(self._url):
            message = message.replace(secret, "***")
        return StoreError(f"{self.url}: {type(exc).__name__}: {message}")

    async def _call(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        # redis-py can turn a cancellation that lands in a blocking read into a
        # ConnectionError, or swallow it (redis/redis-py#2028, #2665): a worker told to
        # stop would then take it for an outage and retry for ever. A cancellation asked
        # for during this call always comes out as one; one asked for before it (a
        # cleanup running in a cancelled task) leaves the call alone.
        task = asyncio.current_task()
        before = task.cancelling() if task is not None else 0
        try:
            if before:
                # A cleanup in a cancelled task: redis-py before 8 checks a pooled
                # connection under asyncio.timeout(0), which on Python 3.11 takes the
                # task's earlier cancellation for a new one and raises it. A task of its
                # own has none; a new cancellation of this one still reaches it.
                result = await asyncio.create_task(self._call_once(operation))
            else:
                result = await self._call_once(operation)
        except StoreError as exc:
            if task is not None and task.cancelling() > before:
                raise asyncio.CancelledError from exc
            raise
        if task is not None and task.cancelling() > before:
            raise asyncio.CancelledError
        return result

    async def _call_once(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        if self._redis is None:
            await self.open()
        assert self._redis is not None
        try:
            try:
                return await operation(self._redis)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # The stream or its group is gone (Redis restarted without its data, a
                # failover to an empty replica, a FLUSHDB): make it again and go on.
                logger.warning(
                    "%s: the intake's consumer group was gone (did Redis lose its data?); "
                    "made again",
                    self.url,
                )
                await self._make_group(self._redis)
                return await operation(self._redis)
        except (RedisError, OSError) as exc:
            raise self._error(exc) from None

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        script = self._scripts.get(name)
        if script is None:
            await self.open()
            script = self._scripts[name]
        return await self._call(lambda _: script(keys=keys, args=args))

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless Redis answers now."""
        await self._call(lambda r: r.ping())
