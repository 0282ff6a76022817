"""FakeCalypso's levers on time and webhook subscriptions: advance, block, unblock."""

from __future__ import annotations

import asyncio
import math

from .._errors import ConfigurationError
from ._engine import Engine
from ._records import WrongType

__all__ = ["WebhookLevers"]


class WebhookLevers:
    """Move the fake's clock, and block or unblock webhook subscriptions.

    Mixed into :class:`FakeCalypso`; it acts on the fake's engine.
    """

    _engine: Engine

    async def advance(self, seconds: float) -> None:
        """Make ``seconds`` pass on the fake's clock, at once.

        Webhook retries that fall due go out (await :meth:`wait_for_deliveries` to see
        them answered), invoices whose expiration passes expire, and failures older than
        the blocking window stop counting. Requests are still checked against the real
        clock (plus ``clock_skew``), so a client needs no resynchronising.

        With ``webhook_retry_delays=CALYPSO_WEBHOOK_RETRY_DELAYS`` (Calypso's schedule),
        ``await fake.advance(30)`` brings the first retry of a failed delivery.

        Raises:
            ConfigurationError: ``seconds`` is negative, NaN or infinite (time only
                moves forward).
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise WrongType("seconds must be a number")
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigurationError("advance() takes a finite number of seconds, 0 or more")
        self._engine.advance(float(seconds))
        await asyncio.sleep(0)  # let the retries that fell due start

    def block_subscription(self, request_id: str) -> None:
        """Block a subscription, as Calypso does after too many failed deliveries.

        Nothing is sent to it until :meth:`unblock_subscription`; what it would have
        been sent waits. (The fake also blocks one by itself: more than 100 failed
        deliveries within 10 minutes on its clock, none succeeding.)

        Raises:
            FakeCalypsoError: No such subscription (status 404, code ``004``).
        """
        self._engine.deliverer.block(self._engine.subscriptions.get(request_id))

    async def unblock_subscription(self, request_id: str) -> int:
        """Unblock a subscription and send it again what failed or waited meanwhile.

        Returns:
            How many deliveries were queued again.

        Raises:
            FakeCalypsoError: No such subscription (status 404, code ``004``).
        """
        self._engine.require_running()
        sent = self._engine.deliverer.unblock(self._engine.subscriptions.get(request_id))
        await asyncio.sleep(0)
        return sent

    def subscription_blocked(self, request_id: str) -> bool:
        """Whether the subscription is blocked (by a lever or by its failures).

        Raises:
            FakeCalypsoError: No such subscription (status 404, code ``004``).
        """
        return self._engine.subscriptions.get(request_id).blocked

    def held_deliveries(self, request_id: str) -> int:
        """How many deliveries wait for the subscription to be unblocked.

        Raises:
            FakeCalypsoError: No such subscription (status 404, code ``004``).
        """
        return self._engine.deliverer.held(self._engine.subscriptions.get(request_id))
