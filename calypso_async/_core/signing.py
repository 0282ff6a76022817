"""Request and webhook signatures: HMAC-SHA512 over the exact body bytes.

Pure functions with no I/O, so both the session (outbound) and webhook verification
(inbound) share one implementation.
"""

from __future__ import annotations

import hashlib
import hmac

from .._errors import ConfigurationError

__all__ = ["SignedHeaders", "Signer", "sign", "verify_signature"]


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(body: bytes | str, secret_key: str) -> str:
    """Return the Calypso signature of ``body``.

    Args:
        body: The exact bytes that go on the wire (a ``str`` is encoded as UTF-8).
        secret_key: The API secret key, or a webhook subscription's ``secretKey``.

    Returns:
        The lowercase hex HMAC-SHA512 of ``body`` keyed with ``secret_key``.

    Raises:
        ConfigurationError: ``secret_key`` is empty (anyone can compute that signature).
    """
    if not isinstance(secret_key, str) or not secret_key:
        raise ConfigurationError("secret_key must be a non-empty string")
    return hmac.new(secret_key.encode("utf-8"), _as_bytes(body), hashlib.sha512).hexdigest()


def verify_signature(body: bytes | str, signature: str | None, secret_key: str) -> bool:
    """Check ``signature`` against ``body`` in constant time.

    Args:
        body: The raw bytes that were received (never a re-serialised object).
        signature: The hex signature from the ``Sign`` header; ``None`` or empty fails.
        secret_key: The key the sender signed with.

    Returns:
        ``True`` only when the signature matches, compared case-insensitively as hex;
        ``False`` for an empty ``secret_key``.
    """
    if not signature or not isinstance(secret_key, str) or not secret_key:
        return False  # an empty key "verifies" signatures anyone can make
    try:
        candidate = signature.strip().lower().encode("ascii")
    except UnicodeEncodeError:
        return False
    expected = sign(body, secret_key).encode("ascii")
    return hmac.compare_digest(expected, candidate)


class Signer:
    """Signs many bodies with one key, reusing the keyed HMAC state.

    The key is held only inside the HMAC object, so neither ``repr`` nor a traceback's
    locals show it.
    """

    __slots__ = ("_hmac",)

    def __init__(self, secret_key: str) -> None:
        self._hmac = hmac.new(secret_key.encode("utf-8"), digestmod=hashlib.sha512)

    def __repr__(self) -> str:
        return "Signer(secret_key=***)"

    def sign(self, body: bytes) -> str:
        """Return the lowercase hex HMAC-SHA512 of ``body``."""
        mac = self._hmac.copy()
        mac.update(body)
        return mac.hexdigest()


class SignedHeaders(dict[str, str]):
    """Request headers whose ``repr`` hides the key and the signature.

    A ``Sign`` with its body is a request anyone could replay for three minutes, so it
    must not surface in a traceback's captured locals either.
    """

    def __repr__(self) -> str:
        return (
            "{"
            + ", ".join(f"{k!r}: {'***' if k in ('Key', 'Sign') else v!r}" for k, v in self.items())
            + "}"
        )
