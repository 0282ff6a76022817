"""client.webhooks: list, create and delete webhook subscriptions."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from aioresponses.core import RequestCall

from calypso_async import (
    AuthenticationError,
    BadRequestError,
    CalypsoClient,
    CalypsoConnectionError,
    ConfigurationError,
    DecodeError,
    EventType,
    ServerError,
    ServiceType,
    WebhookSubscription,
    sign,
)
from calypso_async._core.json import loads
from tests.conftest import SECRET_KEY, load_fixture
from tests.resources.wire import api, sent

WEBHOOK = "/api/v1/subscription/webhook"
CREATE = "/api/v1/subscription/webhook/create"
HOOK_URL = "https://shop.example/calypso/webhook"


def body_of(call: RequestCall) -> Any:
    return loads(call.kwargs["data"])


async def test_list_returns_every_subscription(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """list() sends no payload and returns the subscriptions in order."""
    mock_api.post(api(WEBHOOK), body=load_fixture("subscriptions_list.json"))
    subscriptions = await client.webhooks.list()
    assert [s.request_id for s in subscriptions] == [
        "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
        "0a9b8c7d-6e5f-4a3b-9c1d-2e3f4a5b6c7d",
    ]
    assert all(isinstance(s, WebhookSubscription) for s in subscriptions)
    assert subscriptions[1].notification_service_types == (ServiceType.PAYOUT,)
    assert subscriptions[1].blocked_by_error_count == 3
    (call,) = sent(mock_api, WEBHOOK)
    assert "payload" not in body_of(call)


@pytest.mark.parametrize(
    "body", ['{"subscriptions": []}', "{}", '{"subscriptions": null}', ""], ids=repr
)
async def test_list_with_no_subscriptions_is_empty(
    client: CalypsoClient, mock_api: aioresponses, body: str
) -> None:
    """An empty list, a missing key, null or an empty body all mean: none."""
    mock_api.post(api(WEBHOOK), body=body)
    assert await client.webhooks.list() == []


@pytest.mark.parametrize(
    "body", ['{"subscriptions": {"a": 1}}', "[]", '{"subscriptions": ["x"]}'], ids=repr
)
async def test_list_of_the_wrong_shape_is_a_decode_error(
    client: CalypsoClient, mock_api: aioresponses, body: str
) -> None:
    """Anything but an object holding a list of objects is a DecodeError."""
    mock_api.post(api(WEBHOOK), body=body)
    with pytest.raises(DecodeError):
        await client.webhooks.list()


async def test_create_sends_a_generated_uuid4_request_id_and_the_event_types(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """create() picks a UUID4 requestId and sends event types as their wire names."""
    mock_api.post(api(CREATE), body=load_fixture("subscription.json"))
    subscription = await client.webhooks.create(
        url=HOOK_URL,
        event_types=[EventType.INVOICE_PENDING_INTERVENTION, EventType.INVOICE_PAID],
    )
    assert subscription.secret_key == "whsec-7d41c0e2b9a84f1d9c3e5a6b7c8d9e0f"
    (call,) = sent(mock_api, CREATE)
    payload = body_of(call)["payload"]
    assert uuid.UUID(payload["requestId"]).version == 4
    assert payload["url"] == HOOK_URL
    assert payload["notificationEventTypes"] == ["INVOICE_PENDING_INTERVENTION", "INVOICE_PAID"]
    assert "notificationServiceTypes" not in payload


SUB_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"  # the requestId in subscription.json
LISTED = '{"subscriptions": [' + load_fixture("subscription.json") + "]}"
EMPTY_LIST = '{"subscriptions": []}'


async def test_a_create_whose_answer_was_lost_is_found_by_listing(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """The connection drops after sending: the listing shows it landed; no second create."""
    mock_api.post(api(CREATE), exception=aiohttp.ServerDisconnectedError())
    mock_api.post(api(WEBHOOK), body=LISTED)
    subscription = await client.webhooks.create(
        url=HOOK_URL, event_types=[EventType.INVOICE_PAID], request_id=SUB_ID
    )
    assert subscription.request_id == SUB_ID
    assert subscription.secret_key == "whsec-7d41c0e2b9a84f1d9c3e5a6b7c8d9e0f"
    assert len(sent(mock_api, CREATE)) == 1


async def test_a_create_that_did_not_land_is_sent_once_more_with_its_request_id(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A 503, then a listing without it: one more create with the same requestId."""
    mock_api.post(api(CREATE), status=503)
    mock_api.post(api(WEBHOOK), body=EMPTY_LIST)
    mock_api.post(api(CREATE), body=load_fixture("subscription.json"))
    await client.webhooks.create(url=HOOK_URL, service_types=[ServiceType.INVOICE])
    calls = sent(mock_api, CREATE)
    assert len(calls) == 2
    assert len({body_of(call)["payload"]["requestId"] for call in calls}) == 1


async def test_a_create_is_not_sent_again_when_the_listing_fails(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Its fate stays unknown: the create's own error is raised, nothing is re-sent."""
    mock_api.post(api(CREATE), exception=aiohttp.ServerDisconnectedError())
    mock_api.post(api(WEBHOOK), status=503, repeat=True)
    with pytest.raises(CalypsoConnectionError) as info:
        await client.webhooks.create(url=HOOK_URL, event_types=[EventType.INVOICE_PAID])
    assert info.value.request_id is not None
    assert len(sent(mock_api, CREATE)) == 1


async def test_a_garbled_2xx_is_never_followed_by_a_second_create(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A 2xx says the create landed, even if its body is unreadable and the listing lags."""
    mock_api.post(api(CREATE), status=200, body="<html>ok</html>")
    mock_api.post(api(WEBHOOK), body=EMPTY_LIST)
    with pytest.raises(DecodeError):
        await client.webhooks.create(url=HOOK_URL, event_types=[EventType.INVOICE_PAID])
    assert len(sent(mock_api, CREATE)) == 1


async def test_a_create_is_never_sent_a_third_time(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """If the second create fails too, its error is raised with the requestId it sent."""
    mock_api.post(api(CREATE), status=503)
    mock_api.post(api(WEBHOOK), body=EMPTY_LIST)
    mock_api.post(api(CREATE), status=502)
    with pytest.raises(ServerError) as info:
        await client.webhooks.create(
            url=HOOK_URL, event_types=[EventType.INVOICE_PAID], request_id="my-sub-1"
        )
    assert info.value.status == 502
    assert info.value.request_id == "my-sub-1"
    assert len(sent(mock_api, CREATE)) == 2


async def test_a_refused_repeat_of_an_earlier_create_returns_that_subscription(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A 400 for a requestId already used: the listing holds it, so that is the answer."""
    mock_api.post(api(CREATE), status=400, body='{"errorCode": "DUPLICATE", "message": "x"}')
    mock_api.post(api(WEBHOOK), body=LISTED)
    subscription = await client.webhooks.create(
        url=HOOK_URL, event_types=[EventType.INVOICE_PAID], request_id=SUB_ID
    )
    assert subscription.request_id == SUB_ID
    assert len(sent(mock_api, CREATE)) == 1


@pytest.mark.parametrize(
    "asked",
    [
        {"url": "https://shop.example/new-hook", "event_types": [EventType.INVOICE_PAID]},
        {"url": HOOK_URL, "event_types": [EventType.INVOICE_EXPIRED]},
        {"url": HOOK_URL, "service_types": [ServiceType.PAYOUT]},
    ],
    ids=["other-url", "other-event-type", "other-service"],
)
async def test_a_request_id_taken_by_another_subscription_is_not_passed_off_as_this_one(
    client: CalypsoClient, mock_api: aioresponses, asked: dict[str, Any]
) -> None:
    """A fixed request_id reused with a new url: the listed subscription is not the one
    asked for, so returning it would leave the new url unsubscribed without a word."""
    mock_api.post(api(CREATE), status=400, body='{"errorCode": "DUPLICATE", "message": "x"}')
    mock_api.post(api(WEBHOOK), body=LISTED)
    with pytest.raises(ConfigurationError, match="already names a webhook subscription") as info:
        await client.webhooks.create(request_id=SUB_ID, **asked)
    assert info.value.request_id == SUB_ID
    assert isinstance(info.value.__cause__, BadRequestError)
    assert len(sent(mock_api, CREATE)) == 1


async def test_a_plain_refusal_is_raised_without_a_second_create(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A 400 for a subscription that does not exist is the answer: raised, not re-sent."""
    mock_api.post(api(CREATE), status=400, body='{"errorCode": "BAD_URL", "message": "x"}')
    mock_api.post(api(WEBHOOK), body=EMPTY_LIST)
    with pytest.raises(BadRequestError) as info:
        await client.webhooks.create(url=HOOK_URL, event_types=[EventType.INVOICE_PAID])
    assert info.value.request_id is not None
    assert len(sent(mock_api, CREATE)) == 1


async def test_a_refused_key_is_raised_without_listing(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """401: the credentials are wrong; listing would fail the same way."""
    mock_api.post(api(CREATE), status=401)
    with pytest.raises(AuthenticationError):
        await client.webhooks.create(url=HOOK_URL, event_types=[EventType.INVOICE_PAID])
    assert sent(mock_api, WEBHOOK) == []


async def test_create_sends_service_types_and_raw_strings(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Service types are sent by name; a string (a type newer than the SDK) passes as is."""
    mock_api.post(api(CREATE), body=load_fixture("subscription.json"))
    await client.webhooks.create(
        url=HOOK_URL,
        event_types=["TOPUP_RECEIVED"],
        service_types=[ServiceType.INVOICE, "RECURRENT"],
        request_id="my-sub-1",
    )
    (call,) = sent(mock_api, CREATE)
    assert body_of(call)["payload"] == {
        "requestId": "my-sub-1",
        "url": HOOK_URL,
        "notificationEventTypes": ["TOPUP_RECEIVED"],
        "notificationServiceTypes": ["INVOICE", "RECURRENT"],
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="neither"),
        pytest.param({"event_types": [], "service_types": []}, id="both-empty"),
        pytest.param({"event_types": "INVOICE_PAID"}, id="a-str-not-a-list"),
        pytest.param({"event_types": [""]}, id="blank-type"),
        pytest.param({"event_types": [3]}, id="int-type"),
        pytest.param({"service_types": [None]}, id="none-type"),
        pytest.param(
            {"url": "ftp://shop.example", "event_types": [EventType.INVOICE_PAID]}, id="bad-url"
        ),
        pytest.param(
            {"request_id": "has space", "event_types": [EventType.INVOICE_PAID]},
            id="bad-request-id",
        ),
    ],
)
async def test_create_refuses_bad_arguments_before_any_request(
    client: CalypsoClient, mock_api: aioresponses, kwargs: dict[str, Any]
) -> None:
    """No event or service type, bad types, URL or request id: ConfigurationError, no I/O."""
    with pytest.raises(ConfigurationError):
        await client.webhooks.create(**{"url": HOOK_URL, **kwargs})
    assert mock_api.requests == {}


async def test_delete_sends_a_signed_delete_and_returns_none(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """delete() is a DELETE whose signed body names the subscription; 200 empty is None."""
    mock_api.delete(api(WEBHOOK), status=200, body="")
    assert await client.webhooks.delete("my-sub-1") is None
    assert sent(mock_api, WEBHOOK) == []
    (call,) = sent(mock_api, WEBHOOK, "DELETE")
    assert body_of(call)["payload"] == {"requestId": "my-sub-1"}
    assert call.kwargs["headers"]["Sign"] == sign(call.kwargs["data"], SECRET_KEY)


async def test_delete_is_retried_after_a_lost_answer(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Deleting twice is harmless, so a 503 is retried."""
    mock_api.delete(api(WEBHOOK), status=503)
    mock_api.delete(api(WEBHOOK), status=204)
    await client.webhooks.delete("my-sub-1")
    assert len(sent(mock_api, WEBHOOK, "DELETE")) == 2


async def test_delete_needs_a_request_id(client: CalypsoClient, mock_api: aioresponses) -> None:
    """An empty request id fails before anything is sent."""
    with pytest.raises(ConfigurationError):
        await client.webhooks.delete("")
    assert mock_api.requests == {}
