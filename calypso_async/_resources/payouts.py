"""``client.payouts``: single and mass payouts, settlement payouts, withdrawals."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .._core import checks as check
from .._core.retry import Replay
from .._errors import ConfigurationError, DecodeError, PayoutStateError, WaitTimeoutError
from .._types import (
    MassPayout,
    Payout,
    PayoutState,
    SettlementPayout,
    Withdrawal,
    structure,
)
from .base import Resource
from .polling import Poll, wanted_states

__all__ = ["MAX_RECIPIENTS", "PAYOUT_FINAL_STATES", "Payouts"]

PAYOUT_FINAL_STATES = frozenset({PayoutState.COMPLETED, PayoutState.FAILED, PayoutState.CANCELED})
"""States a single payout never leaves (``PARTIAL`` is a mass payout's, and moves on)."""

MAX_RECIPIENTS = 10_000
"""The most recipients one mass payout takes (Calypso's newest published limit)."""

_SETTLEMENT_WITHDRAWALS = "/api/v1/settlement/payout/withdrawals"

Amount = Decimal | int | str


def _lookup(name: str, value: str | None, idempotency_key: str | None) -> dict[str, str]:
    if (value is None) == (idempotency_key is None):
        raise ConfigurationError(f"give exactly one of {name} and idempotency_key")
    if value is not None:
        return {"id": check.identifier(name, value)}
    return {"idempotencyKey": check.identifier("idempotency_key", idempotency_key)}


def _recipients(recipients: object) -> list[dict[str, Any]]:
    if isinstance(recipients, (str, bytes)) or not isinstance(recipients, Iterable):
        raise ConfigurationError("recipients must be a list of (deposit_address, amount) pairs")
    result: list[dict[str, Any]] = []
    for index, recipient in enumerate(recipients):
        if len(result) == MAX_RECIPIENTS:
            raise ConfigurationError(
                f"recipients holds more than {MAX_RECIPIENTS:,}: split the mass payout"
            )
        if not isinstance(recipient, tuple) or len(recipient) != 2:
            raise ConfigurationError(
                f"recipients[{index}] must be a (deposit_address, amount) pair"
            )
        address, amount = recipient
        result.append(
            {
                "depositAddress": check.identifier(f"recipients[{index}] address", address),
                "amount": check.amount(f"recipients[{index}] amount", amount),
            }
        )
    if not result:
        raise ConfigurationError("recipients must hold at least one recipient")
    return result


class Payouts(Resource):
    """Payout operations, reached as ``client.payouts``.

    Money leaves the account: a create carries an idempotency key (given or generated
    before the first attempt, reused on every retry), so a retried create never pays
    twice, and ``error.idempotency_key`` finds the payout after a failure.
    """

    async def create(
        self,
        *,
        deposit_address: str,
        amount: Amount,
        currency: str,
        comment: str | None = None,
        idempotency_key: str | None = None,
        external_id: str | None = None,
    ) -> Payout:
        """Pay ``amount`` of ``currency`` to ``deposit_address`` (``/api/v1/payout/create``).

        Args:
            deposit_address: Where the money goes, on ``currency``'s chain.
            amount: How much, a ``Decimal``, ``int`` or numeric ``str`` (a ``float`` is
                refused: it is not exact).
            currency: A Calypso currency code, such as ``"USDT"``.
            comment: A note kept with the payout.
            idempotency_key: Sent on every attempt; a UUID4 when omitted (it is on the
                returned payout, and on the error if the create fails).
            external_id: Your own reference for the payout.

        Returns:
            The payout, normally ``CONFIRMED`` (it then goes ``IN_PROGRESS`` and
            ``COMPLETED``).

        Raises:
            ConfigurationError: An argument is invalid (nothing was sent).
            BadRequestError: Refused; ``error.code`` ``DUPLICATE_KEY_OR_INVALID_PAYOUT``
                (``016``) for a payout that failed validation (such as the balance).
            CalypsoError: The create failed; ``error.idempotency_key`` finds it later.
        """
        return await self._create(
            "/api/v1/payout/create",
            {
                "depositAddress": check.identifier("deposit_address", deposit_address),
                "amount": check.amount("amount", amount),
                "currency": check.identifier("currency", currency),
                "comment": check.optional_text("comment", comment),
                "idempotencyKey": check.optional_identifier("idempotency_key", idempotency_key),
                "externalId": check.optional_text("external_id", external_id),
            },
            Payout,
        )

    async def get(
        self, payout_id: str | None = None, *, idempotency_key: str | None = None
    ) -> Payout:
        """Read one payout by id or by its idempotency key (``/api/v1/payout``).

        Args:
            payout_id: The payout id. Give exactly one of ``payout_id`` and
                ``idempotency_key``.
            idempotency_key: The key passed (or generated) when it was created.

        Raises:
            ConfigurationError: Neither or both were given, or one is malformed.
            NotFoundError: No such payout.
        """
        payload = _lookup("payout_id", payout_id, idempotency_key)
        return await self._read("/api/v1/payout", payload, Payout)

    async def create_mass(
        self,
        *,
        currency: str,
        recipients: Iterable[tuple[str, Amount]],
        name: str | None = None,
        comment: str | None = None,
        idempotency_key: str | None = None,
    ) -> MassPayout:
        """Pay many addresses in one currency (``/api/v1/payout/mass/create``).

        The recipients go on the wire as ``payouts``: ``[{depositAddress, amount}]``
        (Calypso does not publish the field's name; this is the SDK's reading).

        Args:
            currency: The currency paid out to every recipient.
            recipients: ``(deposit_address, amount)`` pairs: at least one, at most
                :data:`MAX_RECIPIENTS` (10,000). Amounts as for :meth:`create`.
            name: A name for the mass payout.
            comment: A note kept with it.
            idempotency_key: As for :meth:`create`.

        Returns:
            The mass payout, with one payout per recipient in ``payouts``.

        Raises:
            ConfigurationError: An argument is invalid, or there are no recipients or
                too many (nothing was sent).
            CalypsoError: The create failed; ``error.idempotency_key`` finds it later.
        """
        return await self._create(
            "/api/v1/payout/mass/create",
            {
                "currency": check.identifier("currency", currency),
                "name": check.optional_text("name", name),
                "comment": check.optional_text("comment", comment),
                "idempotencyKey": check.optional_identifier("idempotency_key", idempotency_key),
                "payouts": _recipients(recipients),
            },
            MassPayout,
        )

    async def get_mass(
        self, mass_payout_id: str | None = None, *, idempotency_key: str | None = None
    ) -> MassPayout:
        """Read one mass payout by id or idempotency key (``/api/v1/payout/mass``).

        The docs do not spell out this payload; the SDK sends ``id`` or
        ``idempotencyKey``, as for a single payout.

        Raises:
            ConfigurationError: Neither or both were given, or one is malformed.
            NotFoundError: No such mass payout.
        """
        payload = _lookup("mass_payout_id", mass_payout_id, idempotency_key)
        return await self._read("/api/v1/payout/mass", payload, MassPayout)

    async def withdrawal(self, request_id: str) -> Withdrawal:
        """Read a withdrawal by its request id (``/api/v1/payout/withdrawal``).

        Raises:
            ConfigurationError: ``request_id`` is malformed.
            NotFoundError: No such withdrawal.
        """
        payload = {"requestId": check.identifier("request_id", request_id)}
        return await self._read("/api/v1/payout/withdrawal", payload, Withdrawal)

    async def settlement(
        self, payout_id: str | None = None, *, idempotency_key: str | None = None
    ) -> SettlementPayout:
        """Read a settlement payout, with its fees (``/api/v1/settlement/payout``).

        Raises:
            ConfigurationError: Neither or both were given, or one is malformed.
            NotFoundError: No such settlement payout.
        """
        payload = _lookup("payout_id", payout_id, idempotency_key)
        return await self._read("/api/v1/settlement/payout", payload, SettlementPayout)

    async def settlement_withdrawals(self, request_id: str) -> list[Withdrawal]:
        """Read a settlement's withdrawals (``/api/v1/settlement/payout/withdrawals``).

        The answer's shape is not published: a JSON array of withdrawals, an object
        holding one array of them, or a single withdrawal object are all read.

        Raises:
            ConfigurationError: ``request_id`` is malformed.
            DecodeError: The answer holds no withdrawals in any of those shapes.
        """
        payload = {"requestId": check.identifier("request_id", request_id)}
        path = _SETTLEMENT_WITHDRAWALS
        data = await self._session.call(path, payload, retry=Replay.SAFE)
        if isinstance(data, dict) and "id" not in data:
            lists = [value for value in data.values() if isinstance(value, list)]
            if len(lists) != 1:
                raise DecodeError("expected one array of withdrawals in the answer", path=path)
            data = lists[0]
        items = data if isinstance(data, list) else [data]
        return [structure(item, Withdrawal, path=path) for item in items]

    async def wait_for(
        self,
        payout_id: str,
        states: PayoutState | Iterable[PayoutState],
        *,
        timeout: float = 60.0,
        interval: float = 1.0,
        max_interval: float = 10.0,
    ) -> Payout:
        """Poll a payout until it reaches one of ``states`` (as ``invoices.wait_for``).

        Polls back off from ``interval`` to ``max_interval`` with a little jitter; a
        transient failure is logged and polled through while time remains.
        ``COMPLETED``, ``FAILED`` and ``CANCELED`` are final: reaching one that is not
        wanted ends the wait at once.

        Args:
            payout_id: The payout id.
            states: One state or several; the wait ends at the first one reached.
            timeout: Seconds to wait in all.
            interval: Seconds before the second poll.
            max_interval: The longest pause between two polls.

        Returns:
            The payout, in one of ``states``.

        Raises:
            WaitTimeoutError: Time ran out; ``last_payout`` is the last one read.
            PayoutStateError: The payout reached a final state not in ``states``.
        """
        wanted = wanted_states(states, PayoutState)
        check.identifier("payout_id", payout_id)
        poll = Poll(self._runtime, timeout=timeout, interval=interval, max_interval=max_interval)

        def final_error(message: str, payout: Payout) -> Exception:
            return PayoutStateError(message, payout=payout)

        def timeout_error(message: str, payout: Payout | None) -> Exception:
            return WaitTimeoutError(
                message, last_invoice=None, last_payout=payout, path="/api/v1/payout"
            )

        return await poll.until(
            lambda: self.get(payout_id),
            lambda payout: payout.state,
            wanted,
            PAYOUT_FINAL_STATES,
            kind="payout",
            ident=payout_id,
            final_error=final_error,
            timeout_error=timeout_error,
        )
