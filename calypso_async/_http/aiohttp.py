"""The aiohttp transport: the only module of the SDK that uses aiohttp's client.

One attempt in, status, headers and bytes out; aiohttp's failures become the seam's
exceptions (:mod:`.transport`) without aiohttp's frames, which hold the request's ``Key``
and ``Sign`` headers in a plain mapping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
from yarl import URL

from .._errors import ConfigurationError, LifecycleError
from .transport import Answer, AnswerLost, NotSent, TLSFailed

__all__ = ["AiohttpTransport", "frameless"]


class AiohttpTransport:
    """Sends attempts through an ``aiohttp.ClientSession``, owned or borrowed.

    Args:
        base_url: The API root every path is appended to.
        borrowed: A session to use and never close; without one, a session with
            ``connection_limit`` connections is created on first use, inside the loop.
        connection_limit: Connections an owned session opens at most.
    """

    def __init__(
        self, base_url: str, borrowed: aiohttp.ClientSession | None, connection_limit: int
    ) -> None:
        if borrowed is not None and not isinstance(borrowed, aiohttp.ClientSession):
            raise ConfigurationError("session must be an aiohttp.ClientSession")
        self._base_url = base_url
        self._http = borrowed
        self._owns_http = borrowed is None
        self._limit = connection_limit
        self._closed = False
        self._urls: dict[str, URL] = {}

    @property
    def connection_limit(self) -> int:
        """The owned session's limit, or the borrowed session's own (0: none)."""
        if self._owns_http:
            return self._limit
        connector = self._http.connector if self._http is not None else None
        if connector is None:
            return 0
        limits = [limit for limit in (connector.limit, connector.limit_per_host) if limit]
        return min(limits, default=0)

    def open(self) -> None:
        """Create the owned session (inside the running loop) if it does not exist yet."""
        if self._closed:
            raise LifecycleError("this Calypso client is closed; create a new one")
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        elif self._http.closed:
            raise LifecycleError("the aiohttp.ClientSession this client borrows is closed")

    async def send(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """Send one attempt and read its whole answer (see ``Transport.send``)."""
        http = self._http
        if http is None:
            raise LifecycleError("this Calypso client is closed; create a new one")
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = URL(self._base_url + path)
        try:
            # Never follow a redirect: it could leave TLS or the API host and replay the
            # signed body there (307/308). A 3xx surfaces as an APIError instead.
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
                return Answer(response.status, response.headers, await response.read())
        except asyncio.CancelledError as exc:
            # Cancelled from outside (a timeout, the caller) while inside aiohttp: its
            # frames must not travel up with the cancellation either.
            frameless(exc)
            raise
        except TimeoutError:
            raise  # aiohttp's ServerTimeoutError too: the session reads it as a timeout
        except aiohttp.ClientSSLError as exc:
            raise TLSFailed(str(exc)) from frameless(exc)
        except aiohttp.ClientConnectorError as exc:
            raise NotSent(str(exc)) from frameless(exc)
        except aiohttp.ClientError as exc:
            raise AnswerLost(type(exc).__name__) from frameless(exc)

    async def aclose(self) -> None:
        """Close the session if this transport created it; idempotent."""
        self._closed = True
        http, self._http = self._http, None
        if http is not None and self._owns_http and not http.closed:
            await http.close()


def frameless(exc: BaseException) -> BaseException:
    """Drop the tracebacks of a failure from inside aiohttp, and of what it chains.

    aiohttp's frames hold the request's headers in a plain mapping, ``Key`` and ``Sign``
    included, and its body: an error reporter that captures frame locals along the cause
    chain would record a request anyone could replay for three minutes. The exception's
    type and message say what went wrong; where in aiohttp it did is lost.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return exc
