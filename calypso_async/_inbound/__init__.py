"""The inbound layer: webhook deliveries verified and parsed, and a thin aiohttp adapter.

``parse.py`` is pure (bytes and headers in, a ``WebhookEvent`` or a typed error out), so
any web framework can call it; ``aiohttp.py`` is the aiohttp.web handler around it.
"""

from .aiohttp import WebhookHandler, webhook_handler
from .parse import parse_event

__all__ = ["WebhookHandler", "parse_event", "webhook_handler"]
