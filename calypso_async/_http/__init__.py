"""The http layer: the signed, retrying session and the one aiohttp transport under it.

The session turns ``(path, payload)`` into an envelope, signs those exact bytes, sends
them through the transport and returns JSON or a typed error. It knows nothing of
resources, models or paths; each caller says whether its call may be sent again.
"""

from .observe import Captured, RequestEvent, ResponseEvent, RetryEvent
from .session import CalypsoSession

__all__ = ["CalypsoSession", "Captured", "RequestEvent", "ResponseEvent", "RetryEvent"]
