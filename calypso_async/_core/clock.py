"""Request timestamps that stay inside the server's ±3 minute window.

The server rejects a timestamp more than three minutes from its own clock. A host whose
clock drifted would fail every call, so the session learns the server's time from the
``Date`` header of its answers and shifts its timestamps by the difference.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime

__all__ = ["ServerClock"]


class ServerClock:
    """The local clock, corrected by the offset the server's ``Date`` headers reveal.

    Args:
        wall_clock: Unix seconds (``time.time``).
        clock: Monotonic seconds, to pace how often a header is parsed.
        enabled: ``False`` keeps the offset at zero.
        threshold: An offset smaller than this many seconds is noise (``Date`` has
            one-second resolution) and is ignored.
        resync_every: Seconds between two readings of ``Date`` on successful answers;
            error answers are always read.
    """

    __slots__ = (
        "_clock",
        "_enabled",
        "_last_sample",
        "_resync",
        "_threshold",
        "_wall",
        "generation",
        "offset",
    )

    def __init__(
        self,
        *,
        wall_clock: Callable[[], float],
        clock: Callable[[], float],
        enabled: bool = True,
        threshold: float = 2.0,
        resync_every: float = 60.0,
    ) -> None:
        self._wall = wall_clock
        self._clock = clock
        self._enabled = enabled
        self._threshold = threshold
        self._resync = resync_every
        self._last_sample: float | None = None
        self.offset = 0.0
        self.generation = 0
        """Counts offset changes, so a caller can tell whether a reading moved it."""

    def timestamp_ms(self) -> int:
        """Return the corrected Unix time in milliseconds."""
        return int((self._wall() + self.offset) * 1000)

    def observe(self, date_header: str | None, *, force: bool = False) -> None:
        """Learn from a response's ``Date`` header (at most once a minute unless forced)."""
        if not self._enabled or not date_header:
            return
        now = self._clock()
        if not force and self._last_sample is not None and now - self._last_sample < self._resync:
            return
        self._last_sample = now
        try:
            server_time = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError, IndexError):
            return
        # Date is truncated to the second: the server's clock lies in [t, t + 1).
        skew = server_time + 0.5 - self._wall()
        offset = skew if abs(skew) > self._threshold else 0.0
        # Readings jitter by up to a second (Date's resolution plus latency): only a move
        # beyond that is news, so `generation` counts real changes, not noise.
        if abs(offset - self.offset) >= 1.0 or (offset == 0.0) != (self.offset == 0.0):
            self.offset = offset
            self.generation += 1
