"""The exception tree of calypso_async.

Every error the SDK raises on purpose derives from :class:`CalypsoError`::

    CalypsoError
    ├── ConfigurationError          bad arguments or settings, raised before any I/O
    ├── LifecycleError              client used after aclose() or from another event loop
    ├── SignatureVerificationError  an inbound webhook whose Sign does not match
    ├── StaleEventError             a verified webhook older than the max_age asked for
    ├── DecodeError                 a body that is not what the API promises
    ├── CalypsoConnectionError      the request could not be sent or the answer was lost
    ├── CalypsoTimeoutError         an attempt or the overall deadline ran out
    │   └── WaitTimeoutError        wait_for() gave up; carries the last invoice seen
    ├── InvoiceStateError           wait_for() saw a final state it was not waiting for
    ├── PayoutStateError            payouts.wait_for() saw a final state it was not waiting for
    ├── ResolutionError             a resolver run failed for a reason of its own
    │   └── ResolutionCancelledError  the run was cancelled or never started: re-submit
    ├── StoreError                  the resolver's store cannot be reached or used
    └── APIError                    the server answered with a non-2xx status
        ├── BadRequestError         400
        ├── AuthenticationError     401, 403
        ├── NotFoundError           404
        ├── RateLimitError          429
        └── ServerError             5xx

No message ever contains the API secret, a webhook secret or a ``Sign`` value.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._types import Invoice, Payout, WebhookEvent

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "CalypsoConnectionError",
    "CalypsoError",
    "CalypsoTimeoutError",
    "ConfigurationError",
    "DecodeError",
    "ErrorCode",
    "InvoiceStateError",
    "LifecycleError",
    "NotFoundError",
    "PayoutStateError",
    "RateLimitError",
    "ResolutionCancelledError",
    "ResolutionError",
    "ServerError",
    "SignatureVerificationError",
    "StaleEventError",
    "StoreError",
    "WaitTimeoutError",
]


class CalypsoError(Exception):
    """Root of every error raised by calypso_async.

    Attributes:
        idempotency_key: Set on an error from an invoice create: the key that call sent
            (given or generated). After an ambiguous failure, ``get(idempotency_key=...)``
            tells whether the invoice exists; to create it again, pass the same key.
        request_id: Set on an error from ``webhooks.create``: the ``requestId`` that call
            sent (given or generated); ``webhooks.list()`` shows whether it exists.
        request_sent: ``False`` when the request provably never left this process (no
            connection could be made, or its ``send_by`` time had passed), so the server
            did nothing; ``None`` when that is not known.
    """

    idempotency_key: str | None = None
    request_id: str | None = None
    request_sent: bool | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only (sometimes required) arguments, which the default
        # pickling cannot replay: rebuild from the state instead (multiprocessing workers).
        return (_rebuild_error, (type(self), self.__dict__.copy(), self.args))


def _rebuild_error(
    cls: type[CalypsoError], state: dict[str, Any], args: tuple[Any, ...]
) -> CalypsoError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    error.args = args
    return error


class ConfigurationError(CalypsoError, ValueError):
    """An argument or setting is invalid; raised before any request is sent."""


class LifecycleError(CalypsoError, RuntimeError):
    """The client was used after ``aclose()`` or from an event loop it does not belong to."""


class SignatureVerificationError(CalypsoError):
    """An inbound webhook's ``Sign`` header is missing or does not match its body."""


class StaleEventError(CalypsoError):
    """A verified webhook is older than the ``max_age`` its receiver accepts.

    The signature matched: the event is genuine, only late. Acknowledge it (answer 2xx)
    and drop it; refusing it would make Calypso deliver it again for about 34 hours.

    Attributes:
        event: The verified event.
    """

    def __init__(self, message: str, *, event: WebhookEvent):
        super().__init__(message)
        self.event = event


class DecodeError(CalypsoError):
    """A body is not what the API promises (not JSON, or not the documented shape).

    Attributes:
        path: The API path that answered, when the body came from a response.
        status: The HTTP status of that response, when there was one.
    """

    def __init__(self, message: str, *, path: str | None = None, status: int | None = None):
        super().__init__(message)
        self.path = path
        self.status = status


class CalypsoConnectionError(CalypsoError):
    """The request could not be delivered, or the connection dropped before the answer.

    Attributes:
        path: The API path that was being called.
    """

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.path = path


class CalypsoTimeoutError(CalypsoError, TimeoutError):
    """An attempt's timeout or the call's overall deadline ran out.

    Attributes:
        path: The API path that was being called, if any.
    """

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.path = path


class WaitTimeoutError(CalypsoTimeoutError):
    """``wait_for`` ran out of time before the invoice or payout reached a wanted state.

    Attributes:
        last_invoice: The last invoice read from the server, or ``None`` if no read
            succeeded (always ``None`` when waiting for a payout).
        last_payout: The last payout read by ``payouts.wait_for``, or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        last_invoice: Invoice | None,
        path: str | None = None,
        last_payout: Payout | None = None,
    ):
        super().__init__(message, path=path)
        self.last_invoice = last_invoice
        self.last_payout = last_payout


class InvoiceStateError(CalypsoError):
    """``invoices.wait_for`` saw a final state that is not among the wanted ones.

    Attributes:
        invoice: The invoice in that final state.
    """

    def __init__(self, message: str, *, invoice: Invoice):
        super().__init__(message)
        self.invoice = invoice


class PayoutStateError(CalypsoError):
    """``payouts.wait_for`` saw a final state that is not among the wanted ones.

    Attributes:
        payout: The payout in that final state.
    """

    def __init__(self, message: str, *, payout: Payout):
        super().__init__(message)
        self.payout = payout


class ResolutionError(CalypsoError):
    """Why an ``InterventionResolver`` run ended ``FAILED`` when no API call's error says it.

    Found in ``Resolution.error``, never raised by ``resolve``: a policy that returned
    no ``Decision``, a write answered without effect, a return-to-paid withheld because
    an earlier one got no answer, and so on; ``Resolution.reason`` says which. (When an
    API call or the policy raised, ``Resolution.error`` is that exception instead.)
    """


class ResolutionCancelledError(ResolutionError):
    """The run was cancelled, or never started, before it could finish.

    The resolver shut down (leaving ``async with`` or ``stop()``), or every caller of
    ``resolve`` was cancelled. A write in flight was finished first, so the invoice's
    state on the server is settled; submit the invoice again (after a restart) and the
    new run resumes from that state.
    """


class StoreError(CalypsoError):
    """The resolver's store cannot be reached, or refuses what it is asked.

    Raised by ``InterventionResolver.accept`` (a webhook endpoint answers 503, so
    Calypso delivers again) and by the store commands; found in ``Resolution.error``
    when a run could not record what it must record before writing. The message names
    the store by its URL without any password.
    """


class ErrorCode(enum.StrEnum):
    """Calypso's published ``errorCode`` values, to branch on without matching text.

    ``APIError.code`` is one of these, or ``None`` for a code Calypso has not published
    (``APIError.error_code`` keeps every code as sent). ``016`` stands for two things in
    Calypso's reference: a duplicate ``idempotencyKey``, or a payout that failed
    validation.
    """

    INTERNAL = "000"
    BAD_REQUEST = "001"
    INVALID_API_KEY = "002"
    WRONG_SIGN = "003"
    NOT_FOUND = "004"
    WRONG_INVOICE_STATE = "006"
    """The invoice is in the wrong state for the operation."""
    INVALID_TIMESTAMP = "011"
    INVALID_PAYOUT_STATE = "012"
    INVALID_HOT_WALLET_CURRENCY = "014"
    CURRENCY_NOT_OF_WALLET_BLOCKCHAIN = "015"
    DUPLICATE_KEY_OR_INVALID_PAYOUT = "016"
    UNLIMITED_INVOICES_ONLY = "028"
    """The operation is allowed only for UNLIMITED invoices."""


_CODES = {member.value: member for member in ErrorCode}


class APIError(CalypsoError):
    """The server answered with a non-2xx status.

    Branch on ``code`` (an :class:`ErrorCode`) rather than on the message::

        except APIError as error:
            if error.code is ErrorCode.WRONG_INVOICE_STATE:
                ...

    Attributes:
        status: The HTTP status code.
        error_code: Calypso's ``errorCode`` as sent, or ``None`` when the body had none.
        trace_id: Calypso's ``traceId``: quote it to Calypso support.
        message: Calypso's ``message``, or a description of the body when it had none.
        path: The API path that was called.
        retry_after: Seconds the server asked to wait (``Retry-After``), if it said.
    """

    def __init__(
        self,
        *,
        status: int,
        message: str,
        path: str,
        error_code: str | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ):
        self.status = status
        self.error_code = error_code
        self.trace_id = trace_id
        self.message = message
        self.path = path
        self.retry_after = retry_after
        parts = [f"{path} answered {status}"]
        if error_code:
            parts.append(f"[{error_code}]")
        parts.append(f": {message}")
        text = " ".join(parts[:-1]) + parts[-1]
        if trace_id:
            text += f" (traceId {trace_id})"
        if hint:
            text += f"; {hint}"
        super().__init__(text)

    @property
    def code(self) -> ErrorCode | None:
        """The published meaning of ``error_code``, or ``None`` (absent or unpublished)."""
        return _CODES.get(self.error_code) if self.error_code is not None else None


class BadRequestError(APIError):
    """400: the server refused the request as invalid."""


class AuthenticationError(APIError):
    """401 or 403: the key, the signature, the account or the timestamp was refused."""


class NotFoundError(APIError):
    """404: no such object (or path)."""


class RateLimitError(APIError):
    """429: too many requests; retried automatically where that is safe."""


class ServerError(APIError):
    """5xx: the server or a proxy in front of it failed."""


def error_class_for_status(status: int) -> type[APIError]:
    """Return the :class:`APIError` subclass that stands for an HTTP status."""
    if status == 400:
        return BadRequestError
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return APIError
