"""The payout operations the fake serves, and how a payout moves on by itself.

Payloads are read by ``_payloads.py`` (a bad field, an unknown currency or an amount
with more decimals than the currency's scale is a 400 ``"001"`` naming it); the book
(``_payout.py``) holds the rules. Each change's events go out with
``service: "PAYOUT"``, and, with ``payout_step_delay`` set, an open payout takes its
next step that many seconds later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .._types import PayoutState
from ._currencies import check_money
from ._engine import Engine
from ._invoice import InvoiceEvent
from ._payloads import amount, currency, lookup, payload, required_text, text, to_decimal
from ._payout import PayoutDraft
from ._records import bad_request

__all__ = ["PAYOUT_ROUTES", "advance", "fail", "record"]

_SERVICE = "PAYOUT"
MAX_RECIPIENTS = 10_000


def record(engine: Engine, events: Sequence[InvoiceEvent], *, step: str | None = None) -> None:
    """Deliver ``events``; with ``step``, schedule that payout's next step."""
    engine.publish(events, service=_SERVICE)
    delay = engine.payout_step_delay
    if step is not None and delay is not None:
        engine.schedule(f"payout {step}", delay, lambda: _step_by_itself(engine, step))


def _is_open(engine: Engine, payout_id: str) -> bool:
    books = engine.payouts
    found = books.masses.get(payout_id) or books.payouts.get(payout_id)
    return found is not None and found.state in (PayoutState.CONFIRMED, PayoutState.IN_PROGRESS)


def _step_by_itself(engine: Engine, payout_id: str) -> None:
    if _is_open(engine, payout_id):  # a lever may have moved it meanwhile
        advance(engine, payout_id)


def advance(engine: Engine, payout_id: str) -> None:
    """Move a payout or mass payout one step, then schedule the next if it is open."""
    events = engine.payouts.advance(payout_id, engine.utcnow())
    record(engine, events, step=payout_id if _is_open(engine, payout_id) else None)


def fail(engine: Engine, payout_id: str, message: str) -> None:
    """Fail an open payout or mass payout with ``message`` (refunded)."""
    record(engine, engine.payouts.fail(payout_id, message, engine.utcnow()))


def _create(engine: Engine, body: Mapping[str, Any]) -> Any:
    request = payload(body)
    code = currency(request)
    draft = PayoutDraft(
        deposit_address=required_text(request, "depositAddress"),
        amount=amount(request, "amount", code),
        currency=code,
        comment=text(request, "comment", required=False),
        idempotency_key=text(request, "idempotencyKey", required=False),
        external_id=text(request, "externalId", required=False),
    )
    payout, events = engine.payouts.create(draft, engine.utcnow())
    record(engine, events, step=payout.id if events else None)
    return payout.to_wire()


def _recipients(request: Mapping[str, Any], code: str) -> list[tuple[str, Decimal]]:
    items = request.get("payouts")
    if not isinstance(items, list) or not items:
        raise bad_request("payouts must be a non-empty list of {depositAddress, amount}")
    if len(items) > MAX_RECIPIENTS:
        raise bad_request(f"payouts holds more than {MAX_RECIPIENTS} recipients")
    recipients = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise bad_request(f"payouts[{index}] must be an object")
        address = required_text(item, "depositAddress")
        name = f"payouts[{index}].amount"
        found = to_decimal(item.get("amount"), name)
        recipients.append((address, found))
        check_money(code, found, amount_field=name)
    return recipients


def _create_mass(engine: Engine, body: Mapping[str, Any]) -> Any:
    request = payload(body)
    code = currency(request)
    mass, events = engine.payouts.create_mass(
        currency=code,
        recipients=_recipients(request, code),
        name=text(request, "name", required=False),
        comment=text(request, "comment", required=False),
        idempotency_key=text(request, "idempotencyKey", required=False),
        now=engine.utcnow(),
    )
    record(engine, events, step=mass.id if events and _is_open(engine, mass.id) else None)
    return mass.to_wire()


def _get(engine: Engine, body: Mapping[str, Any]) -> Any:
    payout_id, key = lookup(body)
    books = engine.payouts
    return (books.find(payout_id) if payout_id else books.find_by_key(key or "")).to_wire()


def _get_mass(engine: Engine, body: Mapping[str, Any]) -> Any:
    mass_id, key = lookup(body)
    books = engine.payouts
    return (books.find_mass(mass_id) if mass_id else books.find_mass_by_key(key or "")).to_wire()


def _get_settlement(engine: Engine, body: Mapping[str, Any]) -> Any:
    payout_id, key = lookup(body)
    books = engine.payouts
    payout = books.find(payout_id) if payout_id else books.find_by_key(key or "")
    return payout.to_wire(settlement=True)


def _withdrawal(engine: Engine, body: Mapping[str, Any]) -> Any:
    return engine.payouts.find(required_text(payload(body), "requestId")).withdrawal_wire()


def _settlement_withdrawals(engine: Engine, body: Mapping[str, Any]) -> Any:
    return [_withdrawal(engine, body)]


PAYOUT_ROUTES: Mapping[str, Mapping[str, Any]] = {
    "/api/v1/payout": {"POST": _get},
    "/api/v1/payout/create": {"POST": _create},
    "/api/v1/payout/withdrawal": {"POST": _withdrawal},
    "/api/v1/payout/mass/create": {"POST": _create_mass},
    "/api/v1/payout/mass": {"POST": _get_mass},
    "/api/v1/settlement/payout": {"POST": _get_settlement},
    "/api/v1/settlement/payout/withdrawals": {"POST": _settlement_withdrawals},
}
"""The payout paths of calypso-api.md: path -> HTTP method -> operation."""
