"""A FastAPI app that receives Calypso webhooks and settles interventions.

FastAPI has no ``webhook_handler``, so this endpoint does by hand what the aiohttp
adapter does:

* it reads the body as a stream and verifies ``Sign`` over those exact bytes with
  ``parse_event`` (never a parsed or re-serialised body), refusing a body over 64 KiB
  with 413 before reading more;
* 401 (no detail) for a missing or wrong signature, 400 for a signed body that is not an
  event, and 200 for a genuine event older than ``MAX_AGE`` (acknowledged, or Calypso
  keeps delivering it, but not processed);
* ``INVOICE_PENDING_INTERVENTION`` events go to an ``InterventionResolver``, started and
  stopped in the app's ``lifespan``: 200 once its store holds the event, 503 when it
  cannot take it (full, stopped, or its store unreachable), so that Calypso delivers it
  again.

Configuration comes from the environment: ``CalypsoClient.from_env()``, the
subscription's secret in ``CALYPSO_WEBHOOK_SECRET`` (several, comma-separated, during a
rotation) and ``CALYPSO_STORE_URL`` (default ``memory://``: this process only; with
``uvicorn --workers N`` or several machines, give them all one ``sqlite:///`` or
``redis://`` store, and at most one return-to-paid per invoice holds among them all).

Run it against the fake, from the repository's root::

    calypso-async fake --port 8080
    # first line: CALYPSO_BASE_URL=... CALYPSO_API_KEY=... CALYPSO_SECRET_KEY=...
    # CALYPSO_ACCOUNT=...: in a second terminal, type export and paste it. Then:
    calypso-async webhooks create http://127.0.0.1:8000/calypso/webhooks
    # prints CALYPSO_WEBHOOK_SECRET=... once: export it too
    uvicorn examples.fastapi_app:app --port 8000
    # or: python examples/fastapi_app.py --port 8000   (HOST and PORT also work)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response

from calypso_async import (
    CalypsoClient,
    ConfigurationError,
    DecodeError,
    EventType,
    InterventionResolver,
    LifecycleError,
    SignatureVerificationError,
    StaleEventError,
    StoreError,
    WebhookEvent,
    parse_event,
)
from calypso_async.stores import store_from_url

MAX_BODY = 64 * 1024
"""Calypso's events are small: refuse anything bigger."""
MAX_AGE = timedelta(hours=36)
"""Calypso retries a delivery for about 34 hours: an older event is someone's replay."""


@dataclass
class Webhooks:
    """What the endpoint needs; made in the lifespan, kept on ``app.state.webhooks``."""

    secrets: list[str]
    resolver: InterventionResolver
    max_age: timedelta | None = MAX_AGE
    received: dict[tuple[str | None, str | None], WebhookEvent] = field(default_factory=dict)
    """Your own processing: here, every fresh event by (subscription, event id), so
    that a redelivery is recorded once."""


router = APIRouter()


@router.post("/calypso/webhooks")
async def calypso_webhook(request: Request) -> Response:
    """Receive one delivery; 200 only once it is accepted."""
    webhooks: Webhooks = request.app.state.webhooks
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return Response(status_code=413)  # refused unread
    body = bytearray()
    async for chunk in request.stream():  # the exact bytes Calypso signed
        body += chunk
        if len(body) > MAX_BODY:
            return Response(status_code=413)
    try:
        # Any of the secrets may have signed it: two during a rotation.
        event = parse_event(
            bytes(body), request.headers, webhooks.secrets, max_age=webhooks.max_age
        )
    except SignatureVerificationError:
        return Response(status_code=401)  # no detail: a prober learns nothing
    except StaleEventError as exc:
        # Genuine but too old: acknowledged, not processed. An intervention still goes
        # to the resolver, which acts on the invoice's state now, not on the event.
        event = exc.event
    except DecodeError:
        return Response(status_code=400)
    else:  # a fresh event: your own processing goes here, idempotent (Calypso redelivers)
        webhooks.received.setdefault((event.request_id, event.id), event)
    if event.event_type is EventType.INVOICE_PENDING_INTERVENTION:
        try:
            await webhooks.resolver.accept(event)  # returns once the store holds it
        except (asyncio.QueueFull, LifecycleError, StoreError):
            return Response(status_code=503)  # not accepted: Calypso delivers it again
    return Response(status_code=200)


def create_app(
    environ: Mapping[str, str] | None = None,
    *,
    poll_interval: float = 2.0,
    max_age: timedelta | None = MAX_AGE,
) -> FastAPI:
    """Build the app; it reads ``environ`` (``os.environ`` by default) when it starts.

    Args:
        environ: Where to read ``CALYPSO_*``, ``CALYPSO_WEBHOOK_SECRET`` and
            ``CALYPSO_STORE_URL``.
        poll_interval: Seconds between the resolver's polls for ``COMPLETED``.
        max_age: Events older than this are acknowledged and not processed.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        env = os.environ if environ is None else environ
        secrets = [key for key in env.get("CALYPSO_WEBHOOK_SECRET", "").split(",") if key]
        if not secrets:
            raise ConfigurationError(
                "CALYPSO_WEBHOOK_SECRET is not set: the webhook subscription's secret "
                "(calypso-async webhooks create URL prints it)"
            )
        store = store_from_url(env.get("CALYPSO_STORE_URL", "memory://"))
        async with CalypsoClient.from_env(env) as client, store:
            resolver = InterventionResolver(client, store=store, poll_interval=poll_interval)
            async with resolver:  # its workers run while the app serves, then drain
                app.state.webhooks = Webhooks(secrets, resolver, max_age)
                yield

    app = FastAPI(title="Calypso webhooks", lifespan=lifespan)
    app.include_router(router)
    return app


app = create_app()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Receive Calypso webhooks with FastAPI.")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port)
