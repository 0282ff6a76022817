"""``client.account``: the merchant account and its balances."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._converter import structure
from ._models import AccountBalances

if TYPE_CHECKING:
    from ._session import CalypsoSession

__all__ = ["Account"]

_PATH = "/api/v1/account"


class Account:
    """Account operations, reached as ``client.account``."""

    def __init__(self, session: CalypsoSession) -> None:
        self._session = session

    async def balances(self) -> AccountBalances:
        """Return the account's name, owner and balance per currency."""
        return structure(await self._session.call(_PATH), AccountBalances, path=_PATH)
