"""The resources layer: ``client.invoices``, ``client.webhooks``, ``client.account``, ...

Keyword arguments in, typed models out. Each method validates before any I/O, builds
the payload with wire names, and declares how its call may be repeated.
"""

from .account import Account
from .customers import Customers
from .exchange import Exchanges
from .fiat import Fiat
from .invoices import FINAL_STATES, Invoices
from .payouts import Payouts
from .webhooks import Webhooks

__all__ = [
    "FINAL_STATES",
    "Account",
    "Customers",
    "Exchanges",
    "Fiat",
    "Invoices",
    "Payouts",
    "Webhooks",
]
