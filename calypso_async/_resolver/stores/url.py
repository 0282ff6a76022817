"""``store_from_url``: a store from one string, as operators write it in a flag or a variable."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..._errors import ConfigurationError
from ..ports import ResolverStore
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["SCHEMES", "store_from_url"]

SCHEMES = "memory://, sqlite:///path/to/file.db, redis://host:port/0 (or rediss://)"
"""The store URLs :func:`store_from_url` accepts, as error messages name them."""


def store_from_url(url: str, **options: Any) -> ResolverStore:
    """Build the store a URL names.

    * ``memory://``: a :class:`MemoryStore` (this process only).
    * ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (the path is
      what follows ``sqlite:///``, as in SQLAlchemy): a ``SQLiteStore``.
    * ``redis://[user:password@]host[:port][/db][?namespace=shop]`` or ``rediss://...``
      (TLS): a ``RedisStore`` (needs the ``redis`` extra: ``pip install
      'calypso_async[redis]'``); ``namespace`` prefixes its keys (``calypso``).

    Args:
        url: The store's URL.
        **options: Keyword arguments of the store's class.

    Raises:
        ConfigurationError: The URL does not parse, or names no store this SDK has (the
            message names the accepted schemes, never a password).
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(f"a store URL looks like one of: {SCHEMES}")
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        if url.rstrip("/") != "memory:":
            raise ConfigurationError("memory:// takes nothing after the scheme")
        return MemoryStore(**options)
    if scheme == "sqlite":
        if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
            raise ConfigurationError(
                "a SQLite store URL is sqlite:/// followed by the file's path, such as "
                "sqlite:///./calypso-resolver.db or sqlite:////var/lib/shop/resolver.db"
            )
        return SQLiteStore(url[len("sqlite:///") :], **options)
    if scheme in ("redis", "rediss"):
        try:
            parts = urlsplit(url)
            port, host = parts.port, parts.hostname
        except ValueError:
            raise ConfigurationError(
                f"the Redis store URL does not parse; it looks like {SCHEMES.split(', ')[-1]}"
            ) from None
        if not host:
            raise ConfigurationError("a Redis store URL names a host: redis://host:port/0")
        del port
        try:
            from .redis import RedisStore
        except ImportError:
            raise ConfigurationError(
                "the Redis store needs the redis package: install calypso_async with its redis "
                "extra (from a clone: pip install -e '.[redis]'), or pip install 'redis>=5.0.1'"
            ) from None
        return RedisStore(url, **options)
    raise ConfigurationError(f"unknown store scheme {scheme!r}; the stores are: {SCHEMES}")
