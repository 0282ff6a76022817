"""The request envelope ``{timestamp, account[, payload]}``, written as the bytes to sign.

Every request body is this envelope; the signature covers its exact bytes, and a retry
needs a fresh timestamp, so the body is rebuilt for every attempt. It is joined from
parts so that only the timestamp is written per attempt: the account once per client, the
payload once per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import ConfigurationError
from .json import dumps

__all__ = ["Envelope"]


class Envelope:
    """Writes the request bodies of one merchant account.

    Args:
        account: The merchant account id placed in every envelope.
    """

    __slots__ = ("_account_json",)

    def __init__(self, account: str) -> None:
        self._account_json = dumps(account)

    @staticmethod
    def payload(path: str, payload: Mapping[str, Any] | None) -> bytes | None:
        """Serialise a call's payload once (``None`` for a call that sends none).

        Raises:
            ConfigurationError: ``payload`` is not a mapping, or holds what JSON cannot
                carry exactly (a ``float``, a NaN ``Decimal``, an object).
        """
        if payload is None:
            return None
        if not isinstance(payload, Mapping):
            raise ConfigurationError("payload must be a mapping or None")
        try:
            return dumps(payload)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"payload for {path} cannot be sent: {exc}") from exc

    def body(self, timestamp_ms: int, payload_json: bytes | None) -> bytes:
        """The bytes ``dumps()`` writes for ``{timestamp, account[, payload]}``."""
        head = b'{"timestamp":%d,"account":%s' % (timestamp_ms, self._account_json)
        if payload_json is None:
            return head + b"}"
        return head + b',"payload":' + payload_json + b"}"
