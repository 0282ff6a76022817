"""Test your code against Calypso without Calypso: an embedded fake server.

Calypso publishes no sandbox, so :class:`FakeCalypso` is a real aiohttp.web server on
loopback that speaks the Calypso Payment API 2.0 wire protocol: keys, signatures,
timestamps, invoices and their payment rules, interventions, webhook subscriptions and
signed webhook deliveries, plus fault injection::

    from calypso_async.testing import FakeCalypso

    async def test_order_is_paid():
        async with FakeCalypso() as fake, fake.client() as client:
            invoice = await client.invoices.create_single(
                amount=Decimal("10.234"), currency="USDT", description="order 42"
            )
            await fake.pay(invoice.id, "10.234")
            done = await client.invoices.wait_for(invoice.id, InvoiceState.COMPLETED)
"""

from .._public import move_home
from ._currencies import FAKE_CURRENCIES
from ._delivery import CALYPSO_WEBHOOK_RETRY_DELAYS
from ._exchange import FAKE_EXCHANGE_LIMITS, FAKE_EXCHANGE_RATES
from ._fake import FakeCalypso
from ._fiat import FAKE_FIAT_GEOS, FAKE_FIAT_METHODS
from ._records import Delivery, FakeCalypsoError, RecordedCall
from ._rules import FAKE_FIAT_RATES, UNDERPAY_THRESHOLD

__all__ = [
    "CALYPSO_WEBHOOK_RETRY_DELAYS",
    "FAKE_CURRENCIES",
    "FAKE_EXCHANGE_LIMITS",
    "FAKE_EXCHANGE_RATES",
    "FAKE_FIAT_GEOS",
    "FAKE_FIAT_METHODS",
    "FAKE_FIAT_RATES",
    "UNDERPAY_THRESHOLD",
    "Delivery",
    "FakeCalypso",
    "FakeCalypsoError",
    "RecordedCall",
]

move_home(__name__, *(globals()[name] for name in __all__))
