"""A standalone resolver worker: an InterventionResolver in worker mode on a shared store.

It receives no webhooks. Receivers accept ``INVOICE_PENDING_INTERVENTION`` events into
a store (``calypso-async worker --store URL``, or an app of yours whose
``InterventionResolver`` has ``store=store_from_url(URL)``, such as ``fastapi_app.py``
with ``CALYPSO_STORE_URL``); this worker, and every other process on the same store,
claims them and settles them with the policy below, at most one return-to-paid per
invoice among them all. SIGTERM or SIGINT stops it: it drains the running work (what is
cut short goes back to the store for another worker) and exits 0.

When to use which:

* ``calypso-async worker --store URL --no-listen --policy mymodule:policy`` is the same
  thing with no code: prefer it while flags cover what you need.
* This program when you need Python around the resolver: an ``on_outcome`` hook (tell a
  human about a held invoice, mark the order paid), your own logging or metrics, a
  client with your own options, or the worker embedded in a service you already run.

It reads the ``CALYPSO_*`` variables (``CalypsoClient.from_env()``) and
``CALYPSO_STORE_URL`` (default ``sqlite:///./calypso-resolver.db``, the default of
``calypso-async worker`` too). Run it against the fake, from the repository's root::

    calypso-async fake --port 8080 --commands
    # first line: CALYPSO_BASE_URL=... CALYPSO_API_KEY=... CALYPSO_SECRET_KEY=...
    # CALYPSO_ACCOUNT=...: in each other terminal, type export and paste it. Then:
    python examples/worker.py
    # a receiver on the same store, in a third terminal (it resolves too: they share)
    calypso-async webhooks create http://127.0.0.1:8000/calypso/webhooks
    CALYPSO_WEBHOOK_SECRET=... calypso-async worker --listen 127.0.0.1:8000
    # then an invoice (calypso-async invoice create 10.234 USDT 'order 42' prints its id)
    # and, in the fake's terminal, pay it over: pay ID 10.50

``tests/examples/test_worker.py`` does all of it in one test: invoices paid on a
FakeCalypso, a receiver accepting their webhooks into a SQLite file, this program
resolving them in a process of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from calypso_async import (
    CalypsoClient,
    ConfigurationError,
    Decision,
    InterventionResolver,
    InterventionType,
    Invoice,
    Outcome,
    Resolution,
    StoreError,
)
from calypso_async.stores import store_from_url

logger = logging.getLogger("worker")

DEFAULT_STORE = "sqlite:///./calypso-resolver.db"


def policy(invoice: Invoice) -> Decision:
    """Take overpayments; hold underpayments, and anything unknown, for a human.

    Asked only while the invoice is ``PENDING_INTERVENTION``; ``HOLD`` writes nothing.
    This is ``default_policy`` spelled out: put your own rules here (a shortfall you
    absorb, a customer you trust), plain or ``async`` (to read your database).
    """
    if invoice.intervention_type is InterventionType.OVERPAY:
        return Decision.RESOLVE
    return Decision.HOLD


def on_outcome(resolution: Resolution) -> None:
    """Tell someone about the invoices that wait for a human."""
    if resolution.outcome is Outcome.HELD:
        logger.warning(
            "invoice %s needs a human: %s (calypso-async held --store URL lists them)",
            resolution.invoice_id,
            resolution.reason,
        )


async def work() -> None:
    """Resolve what the store holds until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = CalypsoClient.from_env()
    store = store_from_url(os.environ.get("CALYPSO_STORE_URL", DEFAULT_STORE))
    async with client, store:
        resolver = InterventionResolver(client, policy, store=store, on_outcome=on_outcome)
        async with resolver:
            print(f"ready: resolving from {store.url}", flush=True)
            await stop.wait()
            logger.info("stopping: finishing the running work")
            unfinished = await resolver.stop()
    print(f"stopped: {len(unfinished)} unfinished run(s) back in {store.url}", flush=True)


def main() -> int:
    """Run the worker; 0 once stopped, 2 for a missing setting, 1 for a broken store."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(work())
    except ConfigurationError as exc:  # names what is missing, never a secret
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"worker: the store cannot be used: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
