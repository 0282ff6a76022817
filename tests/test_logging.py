"""CALYPSO_LOG: the SDK's logs on stderr for a program that set up none."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROGRAM = """
import logging, sys
import calypso_async
if "--app-config" in sys.argv:
    logging.basicConfig(format="APP %(name)s %(message)s", stream=sys.stderr)
logging.getLogger("calypso_async.http").debug("debug line")
logging.getLogger("calypso_async.http").info("info line")
logging.getLogger("aiohttp.client").info("not ours")
"""


def run(value: str | None, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "CALYPSO_LOG"}
    if value is not None:
        env["CALYPSO_LOG"] = value
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert done.stdout == ""
    return done.stderr


def test_without_the_switch_nothing_below_warning_is_shown() -> None:
    assert run(None) == ""


@pytest.mark.parametrize(
    ("value", "shown"), [("info", ["info line"]), ("DEBUG", ["debug line", "info line"])]
)
def test_the_switch_shows_the_sdks_records_from_its_level(value: str, shown: list[str]) -> None:
    """Only the SDK's records, from the level asked for, with logger name and level."""
    lines = run(value).splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == shown
    assert all(" calypso_async.http: " in line for line in lines)


def test_a_program_that_sets_up_logging_itself_gets_each_record_once() -> None:
    """basicConfig after the import: the program's format, no second copy."""
    assert run("info", "--app-config").splitlines() == ["APP calypso_async.http info line"]


def test_an_unknown_level_is_said_not_ignored() -> None:
    lines = run("verbose").splitlines()
    assert len(lines) == 1
    assert "CALYPSO_LOG='verbose' is not one of debug, info, warning" in lines[0]
