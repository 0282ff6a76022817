"""Stores for ``InterventionResolver``: where the state shared by its workers lives.

::

    from calypso_async.stores import SQLiteStore, store_from_url

    async with SQLiteStore("calypso-resolver.db") as store:
        async with InterventionResolver(client, store=store) as resolver:
            ...

| store | who shares it |
|---|---|
| :class:`MemoryStore` (the default) | the tasks of one process |
| :class:`SQLiteStore` | the processes of one machine (one SQLite file, WAL mode) |
| :class:`RedisStore` | any number of machines (needs ``calypso_async[redis]``) |

``store_from_url("memory://" | "sqlite:///path/to/file.db" | "redis://host:6379/0")``
builds one from a URL. A store implements :class:`ResolverStore`; the value types here
are what its operations take and return.
"""

from typing import TYPE_CHECKING, Any

from ._public import move_home
from ._resolver import (
    Claim,
    ClaimSource,
    Intake,
    MemoryStore,
    OutcomeRecord,
    ResolverStore,
    WriteRefused,
)
from ._resolver.stores import SQLiteStore, store_from_url

if TYPE_CHECKING:
    from ._resolver.stores.redis import RedisStore

__all__ = [
    "Claim",
    "ClaimSource",
    "Intake",
    "MemoryStore",
    "OutcomeRecord",
    "RedisStore",
    "ResolverStore",
    "SQLiteStore",
    "WriteRefused",
    "store_from_url",
]

move_home(__name__, *(globals()[name] for name in __all__ if name != "RedisStore"))


def __getattr__(name: str) -> Any:
    # RedisStore needs the optional redis package: imported only when asked for.
    if name == "RedisStore":
        try:
            from ._resolver.stores.redis import RedisStore
        except ImportError as exc:
            raise ImportError(
                "RedisStore needs the redis package: install calypso_async with its redis extra "
                "(from a clone: pip install -e '.[redis]'), or pip install 'redis>=5.0.1'"
            ) from exc
        move_home(__name__, RedisStore)
        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
