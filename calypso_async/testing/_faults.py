"""Fault injection: per-path queues of failures the next matching calls meet.

A fault may also name an HTTP method: ``/api/v1/subscription/webhook`` lists
subscriptions with ``POST`` and deletes one with ``DELETE``.
"""

from __future__ import annotations

import enum
from collections import deque

import attrs

from .._core import checks
from .._errors import ConfigurationError

__all__ = ["Fault", "FaultInjection", "FaultKind", "FaultPlan"]

GARBAGE_BODY = (
    b"<html><body><h1>502 Bad Gateway</h1>upstream sent an invalid response</body></html>"
)
"""What a broken proxy might send instead of JSON."""


class FaultKind(enum.Enum):
    """How a call is spoiled."""

    FAIL = "fail"
    """Answer an HTTP status (and error body) of the test's choosing."""
    DROP = "drop"
    """Close the connection without answering."""
    DELAY = "delay"
    """Sleep before answering."""
    GARBAGE = "garbage"
    """Answer a body that is not JSON."""


@attrs.define
class Fault:
    """One queued fault, used by the next ``remaining`` calls to its path.

    Attributes:
        after_action: Whether the server carries out the call (state changes, events)
            before the fault strikes, as when a response is lost on its way back.
        method: The HTTP method it waits for (``"DELETE"``), or ``None`` for any.
    """

    kind: FaultKind
    remaining: int
    after_action: bool
    method: str | None = None
    status: int = 200
    body: bytes | None = None
    retry_after: str | None = None
    seconds: float = 0.0


def check_status(status: int) -> int:
    """Return ``status`` if it is an HTTP status code, else raise ``ConfigurationError``."""
    return checks.integer("status", status, least=100, most=599)


def check_method(method: str | None) -> str | None:
    """Return ``method`` upper-cased (``None`` stays ``None``: any method), or raise."""
    if method is None:
        return None
    if not isinstance(method, str) or not method.isalpha():
        raise ConfigurationError(
            "method must be an HTTP method such as 'POST' or 'DELETE', or None"
        )
    return method.upper()


class FaultPlan:
    """The faults waiting for each path, first queued first used (per method)."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}

    def add(self, path: str, fault: Fault) -> None:
        """Queue ``fault`` for the next calls to ``path``."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigurationError("path must start with '/', such as '/api/v1/invoice'")
        self._queues.setdefault(path, deque()).append(fault)

    def take(self, path: str, method: str) -> Fault | None:
        """Use up one call's worth of the first fault for ``path`` and ``method``, if any."""
        queue = self._queues.get(path)
        if not queue:
            return None
        for fault in queue:
            if fault.method is None or fault.method == method:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.remove(fault)
                return fault
        return None

    def pending(self, path: str | None = None) -> int:
        """How many calls (to ``path``, or to any path) the queued faults will still hit."""
        queues = self._queues.values() if path is None else [self._queues.get(path, deque())]
        return sum(fault.remaining for queue in queues for fault in queue)

    def clear(self) -> None:
        """Forget every queued fault."""
        self._queues.clear()


class FaultInjection:
    """The fault-injection methods of ``FakeCalypso``: per path, first queued first used.

    Each takes an optional ``method=``: a fault for ``"DELETE"`` waits for the next
    ``DELETE`` to its path, letting other methods through.
    """

    _faults: FaultPlan

    def fail(
        self,
        path: str,
        status: int = 503,
        *,
        times: int = 1,
        retry_after: str | None = None,
        body: bytes | None = None,
        after_action: bool = False,
        method: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls to ``path`` with ``status``.

        Args:
            path: The API path, such as ``"/api/v1/invoice"``.
            status: The status to answer (``fail(path, 200, body=b"")`` sends an empty
                200).
            times: How many calls meet the fault.
            retry_after: A ``Retry-After`` header value, such as ``"2"``.
            body: The body to send instead of a Calypso error JSON (such as
                ``b"<html>bad gateway</html>"``).
            after_action: Carry the call out first (the failure hides a success).
            method: Only calls with this HTTP method meet the fault (``"DELETE"``);
                ``None``, the default, is any method.
        """
        self._faults.add(
            path,
            Fault(
                FaultKind.FAIL,
                checks.integer("times", times, least=1),
                after_action,
                check_method(method),
                status=check_status(status),
                body=body,
                retry_after=retry_after,
            ),
        )

    def drop(
        self, path: str, *, times: int = 1, after_action: bool = False, method: str | None = None
    ) -> None:
        """Close the connection of the next ``times`` calls to ``path`` without answering.

        With ``after_action=True`` the server first carries the call out (state
        changes, events, recording): the lost-response case. ``method`` limits the
        fault to calls with that HTTP method (any when ``None``).
        """
        fault = Fault(
            FaultKind.DROP,
            checks.integer("times", times, least=1),
            after_action,
            check_method(method),
        )
        self._faults.add(path, fault)

    def delay(
        self,
        path: str,
        seconds: float,
        *,
        times: int = 1,
        after_action: bool = True,
        method: str | None = None,
    ) -> None:
        """Sleep ``seconds`` before answering the next ``times`` calls to ``path``.

        With ``after_action=True`` (the default) the call is carried out first, so a
        client that times out has still changed the state. ``method`` limits the
        fault to calls with that HTTP method (any when ``None``).
        """
        fault = Fault(
            FaultKind.DELAY,
            checks.integer("times", times, least=1),
            after_action,
            check_method(method),
            seconds=checks.seconds("seconds", seconds, allow_zero=True),
        )
        self._faults.add(path, fault)

    def garbage(
        self, path: str, *, times: int = 1, status: int = 200, method: str | None = None
    ) -> None:
        """Answer the next ``times`` calls to ``path`` with a body that is not JSON.

        The call is carried out first, as behind a proxy that mangles the answer.
        ``method`` limits the fault to calls with that HTTP method (any when ``None``).
        """
        fault = Fault(
            FaultKind.GARBAGE,
            checks.integer("times", times, least=1),
            True,
            check_method(method),
            status=check_status(status),
        )
        self._faults.add(path, fault)

    def clear_faults(self) -> None:
        """Forget every fault not yet used."""
        self._faults.clear()

    def pending_faults(self, path: str | None = None) -> int:
        """How many calls (to ``path``, or to any path) queued faults will still spoil."""
        return self._faults.pending(path)
