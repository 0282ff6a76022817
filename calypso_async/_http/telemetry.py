"""Whether a session reports to OpenTelemetry: the switch, free of OpenTelemetry itself.

The session always imports this module; it imports :mod:`.otel` (and with it
``opentelemetry``) only for a client given ``telemetry=``. A client without it imports
nothing of OpenTelemetry and keeps no observer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._settings import ClientSettings
    from .observe import Observer

__all__ = ["observers"]


def observers(settings: ClientSettings) -> tuple[Observer, ...]:
    """The observers a session with ``settings`` reports its calls to (none by default).

    Raises:
        ConfigurationError: Telemetry was asked for and OpenTelemetry's API is not
            installed (the message names the ``otel`` extra).
    """
    if settings.telemetry is None:
        return ()
    from .otel import CallTelemetry  # an optional extra: imported only now

    return (CallTelemetry(settings.telemetry, settings.base_url, settings.runtime.clock),)
