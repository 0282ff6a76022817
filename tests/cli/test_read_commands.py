"""Every read command: --json prints the server's JSON; plain output shows dates one way."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, NamedTuple

import pytest

from calypso_async._cli import main
from tests.cli.conftest import ThreadedFake
from tests.cli.test_payout_cli import ADDRESS

DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
"""The one format plain output writes dates in: ISO 8601, UTC, to the second, with Z."""


class Served(NamedTuple):
    """The fake, and the ids of what it holds."""

    threaded: ThreadedFake
    invoice_id: str
    payout_id: str


@pytest.fixture
def served(threaded: ThreadedFake) -> Served:
    """A fake holding an invoice, a payout and a webhook subscription; CALYPSO_* set."""
    return Served(threaded, *threaded.run(_fill(threaded)))


async def _fill(threaded: ThreadedFake) -> tuple[str, str]:
    async with threaded.fake.client() as client:
        invoice = await client.invoices.create_single(
            amount="0.000042026017236001", currency="ETH", description="order 1"
        )
        payout = await client.payouts.create(deposit_address=ADDRESS, amount="5", currency="USDT")
        await client.webhooks.create(
            url="https://shop.example/hooks", event_types=["INVOICE_PAID"], request_id="sub-1"
        )
    return invoice.id, payout.id


def _one_json(capsys: pytest.CaptureFixture[str]) -> Any:
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON document on one line
    return json.loads(out, parse_float=Decimal)


def _fields(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())


def test_invoice_get_json_prints_the_server_object_with_every_digit(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """invoice get --json: the invoice as the server sent it, on one line."""
    invoice_id = served.invoice_id
    assert main(["invoice", "get", invoice_id, "--json"]) == 0
    shown = _one_json(capsys)
    assert shown["amount"] == Decimal("0.000042026017236001")
    assert shown["createdDate"] == served.threaded.fake.invoice(invoice_id)["createdDate"]
    assert shown.keys() == served.threaded.fake.invoice(invoice_id).keys()


def test_invoice_and_payout_get_show_dates_in_iso_utc_with_z(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plain invoice get and payout get write every date as 2022-08-25T12:47:28Z."""
    assert main(["invoice", "get", served.invoice_id]) == 0
    invoice = _fields(capsys)
    assert DATE.fullmatch(invoice["createdDate"])
    assert DATE.fullmatch(invoice["expiration"])
    assert invoice["amount"] == "0.000042026017236001"
    assert main(["payout", "get", served.payout_id]) == 0
    payout = _fields(capsys)
    assert DATE.fullmatch(payout["createdDate"])
    assert payout["createdDate"][:10] == invoice["createdDate"][:10]


def test_invoice_create_json_prints_the_created_invoice(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """invoice create --json prints what invoice get --json prints."""
    assert main(["invoice", "create", "1.5", "USDT", "order 2", "--json"]) == 0
    created = _one_json(capsys)
    assert (created["amount"], created["state"]) == (Decimal("1.5"), "PENDING_PAYMENT")


def test_account_balances_json_prints_the_answer(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """account balances --json: the account object with its balances, every digit."""
    served.threaded.run(served.threaded.fake.fund("ETH", "0.000000000000000001"))
    assert main(["account", "balances", "--json"]) == 0
    answer = _one_json(capsys)
    assert answer["account"] == served.threaded.fake.account
    amounts = {b["currency"]: b["amount"] for b in answer["balances"]}
    assert amounts["ETH"] == Decimal("100.000000000000000001")
    assert amounts["USDT"] == Decimal("95")


def test_webhooks_list_json_prints_subscriptions_without_their_secret(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """webhooks list --json: the server's objects, never secretKey; plain list dates in Z."""
    assert main(["webhooks", "list", "--json"]) == 0
    (sub,) = _one_json(capsys)
    assert (sub["requestId"], sub["url"]) == ("sub-1", "https://shop.example/hooks")
    assert "secretKey" not in sub
    assert "createdDate" in sub
    assert main(["webhooks", "list"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    created = line.rsplit("created=", 1)[1]
    assert DATE.fullmatch(created)


def test_every_read_command_takes_json(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    """Each read prints exactly one JSON document with --json."""
    reads = [
        ["invoice", "get", served.invoice_id],
        ["payout", "get", served.payout_id],
        ["account", "balances"],
        ["webhooks", "list"],
    ]
    for argv in reads:
        assert main([*argv, "--json"]) == 0, argv
        _one_json(capsys)
