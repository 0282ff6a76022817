"""The fake refuses requests as Calypso does: key, signature, timestamp, account, shape."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import pytest

from calypso_async import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    sign,
    verify_signature,
)
from calypso_async.testing import FakeCalypso

from .conftest import envelope, raw_post

PATH = "/api/v1/account"


async def test_a_correctly_signed_request_is_answered(fake: FakeCalypso) -> None:
    """The baseline for the refusals below: the same request, untouched, is accepted."""
    status, data, _ = await raw_post(fake, PATH, envelope(fake))
    assert status == 200
    assert data["account"] == fake.account


async def test_signature_breaks_when_one_body_byte_changes(fake: FakeCalypso) -> None:
    """Sign covers the exact bytes: a single changed byte is a 401 with code 003."""
    body = envelope(fake, {"id": "abc"})
    signature = sign(body, fake.secret_key)
    tampered = body.replace(b'"abc"', b'"abd"')
    status, data, _ = await raw_post(fake, "/api/v1/invoice", tampered, signature=signature)
    assert status == 401
    assert data["errorCode"] == "003"
    assert set(data) == {"traceId", "errorCode", "message"}


async def test_wrong_api_key_is_refused(fake: FakeCalypso) -> None:
    """A Key the fake does not know is a 401 with code 002."""
    status, data, _ = await raw_post(fake, PATH, envelope(fake), key="not-the-key")
    assert (status, data["errorCode"]) == (401, "002")


async def test_client_with_wrong_secret_gets_an_authentication_error(fake: FakeCalypso) -> None:
    """Through the SDK, a wrong secret surfaces as AuthenticationError with the code."""
    async with fake.client(secret_key="not-the-secret") as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.invoices.get("some-id")
    assert (caught.value.status, caught.value.error_code) == (401, "003")
    assert fake.secret_key not in repr(fake)


async def test_stale_timestamp_is_refused_with_the_documented_message() -> None:
    """A clock 10 minutes off is outside ±3 minutes: 401 with code 011, named in words."""
    async with (
        FakeCalypso(clock_skew=600) as fake,
        fake.client(sync_clock=False, max_retries=0) as client,
    ):
        with pytest.raises(AuthenticationError) as caught:
            await client.account.balances()
    error = caught.value
    assert error.status == 401
    assert error.error_code == "011"
    assert error.message == "Request timestamp is outside the allowed window of ±3 minutes"
    assert "check the system clock" in str(error)


async def test_client_learns_the_skewed_clock_from_the_date_header() -> None:
    """The SDK corrects its clock from Date and retries once: the second call passes."""
    async with FakeCalypso(clock_skew=600) as fake, fake.client() as client:
        balances = await client.account.balances()
    assert balances.account == fake.account
    assert [c.status for c in fake.calls] == [401, 200]


async def test_timestamp_inside_the_window_is_accepted(fake: FakeCalypso) -> None:
    """Two minutes off is still inside the ±3 minute window."""
    body = envelope(fake, timestamp=int((time.time() - 120) * 1000))
    status, _, _ = await raw_post(fake, PATH, body)
    assert status == 200


async def test_every_answer_carries_a_date_from_the_skewed_clock() -> None:
    """Date follows the fake's clock, errors included, so clients can learn the offset."""
    async with FakeCalypso(clock_skew=3600) as fake:
        _, _, headers = await raw_post(fake, "/api/v1/nowhere", b"{}")
    served = parsedate_to_datetime(headers["Date"]).timestamp()
    assert abs(served - (time.time() + 3600)) < 5


async def test_wrong_account_is_forbidden(fake: FakeCalypso) -> None:
    """The envelope's account must be the fake's: else 403 ACCOUNT_MISMATCH."""
    async with fake.client(account="0x" + "0" * 40) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.account.balances()
    assert (caught.value.status, caught.value.error_code) == (403, "002")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"[1, 2]", "JSON object"),
        (b"not json", "JSON object"),
        (b'{"account": "x"}', "timestamp"),
    ],
)
async def test_malformed_envelopes_are_validation_errors(
    fake: FakeCalypso, body: bytes, field: str
) -> None:
    """A body that is not an envelope is a 400 VALIDATION_ERROR saying what is wrong."""
    status, data, _ = await raw_post(fake, PATH, body)
    assert (status, data["errorCode"]) == (400, "001")
    assert field in data["message"]


async def test_missing_payload_field_is_named(fake: FakeCalypso) -> None:
    """A create without its amount is a 400 naming the field."""
    body = envelope(fake, {"currency": "USDT", "description": "x"})
    status, data, _ = await raw_post(fake, "/api/v1/invoice/single/create", body)
    assert (status, data["errorCode"]) == (400, "001")
    assert "amount" in data["message"]


async def test_unknown_path_is_not_found(client: object, fake: FakeCalypso) -> None:
    """A path the API does not have is a 404 with code 004, through the SDK too."""
    from calypso_async import CalypsoClient

    assert isinstance(client, CalypsoClient)
    with pytest.raises(NotFoundError) as caught:
        await client.session.call("/api/v1/no-such/path", {"amount": 1})
    assert caught.value.error_code == "004"


async def test_only_post_is_accepted_except_for_deleting_webhooks(fake: FakeCalypso) -> None:
    """GET and DELETE on invoice paths are refused; DELETE reaches the webhook path."""
    status, data, _ = await raw_post(fake, "/api/v1/invoice", envelope(fake), method="GET")
    assert (status, data["errorCode"]) == (405, "001")
    body = envelope(fake, {"requestId": "missing"})
    status, data, _ = await raw_post(fake, "/api/v1/subscription/webhook", body, method="DELETE")
    assert (status, data["errorCode"]) == (404, "004")


async def test_get_needs_exactly_one_of_id_and_key(fake: FakeCalypso) -> None:
    """Both id and idempotencyKey (or neither) is a 400."""
    for payload in ({"id": "a", "idempotencyKey": "b"}, {}):
        status, data, _ = await raw_post(fake, "/api/v1/invoice", envelope(fake, payload))
        assert (status, data["errorCode"]) == (400, "001")


async def test_bad_request_surfaces_as_typed_error(client: object) -> None:
    """An unknown fiat pair is a BadRequestError from the SDK, not a crash."""
    from calypso_async import CalypsoClient

    assert isinstance(client, CalypsoClient)
    with pytest.raises(BadRequestError, match="no rate for JPY->USDT"):
        await client.invoices.create_fiat(
            fiat_amount="100", fiat_currency="JPY", currency="USDT", description="yen"
        )


async def test_uppercase_signature_is_refused(fake: FakeCalypso) -> None:
    """The docs specify lowercase hex: the same signature in uppercase is a 401."""
    body = envelope(fake)
    signature = sign(body, fake.secret_key)
    status, data, _ = await raw_post(fake, PATH, body, signature=signature.upper())
    assert (status, data["errorCode"]) == (401, "003")
    assert verify_signature(body, signature.upper(), fake.secret_key)  # the public helper
    status, _, _ = await raw_post(fake, PATH, body, signature=signature)
    assert status == 200


@pytest.mark.parametrize("timestamp", [10**400, -(10**400)], ids=["huge", "huge-negative"])
async def test_absurd_timestamp_is_a_stale_timestamp(fake: FakeCalypso, timestamp: int) -> None:
    """A timestamp too large for a float is refused like any stale one, not a 500."""
    status, data, _ = await raw_post(fake, PATH, envelope(fake, timestamp=timestamp))
    assert (status, data["errorCode"]) == (401, "011")
