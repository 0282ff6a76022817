"""Argument types and shared helpers of the ``calypso-async`` commands."""

from __future__ import annotations

import argparse
import math
import os

from .._client import ENV_VARIABLES as ENV_VARS
from .._errors import ConfigurationError

__all__ = ["ENV_VARS", "PROG", "env_problem", "port", "seconds", "seconds_or_none"]

PROG = "calypso-async"


def seconds_or_none(text: str) -> float | None:
    """A number of seconds, 0 or more, or ``none``."""
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError("seconds must be finite and not negative")
    return value


def seconds(text: str) -> float:
    """A number of seconds, 0 or more."""
    value = seconds_or_none(text)
    if value is None:
        raise argparse.ArgumentTypeError("a number of seconds is needed here")
    return value


def port(text: str) -> int:
    """A TCP port (0 picks a free one)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0-65535 (0 picks a free one)")
    return value


def env_problem(error: ConfigurationError) -> str:
    """Say what is wrong with the ``CALYPSO_*`` variables, in their own names."""
    message = str(error)
    required = [var for name, var in ENV_VARS.items() if name != "base_url"]
    if any(not os.environ.get(var) for var in required):
        return f"{message}; set them to your Calypso credentials"
    # A value was refused: the message starts with the setting's name ("base_url must
    # use https: ..."); the user set a variable, so name that instead.
    for name, var in ENV_VARS.items():
        if message.startswith(f"{name} "):
            return var + message[len(name) :]
    return message
