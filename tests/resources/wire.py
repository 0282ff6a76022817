"""What a resource test reads off the wire: the requests aioresponses recorded."""

from __future__ import annotations

from typing import Any

from aioresponses import aioresponses
from aioresponses.core import RequestCall
from yarl import URL

from calypso_async._core.json import loads
from tests.conftest import BASE_URL


def api(path: str) -> str:
    """The full URL of an API path on the test base URL."""
    return BASE_URL + path


def sent(mock_api: aioresponses, path: str, method: str = "POST") -> list[RequestCall]:
    """The requests that went to ``path``, in order."""
    return list(mock_api.requests.get((method, URL(api(path))), []))


def payload_of(call: RequestCall) -> Any:
    """The envelope's ``payload`` of one recorded request."""
    return loads(call.kwargs["data"])["payload"]
