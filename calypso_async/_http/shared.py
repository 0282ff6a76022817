"""What a session and the sessions derived from it by ``with_options`` share.

One :class:`SharedState` per client built with credentials: the transport (and the
aiohttp session it creates lazily), the connection gate, the loop the client is bound
to, the server clock learned from ``Date`` headers, and whether the owner has closed it.
A derived session holds the same object, so it opens no connection of its own, learns
the same clock offset and is closed exactly when its owner is.
"""

from __future__ import annotations

import asyncio

from .._aio import ConnectionGate, Timeouts
from .._core.clock import ServerClock
from .._errors import LifecycleError
from .transport import Transport

__all__ = ["SharedState"]


class SharedState:
    """The connection pool, loop binding, server clock and closed flag of one client.

    Args:
        transport: Sends one attempt; holds the aiohttp session.
        server_clock: The server's clock as learned from its ``Date`` headers.
    """

    __slots__ = ("closed", "gate", "loop", "paths", "server_clock", "timeouts", "transport")

    def __init__(self, transport: Transport, server_clock: ServerClock) -> None:
        self.transport = transport
        self.server_clock = server_clock
        self.loop: asyncio.AbstractEventLoop | None = None
        self.timeouts: Timeouts | None = None
        self.gate: ConnectionGate | None = None
        self.closed = False
        self.paths: set[str] = set()
        """Paths already checked to start with ``/``."""

    def ready(self) -> None:
        """Refuse a closed client or another loop; bind to this loop on first use."""
        if self.closed:
            raise LifecycleError("this Calypso client is closed; create a new one")
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            if self.loop is not None:
                raise LifecycleError(
                    "this Calypso client belongs to another event loop; create one client per loop"
                )
            self.loop = loop
            self.timeouts = Timeouts(loop)
            limit = self.transport.connection_limit
            self.gate = ConnectionGate(limit) if limit else None
        self.transport.open()

    async def aclose(self) -> None:
        """Close the connection pool if it was created here; idempotent."""
        self.closed = True
        if self.timeouts is not None:
            self.timeouts.close()
        await self.transport.aclose()
