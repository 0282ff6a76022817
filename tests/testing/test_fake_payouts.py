"""FakeCalypso payouts end to end: states, balance, mass payouts, errors, webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from calypso_async import (
    BadRequestError,
    CalypsoClient,
    ConfigurationError,
    ErrorCode,
    EventType,
    NotFoundError,
    PayoutState,
    PayoutStateError,
    ServiceType,
    WithdrawalState,
    parse_event,
)
from calypso_async.testing import FakeCalypso, FakeCalypsoError
from tests.testing.conftest import Receiver, envelope, raw_post

ADDRESS = "0x8f1b2c3d4e5f60718293a4b5c6d7e8f901234567"


@pytest.fixture
async def fake() -> AsyncIterator[FakeCalypso]:
    """A fake whose payouts move only by lever, with 100 USDT on the account."""
    async with FakeCalypso(settle_delay=None, seed=7) as server:
        server.payout_step_delay = None
        await server.fund("USDT", "100")
        yield server


async def test_a_payout_starts_confirmed_and_is_debited(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """Created through the API: CONFIRMED at once, its amount taken from the balance."""
    await fake.fund("ETH", "100")  # ETH's scale (18) keeps every digit of this amount
    payout = await client.payouts.create(
        deposit_address=ADDRESS, amount=Decimal("10.000000000000000001"), currency="ETH"
    )
    assert payout.state is PayoutState.CONFIRMED
    assert payout.amount == Decimal("10.000000000000000001")
    assert payout.account == fake.account
    assert fake.balances["ETH"] == Decimal("89.999999999999999999")


async def test_levers_move_a_payout_to_in_progress_then_completed(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """advance_payout: IN_PROGRESS with a transaction hash, then COMPLETED with a date."""
    payout = await client.payouts.create(deposit_address=ADDRESS, amount="5", currency="USDT")
    await fake.advance_payout(payout.id)
    moving = await client.payouts.get(payout.id)
    assert moving.state is PayoutState.IN_PROGRESS
    assert moving.transaction_hash is not None
    await fake.advance_payout(payout.id)
    done = await client.payouts.wait_for(payout.id, PayoutState.COMPLETED)
    assert done.execution_date is not None
    with pytest.raises(FakeCalypsoError) as caught:
        await fake.advance_payout(payout.id)
    assert (caught.value.status, caught.value.error_code) == (400, "012")


async def test_a_payout_completes_by_itself_with_a_step_delay(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """With payout_step_delay set, wait_for sees COMPLETED without any lever."""
    fake.payout_step_delay = 0.01
    payout = await client.payouts.create(deposit_address=ADDRESS, amount="1", currency="USDT")
    await fake.wait_for_deliveries()
    assert fake.payout(payout.id)["state"] == "COMPLETED"


async def test_a_failed_payout_is_refunded_and_ends_a_wait(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """fail_payout: FAILED with the message in its errors, the money back, wait_for raises."""
    payout = await client.payouts.create(deposit_address=ADDRESS, amount="40", currency="USDT")
    await fake.fail_payout(payout.id, "hot wallet empty")
    assert fake.balances["USDT"] == Decimal("100")
    with pytest.raises(PayoutStateError) as caught:
        await client.payouts.wait_for(payout.id, PayoutState.COMPLETED)
    errors = caught.value.payout.errors
    assert errors is not None
    assert errors.withdrawal_errors[0].errors[0].error_message == "hot wallet empty"


async def test_a_payout_above_the_balance_is_refused_with_016(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """More than the balance: 400 with errorCode 016, nothing created or debited."""
    with pytest.raises(BadRequestError) as caught:
        await client.payouts.create(deposit_address=ADDRESS, amount="100.01", currency="USDT")
    assert caught.value.code is ErrorCode.DUPLICATE_KEY_OR_INVALID_PAYOUT
    assert caught.value.idempotency_key is not None
    assert fake.payouts == []
    assert fake.balances["USDT"] == Decimal("100")


async def test_an_address_that_fails_validation_is_refused_with_016(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """The fake's address rule: an address starting with 'bad' fails validation."""
    with pytest.raises(BadRequestError) as caught:
        await client.payouts.create(deposit_address="bad-address", amount="1", currency="USDT")
    assert caught.value.error_code == "016"


async def test_a_repeated_idempotency_key_gives_back_the_same_payout(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """The same key twice: one payout, debited once (as invoices in the fake)."""
    first = await client.payouts.create(
        deposit_address=ADDRESS, amount="3", currency="USDT", idempotency_key="pay-3"
    )
    again = await client.payouts.create(
        deposit_address=ADDRESS, amount="3", currency="USDT", idempotency_key="pay-3"
    )
    assert again.id == first.id
    assert fake.balances["USDT"] == Decimal("97")
    assert (await client.payouts.get(idempotency_key="pay-3")).id == first.id


async def test_a_retry_after_a_lost_answer_pays_once(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """The create lands but its answer is lost: the retry with the same key finds it."""
    fake.drop("/api/v1/payout/create", after_action=True)
    payout = await client.payouts.create(deposit_address=ADDRESS, amount="7", currency="USDT")
    assert len(fake.payouts) == 1
    assert payout.id == fake.payouts[0]["id"]
    assert fake.balances["USDT"] == Decimal("93")


async def test_unknown_payouts_are_not_found_with_004(client: CalypsoClient) -> None:
    """An unknown payout, mass payout or withdrawal: 404 with errorCode 004."""
    for call in (
        client.payouts.get("nope"),
        client.payouts.get_mass("nope"),
        client.payouts.withdrawal("nope"),
        client.payouts.settlement(idempotency_key="nope"),
    ):
        with pytest.raises(NotFoundError) as caught:
            await call
        assert caught.value.error_code == "004"


@pytest.mark.parametrize(
    "payload",
    [
        {"amount": 1, "currency": "USDT"},
        {"depositAddress": ADDRESS, "amount": "ten", "currency": "USDT"},
        {"depositAddress": ADDRESS, "amount": 0, "currency": "USDT"},
        {"depositAddress": ADDRESS, "amount": 1},
    ],
    ids=["no-address", "text-amount", "zero-amount", "no-currency"],
)
async def test_a_malformed_payout_request_is_a_400_with_001(
    fake: FakeCalypso, payload: dict[str, object]
) -> None:
    """What the SDK would refuse before sending, the fake refuses with errorCode 001."""
    status, body, _ = await raw_post(fake, "/api/v1/payout/create", envelope(fake, payload))
    assert (status, body["errorCode"]) == (400, "001")


async def test_withdrawal_and_settlement_read_the_payout(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """The fake's withdrawal has the payout's id as requestId; DRAFT while CONFIRMED."""
    payout = await client.payouts.create(deposit_address=ADDRESS, amount="2", currency="USDT")
    withdrawal = await client.payouts.withdrawal(payout.id)
    assert withdrawal.state is WithdrawalState.DRAFT
    assert withdrawal.amount == Decimal("2")
    settlement = await client.payouts.settlement(payout.id)
    assert settlement.blockchain_fee_currency == "USDT"
    (listed,) = await client.payouts.settlement_withdrawals(payout.id)
    assert listed.id == withdrawal.id


async def test_a_mass_payout_with_a_bad_recipient_ends_partial(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """The bad recipient fails at once (not debited); the rest complete; PARTIAL."""
    mass = await client.payouts.create_mass(
        currency="USDT",
        recipients=[("0xaaa", "10"), ("bad-one", "20"), ("0xbbb", "5.5")],
        name="payroll",
    )
    assert mass.state is PayoutState.CONFIRMED
    assert [p.state for p in mass.payouts] == [
        PayoutState.CONFIRMED,
        PayoutState.FAILED,
        PayoutState.CONFIRMED,
    ]
    assert fake.balances["USDT"] == Decimal("84.5")
    await fake.advance_payout(mass.id)
    await fake.advance_payout(mass.id)
    done = await client.payouts.get_mass(mass.id)
    assert done.state is PayoutState.PARTIAL
    assert [p.state for p in done.payouts] == [
        PayoutState.COMPLETED,
        PayoutState.FAILED,
        PayoutState.COMPLETED,
    ]
    assert (await client.payouts.get_mass(idempotency_key=mass.idempotency_key or "")).id == (
        mass.id
    )


async def test_a_mass_payout_of_good_recipients_completes(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """No failed recipient: the mass payout ends COMPLETED."""
    mass = await client.payouts.create_mass(
        currency="USDT", recipients=[("0xaaa", "1"), ("0xbbb", "2")]
    )
    await fake.advance_payout(mass.id)
    assert (await fake.advance_payout(mass.id))["state"] == "COMPLETED"


async def test_a_mass_payout_above_the_balance_is_refused_whole(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """Recipients adding up to more than the balance: 016, nothing paid."""
    with pytest.raises(BadRequestError) as caught:
        await client.payouts.create_mass(
            currency="USDT", recipients=[("0xaaa", "60"), ("0xbbb", "60")]
        )
    assert caught.value.error_code == "016"
    assert fake.balances["USDT"] == Decimal("100")


async def test_payout_webhooks_reach_a_payout_subscription(
    client: CalypsoClient, fake: FakeCalypso, receiver: Receiver
) -> None:
    """CHANGE_STATUS on each change, CONFIRMED, HASH_RECEIVED: service PAYOUT, signed."""
    sub = await client.webhooks.create(url=receiver.url, service_types=[ServiceType.PAYOUT])
    await client.webhooks.create(url=receiver.url, service_types=[ServiceType.INVOICE])
    payout = await client.payouts.create(deposit_address=ADDRESS, amount="1", currency="USDT")
    await fake.advance_payout(payout.id)
    await fake.advance_payout(payout.id)
    await fake.wait_for_deliveries()
    assert [(e["eventType"], e["service"]) for e in receiver.events()] == [
        ("PAYOUT_CHANGE_STATUS", "PAYOUT"),
        ("PAYOUT_CONFIRMED", "PAYOUT"),
        ("PAYOUT_CHANGE_STATUS", "PAYOUT"),
        ("PAYOUT_HASH_RECEIVED", "PAYOUT"),
        ("PAYOUT_CHANGE_STATUS", "PAYOUT"),
    ]
    body, headers = receiver.requests[-1]
    assert sub.secret_key is not None
    event = parse_event(body, headers, sub.secret_key)
    assert event.event_type is EventType.PAYOUT_CHANGE_STATUS
    assert event.data.parent_external_id == payout.id
    assert event.invoice_id is None
    assert "COMPLETED" in (event.data.message or "")


async def test_a_bad_mass_recipient_sends_a_validation_error_webhook(
    client: CalypsoClient, fake: FakeCalypso, receiver: Receiver
) -> None:
    """A subscription to PAYOUT_VALIDATION_ERROR alone hears of the failed recipient."""
    await client.webhooks.create(url=receiver.url, event_types=[EventType.PAYOUT_VALIDATION_ERROR])
    mass = await client.payouts.create_mass(
        currency="USDT", recipients=[("0xaaa", "1"), ("bad-1", "1")]
    )
    await fake.wait_for_deliveries()
    (event,) = receiver.events()
    assert event["eventType"] == "PAYOUT_VALIDATION_ERROR"
    assert event["data"]["parentExternalId"] == mass.id
    assert "bad-1" in event["data"]["message"]


async def test_funding_refuses_a_float(fake: FakeCalypso) -> None:
    """fund() takes exact amounts only."""
    with pytest.raises(ConfigurationError):
        await fake.fund("USDT", 1.5)  # type: ignore[arg-type]
    assert await fake.fund("ETH", "0.5") == Decimal("0.5")


async def test_closing_cancels_a_pending_payout_step() -> None:
    """A payout waiting for its next step does not outlive the fake."""
    async with FakeCalypso() as fake, fake.client() as client:
        fake.payout_step_delay = 60
        await fake.fund("USDT", "1")
        await client.payouts.create(deposit_address=ADDRESS, amount="1", currency="USDT")
    assert fake.payouts[0]["state"] == "CONFIRMED"
