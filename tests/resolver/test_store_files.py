"""Opening stores: URLs, files that are not stores, servers that are not there, secrets."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from contextlib import closing
from pathlib import Path
from uuid import uuid4

import pytest

from calypso_async import ConfigurationError, StoreError
from calypso_async.stores import MemoryStore, SQLiteStore, store_from_url
from tests.stores import redis_url

# -- store_from_url ---------------------------------------------------------------------


def test_each_scheme_gives_its_store(tmp_path: Path) -> None:
    """memory://, sqlite:/// (relative, or absolute with a fourth slash), redis://."""
    assert isinstance(store_from_url("memory://"), MemoryStore)
    relative = store_from_url("sqlite:///./calypso-resolver.db")
    assert isinstance(relative, SQLiteStore)
    assert relative.path == Path("./calypso-resolver.db")
    absolute = store_from_url(f"sqlite:///{tmp_path}/resolver.db")
    assert isinstance(absolute, SQLiteStore)
    assert absolute.path == tmp_path / "resolver.db"
    assert type(store_from_url("redis://127.0.0.1:6379/0")).__name__ == "RedisStore"


@pytest.mark.parametrize(
    "url",
    [
        "postgres://db/shop",
        "sqlite.db",
        "sqlite:///",
        "sqlite://relative.db",
        "memory://somewhere",
        "redis://:6379/0",
        "redis://host:notaport/0",
        "",
    ],
)
def test_a_url_that_names_no_store_is_a_configuration_error(url: str) -> None:
    """Refused before any I/O, naming what is accepted."""
    with pytest.raises(ConfigurationError) as info:
        store_from_url(url)
    message = str(info.value)
    assert "sqlite:///" in message or "redis://" in message or "memory://" in message


def test_a_redis_password_never_shows(tmp_path: Path) -> None:
    """Neither the URL, the repr nor an error names the password."""
    store = store_from_url("redis://shop:hunter2secret@127.0.0.1:6379/0")
    assert "hunter2secret" not in store.url
    assert "hunter2secret" not in repr(store)
    assert store.url == "redis://shop:***@127.0.0.1:6379/0"


async def test_an_unreachable_redis_is_a_store_error_without_the_password() -> None:
    """A server that is not there: StoreError, quickly, the password masked."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    store = store_from_url(f"redis://:hunter2secret@127.0.0.1:{port}/0", socket_timeout=1)
    with pytest.raises(StoreError) as info:
        await store.open()
    assert "hunter2secret" not in str(info.value)
    assert f"127.0.0.1:{port}" in str(info.value)
    await store.aclose()


# -- SQLite files -------------------------------------------------------------------------


async def test_a_new_file_becomes_a_store_and_reopens(tmp_path: Path) -> None:
    """The first open makes the schema; later opens (other processes) find it."""
    path = tmp_path / "resolver.db"
    async with SQLiteStore(path) as store:
        assert (await store.accept("inv-1")).value == "queued"
    async with SQLiteStore(path) as again:
        assert await again.counts() == (1, 0)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_another_applications_sqlite_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    """A database someone else made is never written to."""
    path = tmp_path / "shop.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total TEXT)")
        conn.execute("INSERT INTO orders (total) VALUES ('10.234')")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a calypso_async resolver store"):
        await SQLiteStore(path).open()
    assert path.read_bytes() == before


async def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path: Path) -> None:
    """Garbage (or a truncated download) is refused, never overwritten."""
    path = tmp_path / "resolver.db"
    path.write_bytes(b"this is a shopping list, not a database\n" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="refusing"):
        await SQLiteStore(path).open()
    assert path.read_bytes() == before


async def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    """A schema this SDK does not know is not guessed at."""
    path = tmp_path / "resolver.db"
    async with SQLiteStore(path):
        pass
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="version 99"):
        await SQLiteStore(path).open()


async def test_a_file_in_a_missing_folder_is_a_clear_store_error(tmp_path: Path) -> None:
    """Cannot open: says which folder is missing."""
    with pytest.raises(StoreError, match=r"folder .* does not exist"):
        await SQLiteStore(tmp_path / "no" / "such" / "folder.db").open()


async def test_redis_store_round_trip_on_the_test_server() -> None:
    """The test server is reachable (the Redis tests ran against a real one)."""
    async with store_from_url(redis_url(), namespace="probe") as store:
        await store.ping()


async def test_a_checkpoint_leaves_the_waiting_connection_usable(tmp_path: Path) -> None:
    """The thread's connection serves checkpoints and the operations that must wait for
    another process's lock: a checkpoint must not leave it mid-statement."""
    async with SQLiteStore(tmp_path / "resolver.db") as store:
        await store.accept("inv-1")
        store._start_checkpoint()
        assert store._checkpoint is not None
        await store._checkpoint
        from calypso_async._resolver.stores import sqlite_ops

        assert await store._run_waiting(sqlite_ops.counts) == (1, 0)
        assert (await store._run_waiting(sqlite_ops.claim, None, "t", "w", 2e9, 3e9)) == (
            "inv-1",
            1,
        )


async def test_another_process_holding_the_write_lock_is_waited_for(tmp_path: Path) -> None:
    """While another connection holds the write lock, an operation waits on the store's
    thread instead of failing, and goes through once the lock is free."""
    path = tmp_path / "resolver.db"
    async with SQLiteStore(path) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        accepting = asyncio.ensure_future(store.accept("inv-1"))
        await asyncio.sleep(0.2)
        assert not accepting.done(), "it waits for the lock"
        other.execute("COMMIT")
        other.close()
        assert (await accepting).value == "queued"


def test_a_redis_password_given_as_a_query_value_never_shows() -> None:
    """redis-py takes ?password= too: masked like the user part."""
    store = store_from_url("redis://127.0.0.1:6379/0?password=hunter2secret&namespace=shop")
    assert "hunter2secret" not in store.url
    assert store.url == "redis://127.0.0.1:6379/0?password=***&namespace=shop"


def test_a_misspelt_redis_url_option_is_a_clear_error_before_any_io() -> None:
    """redis-py would raise a TypeError only once connecting; the store names the
    option at once, and never the password."""
    with pytest.raises(ConfigurationError, match="nmespace") as raised:
        store_from_url("redis://:hunter2secret@127.0.0.1:1/0?nmespace=shop")
    assert "hunter2secret" not in str(raised.value)
    with pytest.raises(ConfigurationError, match="socket_timeout") as raised:
        store_from_url("redis://127.0.0.1:1/0?socket_timeout=soon&password=hunter2secret")
    assert "hunter2secret" not in str(raised.value)


def test_a_namespace_in_the_url_is_the_stores_namespace() -> None:
    """RedisStore reads ?namespace= as store_from_url does; two different ones are an
    error before any I/O."""
    from calypso_async.stores import RedisStore

    store = RedisStore("redis://127.0.0.1:6379/0?namespace=shop")
    assert store.url == "redis://127.0.0.1:6379/0?namespace=shop"
    assert store._prefix == "{shop}:"
    with pytest.raises(ConfigurationError, match="namespace"):
        RedisStore("redis://127.0.0.1:6379/0?namespace=shop", namespace="other")
    encoded = RedisStore("redis://127.0.0.1:6379/0?password=p%26ss%3Dx%2By&namespace=shop")
    assert encoded._url == "redis://127.0.0.1:6379/0?password=p%26ss%3Dx%2By"


async def test_an_operators_store_must_exist(tmp_path: Path) -> None:
    """A typo in --store must not answer from an empty store made on the spot."""
    missing = tmp_path / "typo.db"
    with pytest.raises(StoreError, match="no store at"):
        await SQLiteStore(missing, create=False).open()
    assert not missing.exists()
    store = store_from_url(
        f"{redis_url()}{'&' if '?' in redis_url() else '?'}namespace=nothing-{id(missing)}",
        create=False,
    )
    with pytest.raises(StoreError, match="no store in this namespace"):
        await store.open()
    await store.aclose()


async def test_redis_makes_its_consumer_group_again_if_redis_lost_it() -> None:
    """A Redis restarted without its data (or flushed) loses the group: the next
    claim makes it again instead of failing for ever."""
    from calypso_async.stores import RedisStore

    async with RedisStore(redis_url(), namespace=f"nogroup-{uuid4().hex}") as store:
        redis = store._redis
        assert redis is not None
        await redis.delete(store._stream)  # the stream, and its group, are gone
        await store.accept("inv-1")
        claim = await store.next_claim("worker-a", 30.0, wait=0)
        assert claim is not None
        assert claim.invoice_id == "inv-1"
        await store.release(claim, None)
        keys = [key async for key in redis.scan_iter(match=store._prefix + "*")]
        await redis.delete(*keys)


async def test_redis_finds_a_dead_direct_claim_again_after_its_lease() -> None:
    """A resolve() that claimed an invoice the store did not hold, in a process that then
    died: a worker takes it over once the claim has run out (Redis finds it by its idle
    stream entry, on Redis's own clock: a short real wait)."""
    from calypso_async.stores import RedisStore

    async with RedisStore(redis_url(), namespace=f"direct-{uuid4().hex}") as store:
        redis = store._redis
        assert redis is not None
        direct = await store.claim("inv-1", "dead-process", 0.2)
        assert direct is not None
        assert await store.next_claim("worker-a", 0.2, wait=0) is None  # delivered: live
        await asyncio.sleep(0.6)  # the lease, and the entry's idle time, run out
        store._autoclaimed = 0.0
        taken = await store.next_claim("worker-a", 0.2, wait=0)
        assert taken is not None
        assert taken.invoice_id == "inv-1"
        assert taken.token != direct.token
        keys = [key async for key in redis.scan_iter(match=store._prefix + "*")]
        await redis.delete(*keys)
