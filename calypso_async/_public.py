"""One public home for every public object, wherever it lives inside the package."""

from __future__ import annotations

import contextlib
import typing


def move_home(home: str, *objects: object) -> None:
    """Give ``objects`` the ``__module__`` of the public module ``home``.

    Users, tracebacks and the API reference then see ``calypso_async.X`` rather than a
    private path (as httpx does). A class's annotations are evaluated first, in its own
    module, so ``typing.get_type_hints()`` still works once the home has moved.
    """
    for obj in objects:
        if not getattr(obj, "__module__", "").startswith("calypso_async."):
            continue
        if isinstance(obj, type) and "__annotations__" in vars(obj):
            # NameError: it refers to a type imported only for type checkers (aiohttp's).
            with contextlib.suppress(NameError):
                obj.__annotations__ = typing.get_type_hints(obj)
        with contextlib.suppress(AttributeError, TypeError):  # a type alias cannot take one
            obj.__module__ = home
