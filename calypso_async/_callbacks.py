"""Calling user code that may be a plain function or a coroutine function."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["call"]

T = TypeVar("T")


async def call(callback: Callable[[T], Any], argument: T) -> Any:
    """Call ``callback(argument)`` and await the result if it is awaitable."""
    result = callback(argument)
    if inspect.isawaitable(result):
        result = await result
    return result
