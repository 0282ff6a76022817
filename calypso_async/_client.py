"""``CalypsoClient``: the entry point, holding one session and the resource namespaces."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Self

from ._account import Account
from ._config import DEFAULT_BASE_URL
from ._errors import ConfigurationError
from ._invoices import Invoices
from ._retry import RetryPolicy
from ._session import CalypsoSession, Sleep
from ._webhooks import Webhooks

if TYPE_CHECKING:
    import aiohttp

__all__ = ["CalypsoClient"]

_ENV = {
    "api_key": "CALYPSO_API_KEY",
    "secret_key": "CALYPSO_SECRET_KEY",
    "account": "CALYPSO_ACCOUNT",
}


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
        base_url: ``https://api.calypso.finance`` by default; plain ``http`` is accepted
            only for a loopback address (such as ``FakeCalypso``).
        session: An ``aiohttp.ClientSession`` to borrow.
        timeout: Seconds one attempt may take.
        deadline: Seconds one call may take, retries included.
        max_retries: Retries after the first attempt for calls safe to retry (``0``
            disables).
        retry_policy: Full backoff settings; overrides ``max_retries``.
        sync_clock: Correct request timestamps by the server's clock (``Date`` header).
        connection_limit: Connections an owned session keeps open at most.
        sleep: Awaited for every wait; tests inject one that returns at once.
        clock: Monotonic seconds, for deadlines and polling.
        wall_clock: Unix seconds, for request timestamps.
        rand: Uniform numbers in [0, 1) for jitter.
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
            self.session = CalypsoSession(
                api_key=api_key,
                secret_key=secret_key,
                account=account,
                base_url=base_url,
                session=session,
                timeout=timeout,
                deadline=deadline,
                max_retries=max_retries,
                retry_policy=retry_policy,
                sync_clock=sync_clock,
                connection_limit=connection_limit,
                sleep=sleep,
                clock=clock,
                wall_clock=wall_clock,
                rand=rand,
            )
            """The :class:`CalypsoSession` underneath, for calls no resource covers yet."""
        except ConfigurationError as exc:
            refused = str(exc)
        del secret_key, api_key  # a refused setting leaves neither in this frame
        if refused is not None:
            raise ConfigurationError(refused) from None

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
        missing = [var for var in _ENV.values() if not env.get(var)]
        refused: Exception
        if missing:
            refused = ConfigurationError(
                "missing environment variable(s): "
                + ", ".join(missing)
                + " (CALYPSO_BASE_URL is optional)"
            )
        else:
            settings: dict[str, Any] = {name: env[var] for name, var in _ENV.items()}
            if env.get("CALYPSO_BASE_URL"):
                settings["base_url"] = env["CALYPSO_BASE_URL"]
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
        """Close what the client opened (not a borrowed aiohttp session); idempotent."""
        await self.session.aclose()

    @cached_property
    def invoices(self) -> Invoices:
        """Invoice operations: create, get, wait_for, return_to_paid, close_intervention."""
        return Invoices(self.session)

    @cached_property
    def webhooks(self) -> Webhooks:
        """Webhook subscription operations: create, list, delete."""
        return Webhooks(self.session)

    @cached_property
    def account(self) -> Account:
        """Account operations: balances."""
        return Account(self.session)
