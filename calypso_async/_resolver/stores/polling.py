"""The claim source of a durable store: take the next due invoice, or wait a little.

A durable store hands out claims one at a time (:meth:`next_claim`), waiting up to a
short interval when nothing is due. This source turns that into the endless ``take()``
the worker pool expects, and rides out a store that cannot be reached: it logs once,
backs off, and takes up again when the store answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from ..._errors import StoreError
from ..ports import Claim

__all__ = ["ClaimingStore", "PollingSource"]

logger = logging.getLogger("calypso_async.store")


class ClaimingStore(Protocol):
    """What :class:`PollingSource` needs of a durable store."""

    url: str

    async def next_claim(self, owner: str, lease: float, *, wait: float) -> Claim | None:
        """Claim the next due invoice, waiting up to ``wait`` seconds for one."""
        ...

    async def counts(self) -> tuple[int, int]:
        """Invoices pending and invoices claimed."""
        ...


class PollingSource:
    """Hands a durable store's claims to one resolver's workers.

    Args:
        store: The store.
        owner: The resolver's name in its claims.
        lease: Seconds a claim lives without renewal.
        wait: Seconds one poll waits for work before asking again.
        backoff: Seconds between attempts while the store cannot be reached, at most.
    """

    def __init__(
        self,
        store: ClaimingStore,
        owner: str,
        lease: float,
        *,
        wait: float = 0.5,
        backoff: float = 5.0,
    ) -> None:
        self._store = store
        self._owner = owner
        self._lease = lease
        self._wait = wait
        self._backoff = backoff
        self._failing_since: float | None = None
        # One worker asks the store at a time; the idle others wait their turn here, so
        # an idle process costs the store one poll per interval, not one per worker.
        self._turn = asyncio.Lock()

    async def take(self) -> Claim:
        """Wait for the next due invoice and return it claimed."""
        async with self._turn:
            return await self._poll()

    async def _poll(self) -> Claim:
        delay = 0.1
        while True:
            try:
                claim = await self._store.next_claim(self._owner, self._lease, wait=self._wait)
            except StoreError as exc:
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                    logger.warning(
                        "the store cannot be reached (%s); workers retry until it answers",
                        exc,
                        extra={"calypso_store": self._store.url},
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff)
                continue
            if self._failing_since is not None:
                logger.warning(
                    "the store answers again after %.1f s; workers take up their work",
                    time.monotonic() - self._failing_since,
                    extra={"calypso_store": self._store.url},
                )
                self._failing_since = None
            delay = 0.1
            if claim is not None:
                return claim

    def done(self) -> None:
        """Nothing to count: the store knows what is left."""

    async def join(self) -> None:
        """Return once the store holds nothing pending or claimed."""
        while True:
            try:
                pending, running = await self._store.counts()
            except StoreError:
                pending = running = 1
            if pending == 0 and running == 0:
                return
            await asyncio.sleep(min(self._wait, 0.1))

    def close(self) -> list[str]:
        """Nothing to drop: a durable store keeps what is pending (workers stop taking)."""
        return []
