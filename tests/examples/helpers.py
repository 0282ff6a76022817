"""What the example tests share: loading an example by path, serving it, running it."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import uvicorn
from aiohttp import web

from calypso_async.testing import FakeCalypso

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` by its path: ``examples/`` is not a package."""
    module_name = f"calypso_example_{name}"
    if (loaded := sys.modules.get(module_name)) is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


def calypso_env(fake: FakeCalypso, webhook_secret: str | None = None) -> dict[str, str]:
    """The variables an example reads, pointing at ``fake``."""
    env = {
        "CALYPSO_BASE_URL": fake.base_url,
        "CALYPSO_API_KEY": fake.api_key,
        "CALYPSO_SECRET_KEY": fake.secret_key,
        "CALYPSO_ACCOUNT": fake.account,
    }
    if webhook_secret is not None:
        env["CALYPSO_WEBHOOK_SECRET"] = webhook_secret
    return env


def listening_socket() -> socket.socket:
    """A socket listening on a free loopback port: its URL is known before serving."""
    return socket.create_server(("127.0.0.1", 0))


def url_of(listener: socket.socket) -> str:
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve_aiohttp(app: web.Application, listener: socket.socket) -> AsyncIterator[str]:
    """Serve ``app`` on ``listener`` (its startup and cleanup included); yield its URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, listener).start()
        yield url_of(listener)
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serve_uvicorn(app: Any, listener: socket.socket) -> AsyncIterator[uvicorn.Server]:
    """Serve the ASGI ``app`` with a real uvicorn on ``listener``, lifespan included."""
    config = uvicorn.Config(app, lifespan="on", log_level="warning", ws="none")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]), name="uvicorn")
    try:
        async with asyncio.timeout(10):
            while not server.started:
                assert not task.done(), "uvicorn stopped before it started (see its log)"
                await asyncio.sleep(0.01)
        yield server
    finally:
        server.should_exit = True
        await task


async def start_python(
    *args: str, env: dict[str, str], log: Path, cwd: Path | None = None
) -> asyncio.subprocess.Process:
    """Run ``python ARGS`` with ``env`` (and PATH); stdout is piped, stderr goes to ``log``."""
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", **env},
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            cwd=cwd,
        )


async def start_example(
    script: str, *args: str, env: dict[str, str], log: Path
) -> asyncio.subprocess.Process:
    """Run ``python examples/<script> ARGS``; see :func:`start_python`."""
    return await start_python(str(EXAMPLES / script), *args, env=env, log=log)


def read_log(log: Path) -> str:
    """What a process wrote to its log (for failure messages)."""
    return log.read_text(errors="replace") if log.exists() else ""


async def wait_listening(process: asyncio.subprocess.Process, port: int, log: Path) -> None:
    """Return once ``port`` takes connections; fail if ``process`` exits first."""
    async with asyncio.timeout(20):
        while True:
            assert process.returncode is None, read_log(log)
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


async def stop(
    process: asyncio.subprocess.Process, sig: int | None = signal.SIGTERM
) -> tuple[int, str]:
    """Send ``sig`` (``None``: none, wait for the end); return its exit code and output."""
    assert process.stdout is not None
    try:
        if sig is not None and process.returncode is None:
            process.send_signal(sig)
        async with asyncio.timeout(20):
            out = (await process.stdout.read()).decode()
            return await process.wait(), out
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
