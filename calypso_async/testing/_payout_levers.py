"""The payout levers of ``FakeCalypso``: fund the account, move payouts on, look inside."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .._core import checks
from ._currencies import check_money
from ._engine import Engine
from ._payout_ops import advance, fail

__all__ = ["PayoutLevers"]


class PayoutLevers:
    """What a test does with payouts on ``FakeCalypso``.

    A payout created through the API starts ``CONFIRMED`` and is debited at once (the
    account needs the money: :meth:`fund`, or settled invoices); it then moves
    ``IN_PROGRESS`` (with a transaction hash) and ``COMPLETED``, each step either after
    :attr:`payout_step_delay` seconds or when :meth:`advance_payout` is called. An
    address starting with ``bad`` fails validation (``016``; in a mass payout, that
    recipient alone fails and the mass payout ends ``PARTIAL``). Webhooks go out with
    ``service: "PAYOUT"``: ``PAYOUT_CHANGE_STATUS`` on each change,
    ``PAYOUT_CONFIRMED``, ``PAYOUT_HASH_RECEIVED`` and ``PAYOUT_VALIDATION_ERROR``.
    """

    _engine: Engine

    @property
    def payout_step_delay(self) -> float | None:
        """Seconds between a payout's steps (0.05); ``None``: only :meth:`advance_payout`."""
        return self._engine.payout_step_delay

    @payout_step_delay.setter
    def payout_step_delay(self, seconds: float | None) -> None:
        if seconds is not None:
            seconds = checks.seconds("payout_step_delay", seconds, allow_zero=True)
        self._engine.payout_step_delay = seconds

    async def fund(self, currency: str, amount: Decimal | str | int) -> Decimal:
        """Credit ``amount`` of ``currency`` to the account, for payouts to draw on.

        Returns:
            The new balance of ``currency``.

        Raises:
            ConfigurationError: ``amount`` is not a positive number (a float is refused).
            FakeCalypsoError: ``currency`` is not one of ``FAKE_CURRENCIES`` (codes are
                case-sensitive), or ``amount`` has more decimals than its ``scale``
                (400 ``001``, as the API would answer).
        """
        value = checks.amount("amount", amount)
        check_money(currency, value)
        balances = self._engine.book.balances
        balances[currency] = balances.get(currency, Decimal(0)) + value
        return balances[currency]

    async def advance_payout(self, payout_id: str) -> dict[str, Any]:
        """Move a payout (or mass payout) one step.

        ``CONFIRMED`` -> ``IN_PROGRESS`` -> ``COMPLETED`` (a mass payout with a failed
        recipient ends ``PARTIAL``).

        Returns:
            Its wire JSON after the step.

        Raises:
            FakeCalypsoError: Unknown id (``004``), or a state that does not move on
                (``012``).
        """
        self._engine.require_running()
        advance(self._engine, payout_id)
        return self._payout_or_mass(payout_id)

    async def fail_payout(
        self, payout_id: str, message: str = "the payout failed"
    ) -> dict[str, Any]:
        """Fail an open payout (every open recipient of a mass payout) with ``message``.

        Only ``CONFIRMED`` or ``IN_PROGRESS`` payouts fail; ``message`` goes into its
        errors and its amount back to the balance.

        Raises:
            FakeCalypsoError: Unknown id (``004``), or already finished (``012``).
        """
        self._engine.require_running()
        fail(self._engine, payout_id, message)
        return self._payout_or_mass(payout_id)

    def payout(self, payout_id: str) -> dict[str, Any]:
        """A snapshot of a payout as its wire JSON (a mass payout's recipients included).

        Raises:
            FakeCalypsoError: No such payout (status 404, ``004``).
        """
        return self._engine.payouts.find(payout_id).to_wire()

    def mass_payout(self, mass_payout_id: str) -> dict[str, Any]:
        """A snapshot of a mass payout as its wire JSON.

        Raises:
            FakeCalypsoError: No such mass payout (status 404, ``004``).
        """
        return self._engine.payouts.find_mass(mass_payout_id).to_wire()

    @property
    def payouts(self) -> list[dict[str, Any]]:
        """Snapshots of every payout (mass payouts' recipients included), oldest first."""
        return [payout.to_wire() for payout in self._engine.payouts.payouts.values()]

    def _payout_or_mass(self, payout_id: str) -> dict[str, Any]:
        if payout_id in self._engine.payouts.masses:
            return self.mass_payout(payout_id)
        return self.payout(payout_id)
