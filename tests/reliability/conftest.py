"""The reliability tests run under the leak check (see ``leakcheck.py``)."""

from __future__ import annotations

import inspect

import pytest

from tests.reliability.leakcheck import (  # noqa: F401 - a fixture and hooks for this folder
    GUARD,
    _calypso_leak_guard,
    pytest_configure,
    pytest_runtest_teardown,
    pytest_unconfigure,
)


@pytest.fixture(autouse=True)
def _no_leaks(request: pytest.FixtureRequest) -> None:
    """Coroutine tests get the task guard first, so that it is torn down last."""
    if inspect.iscoroutinefunction(request.function):
        request.getfixturevalue(GUARD)
