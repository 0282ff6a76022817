"""The stores a resolver keeps its shared state in: memory, SQLite, Redis.

``memory.py`` serves one process; ``sqlite.py`` (with the SQL in ``sqlite_ops.py``) the
processes of one machine; ``redis.py`` (with its Lua in ``redis_scripts.py``) any number
of machines; ``polling.py`` feeds a durable store's claims to the workers; ``url.py``
builds a store from a URL. ``redis.py`` is imported only when a Redis store is asked
for: it needs the optional ``redis`` package.
"""

from .memory import MemoryStore
from .sqlite import SQLiteStore
from .url import SCHEMES, store_from_url

__all__ = ["SCHEMES", "MemoryStore", "SQLiteStore", "store_from_url"]
