"""``client.invoices``: keyword arguments in, :class:`Invoice` out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from .._core import checks as check
from .._errors import ConfigurationError, InvoiceStateError, WaitTimeoutError
from .._types import Invoice, InvoiceState
from .base import Resource
from .polling import Poll, wanted_states

__all__ = ["FINAL_STATES", "Invoices"]

FINAL_STATES = frozenset({InvoiceState.COMPLETED, InvoiceState.ARCHIVED, InvoiceState.DECLINED})
"""States an invoice never leaves."""


class Invoices(Resource):
    """Invoice operations, reached as ``client.invoices``."""

    async def get(self, id: str | None = None, *, idempotency_key: str | None = None) -> Invoice:
        """Read one invoice by its id or by the idempotency key it was created with.

        Args:
            id: The invoice id. Give exactly one of ``id`` and ``idempotency_key``.
            idempotency_key: The key passed (or generated) when it was created.

        Raises:
            ConfigurationError: Neither or both were given, or one is malformed.
            NotFoundError: No such invoice.
        """
        if (id is None) == (idempotency_key is None):
            raise ConfigurationError("give exactly one of id and idempotency_key")
        if id is not None:
            payload = {"id": check.identifier("id", id)}
        else:
            payload = {"idempotencyKey": check.identifier("idempotency_key", idempotency_key)}
        return await self._read("/api/v1/invoice", payload, Invoice)

    async def create_single(
        self,
        *,
        amount: Decimal | int | str,
        currency: str,
        description: str,
        idempotency_key: str | None = None,
        external_id: str | None = None,
        expiration: datetime | None = None,
        return_url: str | None = None,
        logo_url: str | None = None,
        support_url: str | None = None,
        fiat_available: bool | None = None,
    ) -> Invoice:
        """Create a single invoice for a crypto ``amount``.

        Args:
            amount: What the payer must send, in ``currency``. A ``float`` is converted
                through ``str()`` (its shortest repr); pass ``Decimal`` to be exact.
            currency: A Calypso currency code, such as ``"USDT"`` or ``"ETH"``.
            description: Shown to the payer.
            idempotency_key: Sent on every attempt; a UUID4 when omitted (it is on the
                returned invoice, and on the error if the create fails).
            external_id: Your own reference for the invoice.
            expiration: When the invoice expires (a timezone-aware ``datetime``).
            return_url: Where the payment page sends the payer back.
            logo_url: A logo shown on the payment page.
            support_url: A support link shown on the payment page.
            fiat_available: Whether the payer may see fiat equivalents.

        Raises:
            ConfigurationError: An argument is invalid (nothing was sent).
            CalypsoError: The create failed; ``error.idempotency_key`` finds it later.
        """
        return await self._create(
            "/api/v1/invoice/single/create",
            {
                "amount": check.amount("amount", amount),
                "currency": check.identifier("currency", currency),
                "description": check.text("description", description),
                "idempotencyKey": check.optional_identifier("idempotency_key", idempotency_key),
                "externalId": check.optional_text("external_id", external_id),
                "expiration": check.optional_timestamp("expiration", expiration),
                "returnUrl": check.optional_url("return_url", return_url),
                "logoUrl": check.optional_url("logo_url", logo_url),
                "supportUrl": check.optional_url("support_url", support_url),
                "fiatAvailable": check.optional_bool("fiat_available", fiat_available),
            },
            Invoice,
        )

    async def create_fiat(
        self,
        *,
        fiat_amount: Decimal | int | str,
        fiat_currency: str,
        currency: str,
        description: str,
        idempotency_key: str | None = None,
        external_id: str | None = None,
    ) -> Invoice:
        """Create a single invoice priced in fiat; Calypso recomputes the crypto amount.

        Args:
            fiat_amount: The price in ``fiat_currency``.
            fiat_currency: The fiat currency code, such as ``"USD"``.
            currency: The crypto currency the payer pays in.
            description: Shown to the payer.
            idempotency_key: As for :meth:`create_single`.
            external_id: Your own reference for the invoice.

        Raises:
            ConfigurationError: An argument is invalid (nothing was sent).
            CalypsoError: The create failed; ``error.idempotency_key`` finds it later.
        """
        return await self._create(
            "/api/v1/invoice/single-fiat/create",
            {
                "fiatAmount": check.amount("fiat_amount", fiat_amount),
                "fiatCurrency": check.identifier("fiat_currency", fiat_currency),
                "currency": check.identifier("currency", currency),
                "description": check.text("description", description),
                "idempotencyKey": check.optional_identifier("idempotency_key", idempotency_key),
                "externalId": check.optional_text("external_id", external_id),
            },
            Invoice,
        )

    async def create_unlimited(
        self,
        *,
        currency: str,
        description: str,
        idempotency_key: str | None = None,
        external_id: str | None = None,
        return_url: str | None = None,
        logo_url: str | None = None,
        support_url: str | None = None,
        fiat_available: bool | None = None,
    ) -> Invoice:
        """Create an unlimited invoice: any number of payments of any amount.

        Args:
            currency: The crypto currency the invoice takes.
            description: Shown to the payer.
            idempotency_key: As for :meth:`create_single`.
            external_id: Your own reference for the invoice.
            return_url: Where the payment page sends the payer back.
            logo_url: A logo shown on the payment page.
            support_url: A support link shown on the payment page.
            fiat_available: Whether the payer may see fiat equivalents.

        Raises:
            ConfigurationError: An argument is invalid (nothing was sent).
            CalypsoError: The create failed; ``error.idempotency_key`` finds it later.
        """
        return await self._create(
            "/api/v1/invoice/unlimited/create",
            {
                "currency": check.identifier("currency", currency),
                "description": check.text("description", description),
                "idempotencyKey": check.optional_identifier("idempotency_key", idempotency_key),
                "externalId": check.optional_text("external_id", external_id),
                "returnUrl": check.optional_url("return_url", return_url),
                "logoUrl": check.optional_url("logo_url", logo_url),
                "supportUrl": check.optional_url("support_url", support_url),
                "fiatAvailable": check.optional_bool("fiat_available", fiat_available),
            },
            Invoice,
        )

    async def create_bound(
        self,
        *,
        lower_bound: Decimal | int | str,
        currency: str,
        description: str,
        idempotency_key: str | None = None,
        external_id: str | None = None,
        fiat_available: bool | None = None,
        return_url: str | None = None,
    ) -> Invoice:
        """Create a bound invoice: payments of at least ``lower_bound``.

        Args:
            lower_bound: The smallest payment accepted, in ``currency``.
            currency: The crypto currency the invoice takes.
            description: Shown to the payer.
            idempotency_key: As for :meth:`create_single`.
            external_id: Your own reference for the invoice.
            fiat_available: Whether the payer may see fiat equivalents.
            return_url: Where the payment page sends the payer back.

        Raises:
            ConfigurationError: An argument is invalid (nothing was sent).
            CalypsoError: The create failed; ``error.idempotency_key`` finds it later.
        """
        return await self._create(
            "/api/v1/invoice/bound/create",
            {
                "lowerBound": check.amount("lower_bound", lower_bound),
                "currency": check.identifier("currency", currency),
                "description": check.text("description", description),
                "idempotencyKey": check.optional_identifier("idempotency_key", idempotency_key),
                "externalId": check.optional_text("external_id", external_id),
                "fiatAvailable": check.optional_bool("fiat_available", fiat_available),
                "returnUrl": check.optional_url("return_url", return_url),
            },
            Invoice,
        )

    async def return_to_paid(self, id: str, *, send_by: float | None = None) -> Invoice:
        """Accept the money of an invoice in ``PENDING_INTERVENTION``: it goes to ``PAID``.

        Never retried once the request may have reached the server: after a
        :class:`CalypsoConnectionError` or :class:`CalypsoTimeoutError`, re-read the invoice
        to learn whether it took effect (``InterventionResolver`` does).

        Args:
            id: The invoice id.
            send_by: A time on the client's monotonic clock (``client.runtime.clock``)
                by which the request must have left and been answered: too close to it,
                nothing is sent and ``CalypsoTimeoutError`` (``request_sent`` ``False``)
                is raised; an answer is not waited for past it.

        Returns:
            The invoice, normally ``PAID`` (``COMPLETED`` follows by itself).

        Raises:
            BadRequestError: The invoice is not in ``PENDING_INTERVENTION``.
            CalypsoConnectionError: The answer was lost: re-read the invoice to know.
        """
        payload = {"id": check.identifier("id", id)}
        path = "/api/v1/invoice/return-to-paid"
        return await self._write(path, payload, Invoice, send_by=send_by)

    async def close_intervention(self, id: str) -> Invoice:
        """Mark the intervention of a ``COMPLETED`` invoice resolved.

        Not retried once the request may have reached the server (see
        :meth:`return_to_paid`).

        Args:
            id: The invoice id.

        Returns:
            The invoice, ``is_intervention_resolved`` true.

        Raises:
            BadRequestError: The invoice is not COMPLETED or has no open intervention.
            CalypsoConnectionError: The answer was lost: re-read the invoice to know.
        """
        payload = {"id": check.identifier("id", id)}
        return await self._write("/api/v1/invoice/close-intervention", payload, Invoice)

    async def wait_for(
        self,
        id: str,
        states: InvoiceState | Iterable[InvoiceState],
        *,
        timeout: float = 60.0,
        interval: float = 1.0,
        max_interval: float = 10.0,
    ) -> Invoice:
        """Poll an invoice until it reaches one of ``states``.

        Polls start ``interval`` seconds apart and back off by half each time up to
        ``max_interval`` (with a little jitter, so many waiters do not poll in step).
        A transient failure (connection, timeout, 429, 5xx) is logged and polled
        through while time remains; a poll still running when ``timeout`` runs out is
        cut short. The last pause ends early enough (a second, or a quarter of
        ``timeout`` if less) for a last poll to be answered within ``timeout``.

        Wait for states the invoice stays in: ``PAID`` moves on to ``COMPLETED`` by
        itself, so to learn that an invoice was paid wait for
        ``{InvoiceState.PAID, InvoiceState.COMPLETED}`` (``COMPLETED`` alone is final,
        and reaching it while waiting for ``PAID`` only raises ``InvoiceStateError``).

        Args:
            id: The invoice id.
            states: One state or several; the wait ends at the first one reached.
            timeout: Seconds to wait in all.
            interval: Seconds before the second poll.
            max_interval: The longest pause between two polls.

        Returns:
            The invoice, in one of ``states``.

        Raises:
            WaitTimeoutError: Time ran out; ``last_invoice`` is the last one read.
            InvoiceStateError: The invoice reached a final state not in ``states``.
        """
        wanted = wanted_states(states, InvoiceState)
        check.identifier("id", id)
        poll = Poll(self._runtime, timeout=timeout, interval=interval, max_interval=max_interval)

        def final_error(message: str, invoice: Invoice) -> Exception:
            return InvoiceStateError(message, invoice=invoice)

        def timeout_error(message: str, invoice: Invoice | None) -> Exception:
            return WaitTimeoutError(message, last_invoice=invoice, path="/api/v1/invoice")

        return await poll.until(
            lambda: self.get(id),
            lambda invoice: invoice.state,
            wanted,
            FINAL_STATES,
            kind="invoice",
            ident=id,
            final_error=final_error,
            timeout_error=timeout_error,
        )
