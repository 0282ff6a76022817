"""The fake's webhook subscriptions: create (idempotent by ``requestId``), list, delete."""

from __future__ import annotations

import collections
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from .._errors import ErrorCode
from ._invoice import wire_date_naive
from ._records import FakeCalypsoError

__all__ = ["FakeSubscription", "SubscriptionBook"]


@attrs.define
class FakeSubscription:
    """One webhook subscription; its ``secret_key`` signs every delivery.

    ``blocked_by_error_count`` counts failed delivery attempts since the last success;
    ``recent_failures`` holds when the failures since then happened (the fake's clock),
    pruned to the blocking window; a ``blocked`` subscription is sent nothing.
    """

    request_id: str
    url: str
    event_types: tuple[str, ...]
    service_types: tuple[str, ...]
    public_key: str
    secret_key: str = attrs.field(repr=False)
    created_date: datetime
    blocked_by_error_count: int = 0
    blocked: bool = False
    recent_failures: collections.deque[float] = attrs.field(factory=collections.deque, repr=False)

    def wants(self, event_type: str, service: str) -> bool:
        """Whether an event of this type and service goes to this subscription."""
        return event_type in self.event_types or service in self.service_types

    def to_wire(self) -> dict[str, Any]:
        """Return the subscription as Calypso writes it."""
        return {
            "requestId": self.request_id,
            "notificationEventTypes": list(self.event_types),
            "notificationServiceTypes": list(self.service_types),
            "url": self.url,
            "publicKey": self.public_key,
            "secretKey": self.secret_key,
            "createdDate": wire_date_naive(self.created_date),
            "blockedByErrorCount": self.blocked_by_error_count,
        }


class SubscriptionBook:
    """The account's webhook subscriptions, in creation order."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, FakeSubscription] = {}

    def create(
        self,
        *,
        request_id: str,
        url: str,
        event_types: Sequence[str],
        service_types: Sequence[str],
        now: datetime,
    ) -> FakeSubscription:
        """Create a subscription, or return the one already made with ``request_id``."""
        existing = self.subscriptions.get(request_id)
        if existing is not None:
            return existing
        subscription = FakeSubscription(
            request_id=request_id,
            url=url,
            event_types=tuple(event_types),
            service_types=tuple(service_types),
            public_key=secrets.token_hex(16),
            secret_key=secrets.token_hex(16),
            created_date=now,
        )
        self.subscriptions[request_id] = subscription
        return subscription

    def get(self, request_id: str) -> FakeSubscription:
        """Return a subscription, or raise a 404 ``004`` (not found)."""
        subscription = self.subscriptions.get(request_id)
        if subscription is None:
            raise FakeCalypsoError(
                404, ErrorCode.NOT_FOUND, f"no webhook subscription {request_id}"
            )
        return subscription

    def delete(self, request_id: str) -> None:
        """Delete a subscription, or raise a 404 ``004`` (not found)."""
        if self.subscriptions.pop(request_id, None) is None:
            raise FakeCalypsoError(
                404, ErrorCode.NOT_FOUND, f"no webhook subscription {request_id}"
            )

    def matching(self, event_type: str, service: str) -> list[FakeSubscription]:
        """Return the subscriptions an event of this type and service goes to."""
        return [s for s in self.subscriptions.values() if s.wants(event_type, service)]
