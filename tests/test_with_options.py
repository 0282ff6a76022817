"""client.with_options: cheap derived clients with other timeout, deadline or max_retries."""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal
from typing import Any

import pytest
from aioresponses import aioresponses

from calypso_async import (
    CalypsoClient,
    CalypsoTimeoutError,
    ConfigurationError,
    InterventionResolver,
    LifecycleError,
    Outcome,
    RetryPolicy,
    ServerError,
)
from calypso_async.testing import FakeCalypso

from .conftest import BASE_URL, load_fixture

INVOICE = "/api/v1/invoice"
INVOICE_ID = "75867d4d-764c-4dd2-94a5-3e07a41c22ea"


def attempts(mock_api: aioresponses) -> int:
    return sum(len(calls) for calls in mock_api.requests.values())


async def no_wait(seconds: float) -> None:
    """A sleep that returns at once: backoffs without real waiting."""


def test_options_not_given_are_inherited_through_a_chain(make_client: Any) -> None:
    """Each derived client keeps what its parent had and changes only what it is given."""
    policy = RetryPolicy(max_retries=4, backoff_base=0.5)
    client = make_client(timeout=7, deadline=70, retry_policy=policy)
    first = client.with_options(timeout=5)
    second = first.with_options(max_retries=0)
    assert (first.settings.timeout, first.settings.deadline) == (5.0, 70.0)
    assert first.settings.retry_policy == policy
    assert (second.settings.timeout, second.settings.deadline) == (5.0, 70.0)
    assert second.settings.retry_policy == RetryPolicy(max_retries=0, backoff_base=0.5)
    assert second.settings.runtime is client.settings.runtime
    assert client.settings.timeout == 7.0  # the parent is untouched


def test_with_no_options_is_an_equivalent_client_on_the_same_pool(make_client: Any) -> None:
    """with_options() gives a new client with the same settings and the same pool."""
    client = make_client()
    derived = client.with_options()
    assert isinstance(derived, CalypsoClient)
    assert derived is not client
    assert derived.settings == client.settings
    assert derived.session._shared is client.session._shared
    assert derived.invoices is not client.invoices
    assert repr(derived) == repr(client)


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": 0},
        {"timeout": -1},
        {"timeout": math.inf},
        {"deadline": "5"},
        {"deadline": math.nan},
        {"max_retries": -1},
        {"max_retries": True},
        {"max_retries": 1.5},
    ],
)
async def test_bad_values_are_configuration_errors_before_any_io(
    make_client: Any, mock_api: aioresponses, options: dict[str, Any]
) -> None:
    """A value the client itself would refuse is refused by with_options the same way."""
    client = make_client()
    with pytest.raises(ConfigurationError, match=next(iter(options))):
        client.with_options(**options)
    assert attempts(mock_api) == 0


@pytest.mark.parametrize("name", ["base_url", "retry_policy", "timeuot"])
def test_an_unknown_option_is_a_type_error_naming_the_known_ones(
    make_client: Any, name: str
) -> None:
    """Only timeout, deadline and max_retries may change; the error lists them."""
    with pytest.raises(TypeError, match=f"{name}.*timeout, deadline, max_retries"):
        make_client().with_options(**{name: 1})


async def test_max_retries_zero_makes_one_attempt_where_the_parent_makes_three(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """The derived client's max_retries governs its calls; the parent's its own."""
    mock_api.post(BASE_URL + INVOICE, status=503, repeat=True)
    with pytest.raises(ServerError):
        await client.with_options(max_retries=0).invoices.get(INVOICE_ID)
    assert attempts(mock_api) == 1
    with pytest.raises(ServerError):
        await client.invoices.get(INVOICE_ID)
    assert attempts(mock_api) == 1 + 3


async def test_derived_calls_run_the_parents_event_hooks(
    make_client: Any, mock_api: aioresponses
) -> None:
    """Hooks are shared: a call through a derived client reaches the parent's hooks."""
    seen: list[int] = []
    client = make_client(event_hooks={"response": [lambda event: seen.append(event.status)]})
    mock_api.post(BASE_URL + INVOICE, body=load_fixture("invoice_unlimited.json"))
    await client.with_options(timeout=5).invoices.get(INVOICE_ID)
    assert seen == [200]


async def test_a_short_timeout_fails_where_the_parents_succeeds() -> None:
    """timeout applies per attempt: the derived client gives up on a slow answer."""
    async with FakeCalypso(settle_delay=None) as fake, fake.client(sleep=no_wait) as client:
        invoice = await client.invoices.create_single(
            amount=Decimal("10"), currency="USDT", description="order"
        )
        fake.delay(INVOICE, 0.3)
        with pytest.raises(CalypsoTimeoutError):
            await client.with_options(timeout=0.05, max_retries=0).invoices.get(invoice.id)
        fake.delay(INVOICE, 0.3)
        assert (await client.invoices.get(invoice.id)).id == invoice.id


async def test_a_short_deadline_ends_the_retries_of_the_derived_client_only() -> None:
    """deadline applies to the whole call: retries stop when it runs out."""
    async with FakeCalypso(settle_delay=None) as fake, fake.client(sleep=no_wait) as client:
        invoice = await client.invoices.create_single(
            amount=Decimal("10"), currency="USDT", description="order"
        )
        fake.delay(INVOICE, 0.3, times=5)
        with pytest.raises(CalypsoTimeoutError):
            await client.with_options(deadline=0.2, max_retries=5).invoices.get(invoice.id)
        assert len(fake.calls_to(INVOICE)) == 1


async def test_derived_clients_share_one_aiohttp_session_and_the_learned_clock() -> None:
    """No new connections: the same aiohttp session serves both; clock skew is learned once."""
    async with (
        FakeCalypso(settle_delay=None, clock_skew=30) as fake,
        fake.client(sleep=no_wait) as client,
    ):
        derived = client.with_options(timeout=10)
        await derived.account.balances()
        transport = client.session._shared.transport
        http = transport._http  # type: ignore[attr-defined]
        assert http is not None
        await client.account.balances()
        assert transport._http is http  # type: ignore[attr-defined]
        assert client.session.clock_offset == derived.session.clock_offset != 0


async def test_closing_a_derived_client_leaves_the_parent_open(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """async with / aclose on a derived client do nothing: only the owner closes the pool."""
    mock_api.post(BASE_URL + INVOICE, body=load_fixture("invoice_unlimited.json"), repeat=True)
    async with client.with_options(timeout=5) as derived:
        await derived.invoices.get(INVOICE_ID)
    await derived.aclose()
    assert not client.session.closed
    assert not derived.session.closed
    await client.invoices.get(INVOICE_ID)
    await derived.invoices.get(INVOICE_ID)  # still usable: the owner is open
    assert attempts(mock_api) == 3


async def test_a_derived_client_refuses_calls_once_the_parent_is_closed(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """The parent's close reaches every derived client, with the parent's LifecycleError."""
    derived = client.with_options(max_retries=0).with_options(timeout=5)
    await client.aclose()
    assert derived.session.closed
    with pytest.raises(LifecycleError, match="closed") as from_derived:
        await derived.invoices.get(INVOICE_ID)
    with pytest.raises(LifecycleError) as from_parent:
        await client.invoices.get(INVOICE_ID)
    assert str(from_derived.value) == str(from_parent.value)
    assert attempts(mock_api) == 0


async def test_the_resolver_works_on_a_derived_client() -> None:
    """InterventionResolver(client.with_options(...)) resolves an overpayment as usual."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        for invoice in fake.invoices:
            if invoice["state"] == "PAID":
                await fake.settle(invoice["id"])
        await asyncio.sleep(0)

    async with (
        FakeCalypso(settle_delay=None) as fake,
        fake.client(sleep=sleep, clock=lambda: now[0]) as client,
    ):
        invoice = await client.invoices.create_single(
            amount=Decimal("10"), currency="USDT", description="order"
        )
        await fake.pay(invoice.id, Decimal("10.5"))
        resolver = InterventionResolver(client.with_options(timeout=10, max_retries=1))
        resolution = await resolver.resolve(invoice.id)
        assert resolution.outcome is Outcome.RESOLVED, resolution.reason
        assert fake.invoice(invoice.id)["state"] == "COMPLETED"
