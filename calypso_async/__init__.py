"""calypso_async: an asyncio SDK for the Calypso Payment API 2.0.

Start with :class:`CalypsoClient`; settle interventions with ``InterventionResolver``;
test against ``calypso_async.testing.FakeCalypso``.
"""

from . import _logging
from ._client import CalypsoClient
from ._core.retry import Replay, RetryPolicy
from ._core.signing import sign, verify_signature
from ._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CalypsoConnectionError,
    CalypsoError,
    CalypsoTimeoutError,
    ConfigurationError,
    DecodeError,
    ErrorCode,
    InvoiceStateError,
    LifecycleError,
    NotFoundError,
    RateLimitError,
    ResolutionCancelledError,
    ResolutionError,
    ServerError,
    SignatureVerificationError,
    StaleEventError,
    StoreError,
    WaitTimeoutError,
)
from ._http import CalypsoSession, Captured, RequestEvent, ResponseEvent, RetryEvent
from ._inbound import WebhookHandler, parse_event, webhook_handler
from ._public import move_home
from ._resolver import (
    Decision,
    InterventionResolver,
    Outcome,
    Policy,
    Resolution,
    Write,
    default_policy,
)
from ._settings import ClientOptions, ClientSettings, Runtime, Telemetry
from ._types import (
    AccountBalances,
    Autoconversion,
    Balance,
    EventData,
    EventLevel,
    EventType,
    InterventionType,
    Invoice,
    InvoicePayment,
    InvoiceState,
    InvoiceType,
    ServiceType,
    WebhookEvent,
    WebhookSubscription,
)

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
    "Captured",
    "ClientOptions",
    "ClientSettings",
    "ConfigurationError",
    "Decision",
    "DecodeError",
    "ErrorCode",
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
    "Replay",
    "RequestEvent",
    "Resolution",
    "ResolutionCancelledError",
    "ResolutionError",
    "ResponseEvent",
    "RetryEvent",
    "RetryPolicy",
    "Runtime",
    "ServerError",
    "ServiceType",
    "SignatureVerificationError",
    "StaleEventError",
    "StoreError",
    "Telemetry",
    "WaitTimeoutError",
    "WebhookEvent",
    "WebhookHandler",
    "WebhookSubscription",
    "Write",
    "default_policy",
    "parse_event",
    "sign",
    "verify_signature",
    "webhook_handler",
]

__version__ = "0.1.0.dev0"


move_home(__name__, *(globals()[name] for name in __all__))
_logging.from_environment()
