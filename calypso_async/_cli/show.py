"""How the API commands show what they read: one date format, wire fields, JSON.

Every date a command prints for people is ISO 8601 in UTC with a ``Z``, to the second
(``2022-08-25T12:47:28Z``), whatever form the server wrote it in. ``--json`` prints the
server's JSON instead, every date and every digit of an amount as sent, one JSON
document on one line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from .._core.json import dumps
from .._errors import CalypsoError, ConfigurationError
from .args import PROG

__all__ = ["json_line", "keyed_create", "print_model", "show_date", "wire_lines"]

T = TypeVar("T")

_HUMP = re.compile(r"(?<!^)(?=[A-Z])")


def show_date(moment: datetime) -> str:
    """A date as the commands print it: ``2022-08-25T12:47:28Z`` (UTC, to the second)."""
    if moment.tzinfo is None:  # the SDK's dates are UTC; a naive one is taken as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wire_lines(model: Any) -> Iterator[str]:
    """A model's wire fields, one ``name: value`` line each, in the server's order.

    Values are written as JSON writes them (``true``, ``null``, every digit of an
    amount), strings unquoted; a field the model reads as a date is shown by
    :func:`show_date`.
    """
    raw: Mapping[str, Any] = model.raw
    for key, value in raw.items():
        parsed = getattr(model, _HUMP.sub("_", key).lower(), None)
        if isinstance(parsed, datetime):
            text = show_date(parsed)
        else:
            text = value if isinstance(value, str) else dumps(value).decode()
        yield f"{key}: {text}"


def json_line(value: Any) -> str:
    """``value`` as one line of JSON, amounts with every digit."""
    return dumps(value).decode()


def print_model(model: Any, *, as_json: bool, out: Any) -> None:
    """Print a model read from the server: its JSON on one line, or :func:`wire_lines`.

    The wire names either way, so what is shown maps one to one to the Calypso docs.
    """
    if as_json:
        print(json_line(dict(model.raw)), file=out)
        return
    for line in wire_lines(model):
        print(line, file=out)


async def keyed_create(what: str, create: Awaitable[T]) -> T:
    """Await a create that carries an idempotency key.

    After a failure whose outcome is unknown, tell the user the key that finds it, or
    makes it only once.
    """
    try:
        return await create
    except CalypsoError as exc:
        if exc.idempotency_key is not None and not isinstance(exc, ConfigurationError):
            print(
                f"{PROG}: the {what} may exist: run this command again with "
                f"--idempotency-key {exc.idempotency_key}",
                file=sys.stderr,
            )
        raise
