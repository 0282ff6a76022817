"""FakeCalypso in a child process (``calypso-async fake --commands``), always stopped.

The server runs in its own process so that its CPU time is not charged to the client
being measured. Its first output line carries the credentials; ``--commands`` lets the
benchmark pay invoices through the child's standard input, and closing that input stops
it, so even a benchmark killed outright does not leave the server running.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
from typing import Self

from ._stats import child_cpu_seconds

_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 5.0
_LINE_LIMIT = 1 << 26  # `create` answers every id on one line: 100,000 take 3.7 MB


class FakeServerError(RuntimeError):
    """The fake server did not start, or refused a command."""


class FakeServerProcess:
    """``python -m calypso_async fake --port 0 --commands`` as an async context manager.

    Args:
        settle_delay: Seconds from PAID to COMPLETED; ``None``: never by itself.
        latency: Seconds the fake adds before every answer.
        accept_repeated_return_to_paid: Take (and count) a second return-to-paid.
    """

    def __init__(
        self,
        *,
        settle_delay: float | None = 0.05,
        latency: float = 0.0,
        accept_repeated_return_to_paid: bool = False,
    ) -> None:
        self._args = [
            "--settle-delay",
            "none" if settle_delay is None else repr(settle_delay),
            "--latency",
            repr(latency),
        ]
        if accept_repeated_return_to_paid:
            self._args.append("--accept-repeated-return-to-paid")
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._replies: collections.deque[asyncio.Future[str]] = collections.deque()
        self.env: dict[str, str] = {}

    async def __aenter__(self) -> Self:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "calypso_async",
            "fake",
            "--port",
            "0",
            "--commands",
            *self._args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
        )
        try:
            assert self._process.stdout is not None
            first = await asyncio.wait_for(self._process.stdout.readline(), _START_TIMEOUT)
            pairs = [item.partition("=") for item in first.decode().split()]
            self.env = {key: value for key, sep, value in pairs if sep}
            if "CALYPSO_BASE_URL" not in self.env:
                raise FakeServerError(f"unexpected first line from the fake: {first!r}")
            self._reader = asyncio.create_task(self._read_replies(), name="fake replies")
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop()

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self._process is not None
        return self._process.pid

    def cpu_seconds(self) -> float | None:
        """CPU seconds the server process has used so far (``None`` off Linux)."""
        return child_cpu_seconds(self.pid)

    def command(self, line: str) -> asyncio.Future[str]:
        """Send one ``--commands`` line; the future gets its answer (``ok ID STATE``)."""
        process = self._process
        if process is None or process.stdin is None or process.returncode is not None:
            raise FakeServerError("the fake server is not running")
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._replies.append(reply)
        process.stdin.write(line.encode() + b"\n")
        return reply

    async def pay(self, invoice_id: str, amount: str) -> str:
        """Pay ``amount`` into an invoice and return the state it is in afterwards."""
        reply = await self.command(f"pay {invoice_id} {amount}")
        answer, _, rest = reply.partition(" ")
        if answer != "ok":
            raise FakeServerError(f"pay {invoice_id} {amount}: {rest}")
        return rest.rsplit(" ", 1)[-1]

    async def create_many(self, count: int, amount: str) -> list[str]:
        """Make ``count`` invoices of ``amount`` USDT inside the fake (no API calls)."""
        reply = await self.command(f"create {count} {amount}")
        answer, *ids = reply.split()
        if answer != "ok":
            raise FakeServerError(f"create {count} {amount}: {reply}")
        return ids

    async def arrivals(self, start: int = 0) -> tuple[int, int, int, float]:
        """Requests the fake received: (total so far, from the ``start``-th on, the most
        of those in any second, seconds from the first of those to the last)."""
        reply = await self.command(f"arrivals {start}")
        answer, *words = reply.split()
        if answer != "ok":
            raise FakeServerError(f"arrivals {start}: {reply}")
        total, count, busiest, span = words
        return int(total), int(count), int(busiest), float(span)

    async def drain(self) -> None:
        """Wait until the commands written so far have left this process."""
        if self._process is not None and self._process.stdin is not None:
            await self._process.stdin.drain()

    async def _read_replies(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        stdout = self._process.stdout
        while line := await stdout.readline():
            text = line.decode().strip()
            # Other lines (the banner, the goodbye) are for people, not for us.
            if text.startswith(("ok ", "error ")) and self._replies:
                reply = self._replies.popleft()
                if not reply.done():
                    reply.set_result(text)
        while self._replies:
            reply = self._replies.popleft()
            if not reply.done():
                reply.set_exception(FakeServerError("the fake server stopped"))

    async def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.returncode is None and process.stdin is not None:
                # The end of its input is the fake's cue to stop by itself.
                process.stdin.close()
                with contextlib.suppress(ConnectionError):
                    await process.stdin.wait_closed()
            try:
                await asyncio.wait_for(process.wait(), _STOP_TIMEOUT)
            except TimeoutError:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), _STOP_TIMEOUT)
                except TimeoutError:
                    process.kill()
                    await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            if self._reader is not None:
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(self._reader, _STOP_TIMEOUT)
