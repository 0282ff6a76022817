"""``client.account``: the merchant account and its balances."""

from __future__ import annotations

from .._types import AccountBalances
from .base import Resource

__all__ = ["Account"]

_PATH = "/api/v1/account"


class Account(Resource):
    """Account operations, reached as ``client.account``."""

    async def balances(self) -> AccountBalances:
        """Return the account's name, owner and balance per currency."""
        return await self._read(_PATH, None, AccountBalances)
