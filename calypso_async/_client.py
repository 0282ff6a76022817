"""``CalypsoClient``: the entry point, holding one session and the resource namespaces."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from functools import cached_property
from typing import Any, Self, Unpack

from ._errors import ConfigurationError
from ._http import CalypsoSession
from ._http.observe import Captured, capture
from ._resources import Account, Customers, Exchanges, Fiat, Invoices, Payouts, Webhooks
from ._settings import CallOptions, ClientOptions, ClientSettings, Runtime

__all__ = ["ENV_VARIABLES", "CalypsoClient"]

ENV_VARIABLES = {
    "api_key": "CALYPSO_API_KEY",
    "secret_key": "CALYPSO_SECRET_KEY",
    "account": "CALYPSO_ACCOUNT",
    "base_url": "CALYPSO_BASE_URL",
}
"""The environment variable each of ``from_env``'s settings comes from."""
_REQUIRED = ("api_key", "secret_key", "account")


class CalypsoClient:
    """An asyncio client for the Calypso Payment API 2.0.

    ::

        async with CalypsoClient(api_key=..., secret_key=..., account=...) as client:
            invoice = await client.invoices.create_single(
                amount=Decimal("10.234"), currency="USDT", description="order 42"
            )

    Settings are validated here, before any I/O; the aiohttp session is created lazily
    inside the running loop (or borrowed: pass ``session=`` and it is never closed by us).

    Args:
        api_key: The public API key.
        secret_key: The API secret; never sent, logged or shown in ``repr``.
        account: The merchant account id.
        **options: Every other setting, each optional (see ``ClientOptions``):
            ``base_url`` (``https://api.calypso.finance``; plain ``http`` only for a
            loopback address such as ``FakeCalypso``), ``session`` (an
            ``aiohttp.ClientSession`` to borrow), ``timeout`` (seconds per attempt, 30),
            ``deadline`` (seconds per call, retries included, 60), ``max_retries`` (2),
            ``retry_policy``, ``sync_clock`` (True), ``connection_limit`` (100),
            ``event_hooks`` (callables given each attempt's request, response and retry
            events), ``telemetry`` (OpenTelemetry spans and metrics, off), and
            ``sleep``, ``clock``, ``wall_clock``, ``rand`` (time and randomness; tests
            inject ones that never wait).

    Raises:
        ConfigurationError: A setting that cannot be used (nothing was sent).
        TypeError: An option that does not exist.
    """

    def __init__(
        self, *, api_key: str, secret_key: str, account: str, **options: Unpack[ClientOptions]
    ) -> None:
        refused: Exception | None = None
        try:
            self.session = CalypsoSession(
                api_key=api_key, secret_key=secret_key, account=account, **options
            )
            """The :class:`CalypsoSession` underneath, for calls no resource covers yet."""
        except (ConfigurationError, TypeError) as exc:
            refused = type(exc)(str(exc))
        del secret_key, api_key  # a refused setting leaves neither in this frame
        if refused is not None:
            raise refused from None

    def with_options(self, **options: Unpack[CallOptions]) -> Self:
        """A client for some calls with other ``timeout``, ``deadline`` or ``max_retries``.

        ::

            invoice = await client.with_options(timeout=5, max_retries=0).invoices.get(id)

        The derived client is cheap: it shares this client's connection pool (the same
        aiohttp session), its learned server clock, event hooks, telemetry, runtime and
        every other setting, and opens nothing of its own. Options not given are
        inherited, from a client that was itself derived too; ``with_options()`` with
        none is an equivalent client. Its resources (and a resolver built on it) use
        the new values: ``timeout`` per attempt, ``deadline`` per call, ``max_retries``
        for calls safe to repeat.

        Only the client built with credentials owns the pool: ``aclose()`` on a derived
        client, or leaving ``async with`` on one, does nothing and never closes the
        parent's session. Once the owner is closed, every derived client refuses calls
        with the same ``LifecycleError``.

        Args:
            **options: ``timeout``, ``deadline``, ``max_retries`` (see ``ClientOptions``).

        Raises:
            TypeError: An option ``with_options`` does not take (the message names those
                it takes).
            ConfigurationError: A value that cannot be used, checked as the client's own
                option is, before any I/O.
        """
        derived = object.__new__(type(self))
        derived.session = self.session.with_options(**options)
        return derived

    def capture(self) -> AbstractContextManager[Captured]:
        """Record the status and headers of the answers to the calls made inside the block.

        ::

            with client.capture() as seen:
                invoice = await client.invoices.get(invoice_id)
            print(seen.last.status, seen.last.headers.get("Date"))

        ``seen.last`` is the answer the call returned (the last attempt's);
        ``seen.responses`` holds one :class:`ResponseEvent` per attempt answered. Only
        this task's calls are recorded, whatever others run meanwhile.
        """
        return capture()

    @property
    def settings(self) -> ClientSettings:
        """The validated settings this client and its session share."""
        return self.session.settings

    @property
    def runtime(self) -> Runtime:
        """Where the client's time and randomness come from (for code built on it)."""
        return self.session.settings.runtime

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Self:
        """Build a client from the ``CALYPSO_*`` environment variables.

        Reads ``CALYPSO_API_KEY``, ``CALYPSO_SECRET_KEY``, ``CALYPSO_ACCOUNT`` and,
        optionally, ``CALYPSO_BASE_URL``.

        Args:
            environ: Where to read the variables (``os.environ`` by default).
            **options: Any other keyword argument of :class:`CalypsoClient`.

        Raises:
            ConfigurationError: A required variable is missing or empty (the message
                names the variables, never a value).
        """
        env = os.environ if environ is None else environ
        missing = [ENV_VARIABLES[name] for name in _REQUIRED if not env.get(ENV_VARIABLES[name])]
        refused: Exception
        if missing:
            refused = ConfigurationError(
                "missing environment variable(s): "
                + ", ".join(missing)
                + " (CALYPSO_BASE_URL is optional)"
            )
        else:
            settings: dict[str, Any] = {
                name: env[var] for name, var in ENV_VARIABLES.items() if env.get(var)
            }
            settings.update(options)
            try:
                return cls(**settings)
            except (ConfigurationError, TypeError) as exc:
                refused = type(exc)(str(exc))
            del settings
        # Raised afresh outside any except block, with the secrets (and the whole
        # environment) gone from this frame: tracebacks that capture locals keep frames.
        del env, environ, options
        raise refused

    def __repr__(self) -> str:
        session = getattr(self, "session", None)  # may run on a half-built instance
        if session is None:
            return "CalypsoClient(<not initialised>)"
        return f"CalypsoClient(base_url={session.base_url!r}, account={session.account!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close what the client opened (not a borrowed aiohttp session); idempotent.

        On a client made by :meth:`with_options`, nothing: its owner closes the pool.
        """
        await self.session.aclose()

    @cached_property
    def invoices(self) -> Invoices:
        """Invoice operations: create, get, wait_for, return_to_paid, close_intervention."""
        return Invoices(self.session, self.runtime)

    @cached_property
    def webhooks(self) -> Webhooks:
        """Webhook subscription operations: create, list, delete."""
        return Webhooks(self.session, self.runtime)

    @cached_property
    def account(self) -> Account:
        """Account operations: balances."""
        return Account(self.session, self.runtime)

    @cached_property
    def payouts(self) -> Payouts:
        """Payout operations: create, get, mass payouts, settlements, withdrawals, wait_for."""
        return Payouts(self.session, self.runtime)

    @cached_property
    def exchange(self) -> Exchanges:
        """Exchange operations: pairs, pre_calculate, limit, average_rate, create, get."""
        return Exchanges(self.session, self.runtime)

    @cached_property
    def customers(self) -> Customers:
        """Customer purse operations: create, update, deposit_address, transactions."""
        return Customers(self.session, self.runtime)

    @cached_property
    def fiat(self) -> Fiat:
        """Fiat on-ramp operations: order, methods, geos."""
        return Fiat(self.session, self.runtime)
