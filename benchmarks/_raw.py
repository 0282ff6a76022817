"""The baseline: the best invoice poller a user could hand-write with aiohttp alone.

One ``aiohttp.ClientSession`` whose ``TCPConnector`` has the SDK's default limit (100
connections), a 30 s total timeout (the SDK's per-attempt default), the envelope built
as a dict, ``json.dumps`` with compact separators, HMAC-SHA512 from a keyed state made
once, a pre-parsed URL, and ``json.loads`` into plain dicts. No retries, no typed errors,
no ``Decimal``, no models: the floor for Python on this machine, not a competitor.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Self

import aiohttp
from yarl import URL

SDK_CONNECTION_LIMIT = 100
"""``CalypsoClient``'s default ``connection_limit``; the raw client uses the same."""


class RawError(Exception):
    """A non-200 answer to the raw client."""


def raw_body(account: str, payload: dict[str, Any]) -> bytes:
    """The request body as a hand-written client builds it: now, compact JSON."""
    envelope = {"timestamp": int(time.time() * 1000), "account": account, "payload": payload}
    return json.dumps(envelope, separators=(",", ":")).encode()


class RawSigner:
    """HMAC-SHA512 hex signatures from a keyed state computed once."""

    def __init__(self, secret_key: str) -> None:
        self._keyed = hmac.new(secret_key.encode(), digestmod=hashlib.sha512)

    def sign(self, body: bytes) -> str:
        """The ``Sign`` header for ``body``."""
        mac = self._keyed.copy()
        mac.update(body)
        return mac.hexdigest()


class RawClient:
    """Reads invoices as dicts over one aiohttp session (see the module docstring)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        secret_key: str,
        account: str,
        connection_limit: int = SDK_CONNECTION_LIMIT,
    ) -> None:
        self._invoice_url = URL(base_url + "/api/v1/invoice")
        self._api_key = api_key
        self._signer = RawSigner(secret_key)
        self._account = account
        self._limit = connection_limit
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._limit),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def get_invoice(self, invoice_id: str) -> dict[str, Any]:
        """POST /api/v1/invoice {id} and return the answer as a dict."""
        assert self._http is not None
        body = raw_body(self._account, {"id": invoice_id})
        headers = {
            "Key": self._api_key,
            "Sign": self._signer.sign(body),
            "Content-Type": "application/json",
        }
        async with self._http.post(self._invoice_url, data=body, headers=headers) as response:
            data = await response.read()
            if response.status != 200:
                raise RawError(f"HTTP {response.status}: {data[:200]!r}")
        result: dict[str, Any] = json.loads(data)
        return result
