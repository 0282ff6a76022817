"""A pytest plugin failing any test that leaves a task, a session or a connector behind.

``filterwarnings = error`` already turns a ``ResourceWarning`` raised while a test runs
into a failure. Three leaks slip past it, and this plugin catches them:

* a task still pending when the test's fixtures are torn down: pytest-asyncio's runner
  cancels it silently when it closes the loop, so nothing would ever say so;
* an unclosed ``aiohttp.ClientSession`` or connector kept alive by a reference cycle:
  its ``ResourceWarning`` fires only when the cycle is collected, possibly in another
  test or never, so every module ends with a ``gc.collect()``;
* what asyncio and aiohttp *log* instead of warning ("Task was destroyed but it is
  pending!", "Unclosed client session", "Unclosed connector"), through the loop's
  exception handler on the ``asyncio`` logger.

``pyproject.toml`` loads it for every run (``-p tests.reliability.leakcheck`` in
``addopts``), whatever tests are selected.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

GUARD = "_calypso_leak_guard"

_LEAK_WORDS = ("Unclosed", "Task was destroyed", "was never awaited", "pending")


class _LeakLog(logging.Handler):
    """Keeps the ERROR records of the ``asyncio`` logger that speak of a leak."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(word in message for word in _LEAK_WORDS):
            self.leaks.append(message.splitlines()[0])


_log = _LeakLog()


@pytest.fixture
async def _calypso_leak_guard() -> AsyncIterator[None]:
    """Torn down after the test's other fixtures: any task still pending is a leak."""
    yield
    await asyncio.sleep(0)  # let close callbacks scheduled by the teardowns run
    me = asyncio.current_task()
    leaked = [task for task in asyncio.all_tasks() if task is not me and not task.done()]
    if leaked:
        names = ", ".join(sorted(repr(task.get_name()) for task in leaked))
        pytest.fail(f"the test left {len(leaked)} pending task(s): {names}", pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    """Start listening to the ``asyncio`` logger."""
    logging.getLogger("asyncio").addHandler(_log)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop listening."""
    logging.getLogger("asyncio").removeHandler(_log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the task guard first in every coroutine test, so it is torn down last."""
    for item in items:
        function = getattr(item, "function", None)
        # A hypothesis test wraps the coroutine function in a plain one.
        inner = getattr(getattr(function, "hypothesis", None), "inner_test", function)
        if inner is not None and inspect.iscoroutinefunction(inner):
            names = getattr(item, "fixturenames", None)
            if names is not None and GUARD not in names:
                names.insert(0, GUARD)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the teardown: collect cycles at the end of a module, then read the log."""
    try:
        return (yield)
    finally:
        leaks, _log.leaks = _log.leaks, []
        if nextitem is None or _module(nextitem) is not _module(item):
            leaks += _collect_cycles()
        if leaks:
            pytest.fail("leaked: " + " | ".join(leaks), pytrace=False)


def _collect_cycles() -> list[str]:
    """Run the cycle collector; return what finalizers complained about meanwhile."""
    found: list[str] = []

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        found.append(f"{unraisable.exc_type.__name__}: {unraisable.exc_value}")

    previous, sys.unraisablehook = sys.unraisablehook, hook
    try:
        gc.collect()
    finally:
        sys.unraisablehook = previous
    return found


def _module(item: pytest.Item) -> object:
    return getattr(item, "module", None)
