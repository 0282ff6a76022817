"""calypso_async: an asyncio SDK for the Calypso Payment API 2.0.

Start with :class:`CalypsoClient`; settle interventions with ``InterventionResolver``;
test against ``calypso_async.testing.FakeCalypso``.
"""

from ._client import CalypsoClient
from ._enums import EventLevel, EventType, InterventionType, InvoiceState, InvoiceType, ServiceType
from ._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CalypsoConnectionError,
    CalypsoError,
    CalypsoTimeoutError,
    ConfigurationError,
    DecodeError,
    InvoiceStateError,
    LifecycleError,
    NotFoundError,
    RateLimitError,
    ResolutionCancelledError,
    ResolutionError,
    ServerError,
    SignatureVerificationError,
    StaleEventError,
    WaitTimeoutError,
)
from ._inbound import parse_event
from ._models import (
    AccountBalances,
    Autoconversion,
    Balance,
    EventData,
    Invoice,
    InvoicePayment,
    WebhookEvent,
    WebhookSubscription,
)
from ._resolution import Decision, Outcome, Policy, Resolution, default_policy
from ._resolver import InterventionResolver
from ._retry import RetryPolicy
from ._session import CalypsoSession
from ._signing import sign, verify_signature
from ._webhook_handler import WebhookHandler, webhook_handler

__all__ = [
    "APIError",
    "AccountBalances",
    "AuthenticationError",
    "Autoconversion",
    "BadRequestError",
    "Balance",
    "CalypsoClient",
    "CalypsoConnectionError",
    "CalypsoError",
    "CalypsoSession",
    "CalypsoTimeoutError",
    "ConfigurationError",
    "Decision",
    "DecodeError",
    "EventData",
    "EventLevel",
    "EventType",
    "InterventionResolver",
    "InterventionType",
    "Invoice",
    "InvoicePayment",
    "InvoiceState",
    "InvoiceStateError",
    "InvoiceType",
    "LifecycleError",
    "NotFoundError",
    "Outcome",
    "Policy",
    "RateLimitError",
    "Resolution",
    "ResolutionCancelledError",
    "ResolutionError",
    "RetryPolicy",
    "ServerError",
    "ServiceType",
    "SignatureVerificationError",
    "StaleEventError",
    "WaitTimeoutError",
    "WebhookEvent",
    "WebhookHandler",
    "WebhookSubscription",
    "default_policy",
    "parse_event",
    "sign",
    "verify_signature",
    "webhook_handler",
]

__version__ = "0.1.0.dev0"
