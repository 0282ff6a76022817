"""``client.webhooks``: create, list and delete webhook subscriptions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from .._core import checks as check
from .._core.retry import Replay
from .._errors import (
    APIError,
    CalypsoConnectionError,
    CalypsoError,
    CalypsoTimeoutError,
    ConfigurationError,
    DecodeError,
    RateLimitError,
    ServerError,
)
from .._types import EventType, ServiceType, WebhookSubscription, structure
from .base import Resource

__all__ = ["Webhooks"]

_PATH = "/api/v1/subscription/webhook"

_UNKNOWN_FATE = (CalypsoConnectionError, CalypsoTimeoutError, ServerError, RateLimitError)
"""Failures of a create after which the subscription may or may not exist."""


def _worth_a_look(error: CalypsoError) -> bool:
    """Whether the subscription might exist after this failure (it is worth listing).

    A garbled 2xx answer (``DecodeError``) says the create landed; a 4xx other than
    401/403 may be a refused repeat of a ``requestId`` that exists.
    """
    if isinstance(error, (*_UNKNOWN_FATE, DecodeError)):
        return True
    return isinstance(error, APIError) and error.status not in (401, 403)


def _serves(subscription: WebhookSubscription, payload: dict[str, Any]) -> bool:
    """Whether a listed subscription is the one ``payload`` asks for.

    Same url, and at least the event and service types asked: a repeated ``requestId``
    found by listing may belong to an older subscription made with other settings.
    """
    events = {t.value for t in subscription.notification_event_types}
    services = {t.value for t in subscription.notification_service_types}
    return (
        subscription.url == payload["url"]
        and events.issuperset(payload.get("notificationEventTypes", ()))
        and services.issuperset(payload.get("notificationServiceTypes", ()))
    )


class Webhooks(Resource):
    """Webhook subscription operations, reached as ``client.webhooks``."""

    async def list(self) -> list[WebhookSubscription]:
        """Return every webhook subscription of the account."""
        data = await self._session.call(_PATH, retry=Replay.SAFE)
        if data is None:
            return []
        if not isinstance(data, dict):
            raise DecodeError(f"{_PATH} answered with a {type(data).__name__}", path=_PATH)
        items = data.get("subscriptions") or []
        if not isinstance(items, list):
            raise DecodeError(f"{_PATH}: 'subscriptions' is not a list", path=_PATH)
        return [structure(item, WebhookSubscription, path=_PATH) for item in items]

    async def create(
        self,
        *,
        url: str,
        event_types: Iterable[EventType | str] | None = None,
        service_types: Iterable[ServiceType | str] | None = None,
        request_id: str | None = None,
    ) -> WebhookSubscription:
        """Subscribe ``url`` to events, by type and/or by whole service.

        Args:
            url: Where Calypso POSTs the events (https in production).
            event_types: Event types to receive, such as
                ``[EventType.INVOICE_PENDING_INTERVENTION]``.
            service_types: Whole services to receive, such as ``[ServiceType.INVOICE]``.
            request_id: The subscription's id; a UUID4 is generated when omitted and
                reused if the call is retried.

        Returns:
            The subscription; its ``secret_key`` verifies the deliveries.

        Raises:
            ConfigurationError: A bad argument, or neither event nor service types; or,
                after a failed create, the listing shows ``request_id`` taken by a
                subscription for another url or other types.
            CalypsoError: The create failed and the listing did not show a subscription
                with this ``requestId`` (or could not be read); the error's
                ``request_id`` is the one sent.

        Calypso does not document whether a repeated ``requestId`` returns the existing
        subscription, so a create is never sent again blindly. When one fails in a way
        that leaves its fate unknown (a lost, 429 or 5xx answer), comes back garbled, or
        is refused with a 4xx other than 401/403 (a repeated ``requestId``, say), the
        subscriptions are listed: the one with this ``requestId`` is returned if it
        exists with this url and (at least) these types. Only when the listing shows it
        does not, after a lost, 429 or 5xx answer, is it created once more, with the
        same ``requestId``.
        """
        payload: dict[str, Any] = {
            "requestId": check.optional_identifier("request_id", request_id) or str(uuid.uuid4()),
            "url": check.url("url", url),
        }
        if event_types is not None:
            payload["notificationEventTypes"] = check.enum_values(
                "event_types", event_types, EventType
            )
        if service_types is not None:
            payload["notificationServiceTypes"] = check.enum_values(
                "service_types", service_types, ServiceType
            )
        if not payload.get("notificationEventTypes") and not payload.get(
            "notificationServiceTypes"
        ):
            raise ConfigurationError("give at least one event type or service type")
        request_id = payload["requestId"]
        try:
            return await self._send_create(payload)
        except CalypsoError as exc:
            exc.request_id = request_id
            if not _worth_a_look(exc):
                raise
            try:
                subscriptions = await self.list()
            except CalypsoError:
                raise exc from None  # its fate stays unknown: never create blindly
            existing = next((s for s in subscriptions if s.request_id == request_id), None)
            if existing is not None:
                if _serves(existing, payload):
                    return existing
                taken = ConfigurationError(
                    f"request_id {request_id!r} already names a webhook subscription for "
                    "another url or other event types; delete it first, or choose another "
                    "request_id"
                )
                taken.request_id = request_id
                raise taken from exc
            if not isinstance(exc, _UNKNOWN_FATE):
                raise
        # The listing shows the first create did not land: sending it again is safe.
        try:
            return await self._send_create(payload)
        except CalypsoError as again:
            again.request_id = request_id
            raise

    async def _send_create(self, payload: dict[str, Any]) -> WebhookSubscription:
        # Never replayed by the session (no documented idempotency for requestId):
        # anything but "provably never left" is settled by listing, above.
        return await self._write(f"{_PATH}/create", payload, WebhookSubscription)

    async def delete(self, request_id: str) -> None:
        """Delete the subscription created with ``request_id`` (a signed ``DELETE``).

        Retried like a read. A 404 answering a retry, after an attempt that may have
        reached the server, means that attempt deleted it: that is success. Otherwise a
        404 raises :class:`NotFoundError`.
        """
        payload = {"requestId": check.identifier("request_id", request_id)}
        await self._session.call(_PATH, payload, method="DELETE", retry=Replay.DELETE)
