"""client.account: balances with exact Decimal amounts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from aioresponses import aioresponses
from yarl import URL

from calypso_async import AccountBalances, Balance, CalypsoClient, DecodeError
from calypso_async._core.json import loads
from tests.conftest import ACCOUNT, BASE_URL, load_fixture

ACCOUNT_PATH = "/api/v1/account"


async def test_balances_are_exact_decimals(client: CalypsoClient, mock_api: aioresponses) -> None:
    """Each balance's amount is the exact Decimal the server wrote."""
    mock_api.post(BASE_URL + ACCOUNT_PATH, body=load_fixture("account.json"))
    result = await client.account.balances()
    assert isinstance(result, AccountBalances)
    assert result.account == ACCOUNT
    assert result.name == "Example shop"
    assert result.owner_id == "7c0e6f2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
    assert result.balances == (
        Balance(currency="ETH", amount=Decimal("0.000042026017236")),
        Balance(currency="USDT", amount=Decimal("1520.10")),
        Balance(currency="BTC", amount=Decimal(0)),
    )
    assert [str(b.amount) for b in result.balances] == ["0.000042026017236", "1520.10", "0"]


async def test_balances_send_no_payload(client: CalypsoClient, mock_api: aioresponses) -> None:
    """The account call is {timestamp, account} only."""
    mock_api.post(BASE_URL + ACCOUNT_PATH, body=load_fixture("account.json"))
    await client.account.balances()
    (call,) = mock_api.requests[("POST", URL(BASE_URL + ACCOUNT_PATH))]
    assert list(loads(call.kwargs["data"])) == ["timestamp", "account"]


@pytest.mark.parametrize(
    "body",
    ['{"balances": [{"currency": "ETH"}]}', '{"balances": [{"currency": "ETH", "amount": "x"}]}'],
)
async def test_balance_without_a_usable_amount_is_a_decode_error(
    client: CalypsoClient, mock_api: aioresponses, body: str
) -> None:
    """A balance missing its amount, or with a non-number, is a DecodeError."""
    mock_api.post(BASE_URL + ACCOUNT_PATH, body=body)
    with pytest.raises(DecodeError) as info:
        await client.account.balances()
    assert info.value.path == ACCOUNT_PATH
