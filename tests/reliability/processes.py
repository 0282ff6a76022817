"""Real processes for the multi-process tests: ``calypso-async worker``s, a load balancer
that hands every delivery to two of them at once, and a redis-server of the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import itertools
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
from aiohttp import web

from calypso_async.testing import FakeCalypso

WORKER_ARGS = (
    "--lease", "1.5",
    "--resend-hold", "6",
    "--poll-interval", "0.1",
    "--completion-timeout", "30",
    "--shutdown-grace", "5",
    "--concurrency", "8",
    "--log-level", "WARNING",
)  # fmt: skip
"""A short lease, so that a dead or paused worker's claims are taken over in seconds."""


def _die_with_the_test() -> None:
    """In the child: be killed when the test process dies, however it dies (Linux)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Worker:
    """One ``calypso-async worker`` process on a store, listening on a free port."""

    _numbers = itertools.count(1)

    def __init__(self, fake: FakeCalypso, secret: str, store: str, logs: Path, *args: str) -> None:
        self.number = next(self._numbers)
        self._args = args
        self._env = {
            **os.environ,
            "CALYPSO_API_KEY": fake.api_key,
            "CALYPSO_SECRET_KEY": fake.secret_key,
            "CALYPSO_ACCOUNT": fake.account,
            "CALYPSO_BASE_URL": fake.base_url,
            "CALYPSO_WEBHOOK_SECRET": secret,
        }
        self._store = store
        self._log = logs / f"worker-{self.number}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""
        self.stopped = False

    async def start(self) -> None:
        """Start it and wait for its ``ready:`` line."""
        stderr = self._log.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "calypso_async",
                "worker",
                "--store",
                self._store,
                "--listen",
                "127.0.0.1:0",
                *WORKER_ARGS,
                *self._args,
                env=self._env,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                preexec_fn=_die_with_the_test,
            )
        finally:
            stderr.close()
        assert self.process.stdout is not None
        async with asyncio.timeout(20):
            line = (await self.process.stdout.readline()).decode()
        assert line.startswith("ready: listening on "), (line, self.log())
        self.url = line.split()[3].rstrip(",")
        self.stopped = False

    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None and not self.stopped

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        if sig is signal.SIGSTOP:
            self.stopped = True
        elif sig is signal.SIGCONT:
            self.stopped = False

    async def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.process is not None
        await self.process.wait()

    async def terminate(self) -> tuple[int, str]:
        """SIGTERM, then its exit code and what it printed last."""
        assert self.process is not None
        assert self.process.stdout is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
        try:
            async with asyncio.timeout(30):
                out = (await self.process.stdout.read()).decode()
                code = await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise
        return code, out


class Balancer:
    """Hands every delivery to two live workers at once; 200 if either took it.

    What a merchant's load balancer does with a retry storm, and what Calypso's
    at-least-once delivery does anyway: the same event reaches two replicas together.
    """

    def __init__(self, workers: Sequence[Worker]) -> None:
        self.workers = list(workers)
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""
        self.answers: list[int] = []

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self.url = f"http://127.0.0.1:{port}/calypso/webhooks"

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name: request.headers[name] for name in ("Key", "Sign", "Content-Type")}
        live = [worker for worker in self.workers if worker.alive and worker.url]
        if not live:
            return web.Response(status=503)
        start = next(self._turn)
        chosen = [live[(start + i) % len(live)] for i in range(min(2, len(live)))]
        statuses = await asyncio.gather(*(self._post(w.url, body, headers) for w in chosen))
        status = 200 if 200 in statuses else max(statuses)
        self.answers.append(status)
        return web.Response(status=status)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        assert self._http is not None
        try:
            async with self._http.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 502


class RedisServer:
    """A redis-server of the test's own (``appendonly yes``), to stop and start again."""

    def __init__(self, program: str, folder: Path) -> None:
        self._program = program
        self._folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            self._program,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self._folder),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=_die_with_the_test,
        )  # fmt: skip
        async with asyncio.timeout(10):
            while True:
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    await writer.wait_closed()
                    return
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()  # redis-server writes its append-only file and exits
            await process.wait()


@contextlib.asynccontextmanager
async def redis_server(program: str, folder: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(program, folder)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
