"""``client.webhooks``: create, list and delete webhook subscriptions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import _validation as check
from ._converter import structure
from ._enums import EventType, ServiceType
from ._errors import (
    CalypsoConnectionError,
    CalypsoError,
    CalypsoTimeoutError,
    ConfigurationError,
    DecodeError,
    ServerError,
)
from ._models import WebhookSubscription

if TYPE_CHECKING:
    from ._session import CalypsoSession

__all__ = ["Webhooks"]

_PATH = "/api/v1/subscription/webhook"

_UNKNOWN_FATE = (CalypsoConnectionError, CalypsoTimeoutError, ServerError, DecodeError)
"""Failures of a create after which the subscription may or may not exist."""


class Webhooks:
    """Webhook subscription operations, reached as ``client.webhooks``."""

    def __init__(self, session: CalypsoSession) -> None:
        self._session = session

    async def list(self) -> list[WebhookSubscription]:
        """Return every webhook subscription of the account."""
        data = await self._session.call(_PATH)
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

        Calypso does not document whether a repeated ``requestId`` returns the existing
        subscription. So when the create fails in a way that leaves its fate unknown (a
        lost, garbled or 5xx answer), the subscriptions are listed and the one with this
        ``requestId`` is returned if it exists; otherwise the error is raised.
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
        path = f"{_PATH}/create"
        try:
            data = await self._session.call(path, payload, retry=True)
            return structure(data, WebhookSubscription, path=path)
        except _UNKNOWN_FATE:
            existing = await self._find(payload["requestId"])
            if existing is None:
                raise
            return existing

    async def _find(self, request_id: str) -> WebhookSubscription | None:
        try:
            subscriptions = await self.list()
        except CalypsoError:
            return None  # the caller re-raises the create's own error, which says more
        return next((s for s in subscriptions if s.request_id == request_id), None)

    async def delete(self, request_id: str) -> None:
        """Delete the subscription created with ``request_id`` (a signed ``DELETE``).

        Retried like a read. A 404 answering a retry, after an attempt that may have
        reached the server, means that attempt deleted it: that is success. Otherwise a
        404 raises :class:`NotFoundError`.
        """
        payload = {"requestId": check.identifier("request_id", request_id)}
        await self._session.call(_PATH, payload, method="DELETE", retry=True)
