"""What the tests of the http layer's observers share: a fake that settles when told."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from calypso_async.testing import FakeCalypso

INVOICE = "/api/v1/invoice"
CREATE = "/api/v1/invoice/single/create"


async def no_wait(seconds: float) -> None:
    """A sleep that returns at once: retries without real waiting."""
    return None


@pytest.fixture
async def fake() -> AsyncIterator[FakeCalypso]:
    async with FakeCalypso(settle_delay=None) as server:
        yield server
