"""ServerClock: timestamps corrected by the skew the server's Date header reveals."""

from __future__ import annotations

from email.utils import formatdate

from calypso_async._core.clock import ServerClock
from tests.conftest import FakeTime


def _clock(fake_time: FakeTime, **options: object) -> ServerClock:
    return ServerClock(wall_clock=fake_time.wall, clock=fake_time.monotonic, **options)  # type: ignore[arg-type]


def test_timestamp_is_the_wall_clock_in_milliseconds(fake_time: FakeTime) -> None:
    """With no Date seen, the timestamp is the local Unix time in ms."""
    fake_time.now = 1_700_000_000.5
    assert _clock(fake_time).timestamp_ms() == 1_700_000_000_500


def test_a_server_ten_minutes_ahead_shifts_timestamps(fake_time: FakeTime) -> None:
    """A Date header 10 minutes ahead moves timestamps 10 minutes (within a second)."""
    clock = _clock(fake_time)
    clock.observe(formatdate(fake_time.now + 600, usegmt=True))
    assert clock.generation == 1
    assert 600 <= clock.offset < 601
    assert 0 <= clock.timestamp_ms() - (fake_time.now + 600) * 1000 < 1000


def test_small_skew_is_treated_as_noise(fake_time: FakeTime) -> None:
    """A second of difference (Date's resolution) leaves timestamps alone."""
    clock = _clock(fake_time)
    clock.observe(formatdate(fake_time.now + 1, usegmt=True))
    assert clock.offset == 0.0
    assert clock.generation == 0


def test_date_is_read_at_most_once_per_resync_period_unless_forced(fake_time: FakeTime) -> None:
    """Successful answers are sampled once a minute; error answers (force) always."""
    clock = _clock(fake_time, resync_every=60.0)
    clock.observe(formatdate(fake_time.now, usegmt=True))
    clock.observe(formatdate(fake_time.now + 600, usegmt=True))
    assert clock.offset == 0.0
    clock.observe(formatdate(fake_time.now + 600, usegmt=True), force=True)
    assert clock.offset > 599


def test_disabled_clock_ignores_the_server(fake_time: FakeTime) -> None:
    """sync_clock=False keeps the local time."""
    clock = _clock(fake_time, enabled=False)
    clock.observe(formatdate(fake_time.now + 600, usegmt=True), force=True)
    assert clock.offset == 0.0


def test_unreadable_date_is_ignored(fake_time: FakeTime) -> None:
    """A garbage Date header neither crashes nor moves the clock."""
    clock = _clock(fake_time)
    clock.observe("not a date", force=True)
    clock.observe(None, force=True)
    assert clock.offset == 0.0
    assert clock.generation == 0


def test_skew_that_goes_away_resets_the_offset(fake_time: FakeTime) -> None:
    """Once the host clock is fixed, the correction goes back to zero."""
    clock = _clock(fake_time)
    clock.observe(formatdate(fake_time.now - 600, usegmt=True), force=True)
    assert clock.offset < -599
    clock.observe(formatdate(fake_time.now, usegmt=True), force=True)
    assert clock.offset == 0.0
    assert clock.generation == 2
