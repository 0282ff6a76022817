"""What every model and enum shares: tolerant enums, the ``raw`` field, one model registry.

Enums never refuse a value: Calypso adds states and event types over time. An unknown
value becomes a member named ``UNKNOWN`` that keeps the raw string as its value, so
``InvoiceState("NEW_STATE").value == "NEW_STATE"`` and a worker that meets a new state
logs it instead of crashing.

Every model class is decorated with :func:`model`, which registers it once, in
definition order (nested models first): the converter builds its hooks from that list.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs

__all__ = ["MODELS", "TolerantEnum", "lenient_decimal", "model", "raw_field"]

M = TypeVar("M", bound=type)

MODELS: list[type[Any]] = []
"""Every model class, in the order defined: a model nested in another comes first."""

_EMPTY: Mapping[str, Any] = {}


def model(cls: M) -> M:
    """Register an attrs model class with the converter (use under ``@attrs.frozen``)."""
    MODELS.append(cls)
    return cls


def lenient_decimal(value: Any) -> Decimal | None:
    """A JSON number or numeric string as an exact ``Decimal`` (any sign), else ``None``.

    For fields whose shape Calypso does not publish, read from ``raw``: something else
    there is a value the SDK cannot read, not an error.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            return None
        return result if result.is_finite() else None
    return None


def raw_field() -> Any:
    """The ``raw`` field: the JSON object a model was read from, unknown keys included."""
    return attrs.field(default=_EMPTY, eq=False, repr=False, kw_only=True)


class TolerantEnum(enum.StrEnum):
    """A ``StrEnum`` whose unknown values become ``UNKNOWN`` members keeping the raw string."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        # A pseudo-member, deliberately not cached: input from the network must not be
        # able to grow the class without bound.
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """Whether this value is one the SDK was written for."""
        return self._name_ != "UNKNOWN"
