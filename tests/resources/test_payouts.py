"""client.payouts: payloads on the wire, checks before I/O, retries, errors, wait_for."""

from __future__ import annotations

import json
import pickle
from decimal import Decimal
from typing import Any

import pytest
from aioresponses import aioresponses

from calypso_async import (
    BadRequestError,
    CalypsoClient,
    ConfigurationError,
    DecodeError,
    ErrorCode,
    MassPayout,
    NotFoundError,
    Payout,
    PayoutState,
    PayoutStateError,
    ServerError,
    SettlementPayout,
    WaitTimeoutError,
    Withdrawal,
)
from calypso_async._resources.payouts import MAX_RECIPIENTS
from tests.conftest import FakeTime, load_fixture
from tests.resources.wire import api, payload_of, sent

PAYOUT = "/api/v1/payout"
CREATE = "/api/v1/payout/create"
MASS_CREATE = "/api/v1/payout/mass/create"
PAYOUT_ID = "3f1f7a2e-1c4b-4a3e-9b0e-5d2c8e7f6a10"
PAYOUT_BODY = load_fixture("payout.json")
ADDRESS = "0x8f1b2c3d4e5f60718293a4b5c6d7e8f901234567"


def payout_body(state: str) -> str:
    body = PAYOUT_BODY.replace('"state": "FAILED"', f'"state": "{state}"')
    assert f'"state": "{state}"' in body
    return body


def error_body(code: str, message: str = "refused") -> str:
    return json.dumps({"traceId": "t-1", "errorCode": code, "message": message})


# --- create --------------------------------------------------------------------------


async def test_create_sends_the_camel_case_payload_with_exact_amount(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Every keyword maps to its wire name; the amount goes out as an exact JSON number."""
    mock_api.post(api(CREATE), body=PAYOUT_BODY)
    payout = await client.payouts.create(
        deposit_address=ADDRESS,
        amount=Decimal("125.000000000000000001"),
        currency="USDT",
        comment="salary",
        idempotency_key="pay-1",
        external_id="payroll-42",
    )
    assert isinstance(payout, Payout)
    assert payout.id == PAYOUT_ID
    (call,) = sent(mock_api, CREATE)
    assert payload_of(call) == {
        "depositAddress": ADDRESS,
        "amount": Decimal("125.000000000000000001"),
        "currency": "USDT",
        "comment": "salary",
        "idempotencyKey": "pay-1",
        "externalId": "payroll-42",
    }
    assert b'"amount":125.000000000000000001,' in call.kwargs["data"]


async def test_create_leaves_out_what_was_not_given_and_makes_a_key(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """No comment or external id on the wire; an idempotency key is always sent."""
    mock_api.post(api(CREATE), body=PAYOUT_BODY)
    await client.payouts.create(deposit_address=ADDRESS, amount="10", currency="USDT")
    (call,) = sent(mock_api, CREATE)
    payload = payload_of(call)
    assert set(payload) == {"depositAddress", "amount", "currency", "idempotencyKey"}
    assert len(payload["idempotencyKey"]) == 36


async def test_a_retried_create_reuses_its_idempotency_key(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A 503 then a 200: both attempts carry the same key, so it pays only once."""
    mock_api.post(api(CREATE), status=503)
    mock_api.post(api(CREATE), body=PAYOUT_BODY)
    await client.payouts.create(deposit_address=ADDRESS, amount="1", currency="USDT")
    keys = [payload_of(call)["idempotencyKey"] for call in sent(mock_api, CREATE)]
    assert len(keys) == 2
    assert keys[0] == keys[1]


async def test_a_failed_create_carries_the_key_it_sent(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """After the retries run out, the error holds the key to find the payout with."""
    mock_api.post(api(CREATE), status=503, repeat=True)
    with pytest.raises(ServerError) as caught:
        await client.payouts.create(deposit_address=ADDRESS, amount="1", currency="USDT")
    keys = {payload_of(call)["idempotencyKey"] for call in sent(mock_api, CREATE)}
    assert keys == {caught.value.idempotency_key}


async def test_a_refused_payout_is_a_bad_request_carrying_code_016(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Calypso's 016 (payout validation failed) is readable as an ErrorCode, not retried."""
    mock_api.post(api(CREATE), status=400, body=error_body("016", "not enough balance"))
    with pytest.raises(BadRequestError) as caught:
        await client.payouts.create(
            deposit_address=ADDRESS, amount="1", currency="USDT", idempotency_key="k-1"
        )
    assert caught.value.error_code == "016"
    assert caught.value.code is ErrorCode.DUPLICATE_KEY_OR_INVALID_PAYOUT
    assert caught.value.idempotency_key == "k-1"
    assert len(sent(mock_api, CREATE)) == 1


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"amount": 1.5}, id="float-amount"),
        pytest.param({"amount": "0"}, id="zero-amount"),
        pytest.param({"amount": "-1"}, id="negative-amount"),
        pytest.param({"amount": "ten"}, id="text-amount"),
        pytest.param({"deposit_address": ""}, id="empty-address"),
        pytest.param({"deposit_address": "0x a"}, id="address-with-space"),
        pytest.param({"deposit_address": None}, id="no-address"),
        pytest.param({"currency": " "}, id="blank-currency"),
        pytest.param({"comment": ""}, id="empty-comment"),
        pytest.param({"idempotency_key": "a b"}, id="key-with-space"),
    ],
)
async def test_create_refuses_bad_arguments_before_any_request(
    client: CalypsoClient, mock_api: aioresponses, change: dict[str, Any]
) -> None:
    """A float, a non-positive amount or an empty address: ConfigurationError, nothing sent."""
    kwargs: dict[str, Any] = {"deposit_address": ADDRESS, "amount": "1", "currency": "USDT"}
    kwargs.update(change)
    with pytest.raises(ConfigurationError):
        await client.payouts.create(**kwargs)
    assert mock_api.requests == {}


# --- reads ---------------------------------------------------------------------------


async def test_get_by_id_or_key_sends_exactly_that(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """get(id) posts {"id"}; get(idempotency_key=) posts {"idempotencyKey"}."""
    mock_api.post(api(PAYOUT), body=PAYOUT_BODY, repeat=True)
    await client.payouts.get(PAYOUT_ID)
    await client.payouts.get(idempotency_key="k-1")
    first, second = sent(mock_api, PAYOUT)
    assert payload_of(first) == {"id": PAYOUT_ID}
    assert payload_of(second) == {"idempotencyKey": "k-1"}


@pytest.mark.parametrize("method", ["get", "get_mass", "settlement"])
@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((PAYOUT_ID,), {"idempotency_key": "k"}), (("",), {}), ((7,), {})],
    ids=["neither", "both", "empty", "int"],
)
async def test_lookups_need_exactly_one_usable_identifier(
    client: CalypsoClient,
    mock_api: aioresponses,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Neither, both or a malformed id is refused before any request."""
    with pytest.raises(ConfigurationError):
        await getattr(client.payouts, method)(*args, **kwargs)
    assert mock_api.requests == {}


async def test_an_unknown_payout_is_not_found_with_code_004(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A 404 with errorCode 004 is a NotFoundError whose code says NOT_FOUND."""
    mock_api.post(api(PAYOUT), status=404, body=error_body("004", "payout x not found"))
    with pytest.raises(NotFoundError) as caught:
        await client.payouts.get("x")
    assert caught.value.code is ErrorCode.NOT_FOUND


async def test_an_answer_without_a_state_is_a_decode_error(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A payout answer missing a required field raises DecodeError on the path."""
    mock_api.post(api(PAYOUT), body='{"id": "p", "currency": "USDT"}')
    with pytest.raises(DecodeError) as caught:
        await client.payouts.get("p")
    assert caught.value.path == PAYOUT


async def test_settlement_reads_a_settlement_payout(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """settlement() posts to /api/v1/settlement/payout and returns its fees."""
    path = "/api/v1/settlement/payout"
    mock_api.post(api(path), body=load_fixture("settlement_payout.json"))
    payout = await client.payouts.settlement(idempotency_key="k-1")
    assert isinstance(payout, SettlementPayout)
    assert payout.blockchain_fee_currency == "TRX"
    (call,) = sent(mock_api, path)
    assert payload_of(call) == {"idempotencyKey": "k-1"}


async def test_withdrawal_sends_the_request_id(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """withdrawal(request_id) posts {"requestId"} to /api/v1/payout/withdrawal."""
    path = "/api/v1/payout/withdrawal"
    mock_api.post(api(path), body=load_fixture("withdrawal.json"))
    withdrawal = await client.payouts.withdrawal("r-1")
    assert isinstance(withdrawal, Withdrawal)
    (call,) = sent(mock_api, path)
    assert payload_of(call) == {"requestId": "r-1"}


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda w: [w, w], id="array"),
        pytest.param(lambda w: {"withdrawals": [w, w], "total": 2}, id="object-with-array"),
    ],
)
async def test_settlement_withdrawals_reads_every_published_guess(
    client: CalypsoClient, mock_api: aioresponses, shape: Any
) -> None:
    """An array, or an object holding one array, gives a list of withdrawals."""
    path = "/api/v1/settlement/payout/withdrawals"
    item = json.loads(load_fixture("withdrawal.json"))
    mock_api.post(api(path), body=json.dumps(shape(item)))
    withdrawals = await client.payouts.settlement_withdrawals("r-1")
    assert [w.id for w in withdrawals] == [item["id"]] * 2
    assert payload_of(sent(mock_api, path)[0]) == {"requestId": "r-1"}


async def test_settlement_withdrawals_without_an_array_is_a_decode_error(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """An object with no array (and no id) is not a list of withdrawals."""
    path = "/api/v1/settlement/payout/withdrawals"
    mock_api.post(api(path), body='{"total": 0}')
    with pytest.raises(DecodeError):
        await client.payouts.settlement_withdrawals("r-1")


# --- mass payouts ----------------------------------------------------------------------


async def test_create_mass_sends_recipients_as_payouts(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """The recipients go out as `payouts: [{depositAddress, amount}]` (the pinned guess)."""
    mock_api.post(api(MASS_CREATE), body=load_fixture("mass_payout.json"))
    mass = await client.payouts.create_mass(
        currency="USDT",
        recipients=[("0xaaa", Decimal("10.1")), ("0xbbb", 2)],
        name="payroll",
        comment="August",
        idempotency_key="m-1",
    )
    assert isinstance(mass, MassPayout)
    (call,) = sent(mock_api, MASS_CREATE)
    assert payload_of(call) == {
        "currency": "USDT",
        "name": "payroll",
        "comment": "August",
        "idempotencyKey": "m-1",
        "payouts": [
            {"depositAddress": "0xaaa", "amount": Decimal("10.1")},
            {"depositAddress": "0xbbb", "amount": 2},
        ],
    }


@pytest.mark.parametrize(
    "recipients",
    [
        pytest.param([], id="none"),
        pytest.param("0xaaa", id="a-string"),
        pytest.param([("0xaaa", 1.5)], id="float-amount"),
        pytest.param([("", "1")], id="empty-address"),
        pytest.param([("0xaaa",)], id="not-a-pair"),
        pytest.param([("0xaaa", "1")] * (MAX_RECIPIENTS + 1), id="too-many"),
    ],
)
async def test_create_mass_refuses_bad_recipients_before_any_request(
    client: CalypsoClient, mock_api: aioresponses, recipients: Any
) -> None:
    """No recipient, more than 10,000, or a bad one: ConfigurationError, nothing sent."""
    with pytest.raises(ConfigurationError):
        await client.payouts.create_mass(currency="USDT", recipients=recipients)
    assert mock_api.requests == {}


async def test_create_mass_takes_exactly_ten_thousand_recipients(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """The limit itself is allowed."""
    mock_api.post(api(MASS_CREATE), body=load_fixture("mass_payout.json"))
    recipients = [(f"0x{n:040x}", "1") for n in range(MAX_RECIPIENTS)]
    await client.payouts.create_mass(currency="USDT", recipients=recipients)
    assert len(payload_of(sent(mock_api, MASS_CREATE)[0])["payouts"]) == 10_000


async def test_get_mass_sends_id_to_the_mass_path(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """get_mass(id) posts {"id"} to /api/v1/payout/mass."""
    mock_api.post(api("/api/v1/payout/mass"), body=load_fixture("mass_payout.json"))
    mass = await client.payouts.get_mass("mass-1")
    assert mass.state is PayoutState.PARTIAL
    assert payload_of(sent(mock_api, "/api/v1/payout/mass")[0]) == {"id": "mass-1"}


# --- wait_for --------------------------------------------------------------------------


async def test_wait_for_polls_until_the_state_is_reached(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """CONFIRMED, IN_PROGRESS, then COMPLETED: returned after two backed-off pauses."""
    for state in ("CONFIRMED", "IN_PROGRESS", "COMPLETED"):
        mock_api.post(api(PAYOUT), body=payout_body(state))
    payout = await client.payouts.wait_for(PAYOUT_ID, PayoutState.COMPLETED)
    assert payout.state is PayoutState.COMPLETED
    assert fake_time.sleeps == [1.0, 1.5]


async def test_wait_for_raises_on_a_final_state_not_wanted(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """FAILED while waiting for COMPLETED ends the wait with the payout on the error."""
    mock_api.post(api(PAYOUT), body=payout_body("FAILED"))
    with pytest.raises(PayoutStateError) as caught:
        await client.payouts.wait_for(PAYOUT_ID, PayoutState.COMPLETED)
    assert caught.value.payout.state is PayoutState.FAILED
    assert "FAILED while waiting for COMPLETED" in str(caught.value)
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own bytes
    assert copy.payout == caught.value.payout


async def test_wait_for_times_out_with_the_last_payout(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Time running out raises WaitTimeoutError carrying the last payout read."""
    mock_api.post(api(PAYOUT), body=payout_body("IN_PROGRESS"), repeat=True)
    with pytest.raises(WaitTimeoutError) as caught:
        await client.payouts.wait_for(PAYOUT_ID, {PayoutState.COMPLETED}, timeout=5)
    assert caught.value.last_payout is not None
    assert caught.value.last_payout.state is PayoutState.IN_PROGRESS
    assert caught.value.last_invoice is None
    assert caught.value.path == PAYOUT
    assert "payout" in str(caught.value)


@pytest.mark.parametrize(
    ("states", "options"),
    [([], {}), ("COMPLETED", {}), (PayoutState.COMPLETED, {"timeout": 0})],
    ids=["no-states", "str-not-member", "zero-timeout"],
)
async def test_wait_for_refuses_bad_arguments_before_polling(
    client: CalypsoClient, mock_api: aioresponses, states: Any, options: dict[str, Any]
) -> None:
    """No states, a plain string or a zero timeout is refused before any request."""
    with pytest.raises(ConfigurationError):
        await client.payouts.wait_for(PAYOUT_ID, states, **options)
    assert mock_api.requests == {}
