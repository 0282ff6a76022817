"""The payout operations the fake serves, and how a payout moves on by itself.

Payloads are read here (a bad field is a 400 ``"001"`` naming it); the book
(``_payout.py``) holds the rules. Each change's events go out with
``service: "PAYOUT"``, and, with ``payout_step_delay`` set, an open payout takes its
next step that many seconds later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from .._types import PayoutState
from ._engine import Engine
from ._invoice import InvoiceEvent
from ._payout import PayoutDraft
from ._records import FakeCalypsoError

__all__ = ["PAYOUT_ROUTES", "advance", "fail", "record"]

_SERVICE = "PAYOUT"
MAX_RECIPIENTS = 10_000


def _invalid(message: str) -> FakeCalypsoError:
    return FakeCalypsoError(400, "001", message)


def _payload(body: Mapping[str, Any]) -> Mapping[str, Any]:
    payload = body.get("payload")
    if not isinstance(payload, Mapping):
        raise _invalid("payload is required and must be an object")
    return payload


def _text(payload: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise _invalid(f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{name} must be a non-empty string")
    return value


def _required(payload: Mapping[str, Any], name: str) -> str:
    value = _text(payload, name, required=True)
    assert value is not None
    return value


def _amount(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _invalid(f"{name} must be a number")
    try:
        result = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise _invalid(f"{name} must be a number") from None
    if not result.is_finite() or result <= 0:
        raise _invalid(f"{name} must be greater than zero")
    return result


def _lookup(body: Mapping[str, Any], id_name: str = "id") -> tuple[str | None, str | None]:
    payload = _payload(body)
    found, key = _text(payload, id_name), _text(payload, "idempotencyKey")
    if (found is None) == (key is None):
        raise _invalid(f"give exactly one of {id_name} and idempotencyKey")
    return found, key


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
    payload = _payload(body)
    draft = PayoutDraft(
        deposit_address=_required(payload, "depositAddress"),
        amount=_amount(payload.get("amount"), "amount"),
        currency=_required(payload, "currency"),
        comment=_text(payload, "comment"),
        idempotency_key=_text(payload, "idempotencyKey"),
        external_id=_text(payload, "externalId"),
    )
    payout, events = engine.payouts.create(draft, engine.utcnow())
    record(engine, events, step=payout.id if events else None)
    return payout.to_wire()


def _recipients(payload: Mapping[str, Any]) -> list[tuple[str, Decimal]]:
    items = payload.get("payouts")
    if not isinstance(items, list) or not items:
        raise _invalid("payouts must be a non-empty list of {depositAddress, amount}")
    if len(items) > MAX_RECIPIENTS:
        raise _invalid(f"payouts holds more than {MAX_RECIPIENTS} recipients")
    recipients = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise _invalid(f"payouts[{index}] must be an object")
        address = _required(item, "depositAddress")
        recipients.append((address, _amount(item.get("amount"), f"payouts[{index}].amount")))
    return recipients


def _create_mass(engine: Engine, body: Mapping[str, Any]) -> Any:
    payload = _payload(body)
    mass, events = engine.payouts.create_mass(
        currency=_required(payload, "currency"),
        recipients=_recipients(payload),
        name=_text(payload, "name"),
        comment=_text(payload, "comment"),
        idempotency_key=_text(payload, "idempotencyKey"),
        now=engine.utcnow(),
    )
    record(engine, events, step=mass.id if events and _is_open(engine, mass.id) else None)
    return mass.to_wire()


def _get(engine: Engine, body: Mapping[str, Any]) -> Any:
    payout_id, key = _lookup(body)
    books = engine.payouts
    return (books.find(payout_id) if payout_id else books.find_by_key(key or "")).to_wire()


def _get_mass(engine: Engine, body: Mapping[str, Any]) -> Any:
    mass_id, key = _lookup(body)
    books = engine.payouts
    return (books.find_mass(mass_id) if mass_id else books.find_mass_by_key(key or "")).to_wire()


def _get_settlement(engine: Engine, body: Mapping[str, Any]) -> Any:
    payout_id, key = _lookup(body)
    books = engine.payouts
    payout = books.find(payout_id) if payout_id else books.find_by_key(key or "")
    return payout.to_wire(settlement=True)


def _withdrawal(engine: Engine, body: Mapping[str, Any]) -> Any:
    return engine.payouts.find(_required(_payload(body), "requestId")).withdrawal_wire()


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
