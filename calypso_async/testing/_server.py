"""The fake's HTTP face: an aiohttp.web server checking requests as Calypso does.

Every request is recorded, meets its injected fault (if any), then passes the checks in
the order a gateway would make them: route and method, ``Key``, ``Sign`` (exactly the
lowercase hex the docs specify) over the raw bytes, a JSON object body, ``timestamp``
within the window, ``account``. Refusals are Calypso error bodies
``{traceId, errorCode, message}``; every answer carries a ``Date`` header from the fake's
(possibly skewed) clock.
"""

from __future__ import annotations

import hmac
import http
import ipaddress
import logging
import time
import uuid
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from .._core import json as _json
from .._core.signing import sign
from .._errors import ErrorCode
from ._engine import Engine
from ._faults import GARBAGE_BODY, Fault, FaultKind
from ._operations import ROUTES
from ._records import FakeCalypsoError, RecordedCall

__all__ = ["FakeServer"]

logger = logging.getLogger("calypso_async.testing")

_JSON = "application/json"


def _window_text(seconds: float) -> str:
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"±{minutes} minute" + ("s" if minutes != 1 else "")
    return f"±{seconds:g} seconds"


def fault_code(status: int) -> str:
    """The published ``errorCode`` an injected failure of ``status`` carries."""
    if status >= 500:
        return ErrorCode.INTERNAL.value
    return {401: ErrorCode.INVALID_API_KEY, 403: ErrorCode.INVALID_API_KEY}.get(
        status, ErrorCode.NOT_FOUND if status == 404 else ErrorCode.BAD_REQUEST
    ).value


def error_body(error_code: str, message: str) -> bytes:
    """Return a Calypso error body (``PublicGatewayErrorResponse``) with a fresh traceId."""
    return _json.dumps({"traceId": str(uuid.uuid4()), "errorCode": error_code, "message": message})


class _Answer:
    """A response about to be sent: status, body, and the errorCode it carries."""

    def __init__(
        self,
        status: int,
        body: bytes | None,
        error_code: str | None = None,
        content_type: str = _JSON,
    ) -> None:
        self.status = status
        self.body = body
        self.error_code = error_code
        self.content_type = content_type
        self.headers: dict[str, str] = {}

    @classmethod
    def error(cls, error: FakeCalypsoError) -> _Answer:
        return cls(error.status, error_body(error.error_code, error.message), error.error_code)


class FakeServer:
    """Serves the Calypso API of one :class:`Engine` on a loopback port."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self, host: str, port: int) -> str:
        """Listen on ``host:port`` (0 picks a free port) and return the base URL.

        On every interface (``0.0.0.0``, ``::``) the base URL names loopback, the
        address a local client may use over plain http.
        """
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # In-flight handlers end quickly on close (engine pauses wake up), so a short
        # grace period is plenty and close() never hangs on a slow client.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        bound_host, bound_port = self._runner.addresses[0][:2]
        if ipaddress.ip_address(bound_host).is_unspecified:
            # Bound to every interface: clients refuse plain http to 0.0.0.0, but
            # loopback reaches it and is accepted.
            bound_host = "::1" if ":" in bound_host else "127.0.0.1"
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base_url = f"http://{shown}:{bound_port}"
        return self.base_url

    async def close(self) -> None:
        """Stop listening and close every connection."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        engine = self._engine
        raw = await request.read()
        try:
            parsed: Any = _json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        payload = parsed.get("payload") if isinstance(parsed, dict) else None
        call = RecordedCall(
            path=request.path,
            method=request.method,
            payload=payload if isinstance(payload, Mapping) else None,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=raw,
            at=time.time(),
        )
        engine.calls.append(call)
        fault = engine.faults.take(request.path, request.method)
        await engine.pause(engine.latency)
        answer: _Answer | None = None
        if fault is not None and not fault.after_action:
            if fault.kind is FaultKind.DROP:
                return self._drop(request, call)
            answer = await self._spoil(fault)
        if answer is None:
            answer = self._process(request, raw, parsed)
            call.processed_status = answer.status
            call.processed_error_code = answer.error_code
            if fault is not None and fault.after_action:
                if fault.kind is FaultKind.DROP:
                    return self._drop(request, call)
                answer = await self._spoil(fault) or answer
        call.status = answer.status
        call.error_code = answer.error_code
        headers = {"Date": formatdate(engine.wall(), usegmt=True), **answer.headers}
        if answer.body is None:
            return web.Response(status=answer.status, headers=headers)
        headers["Content-Type"] = answer.content_type
        return web.Response(status=answer.status, body=answer.body, headers=headers)

    async def _spoil(self, fault: Fault) -> _Answer | None:
        """Apply ``fault``: an answer replacing the real one, or ``None`` to carry on."""
        if fault.kind is FaultKind.DELAY:
            await self._engine.pause(fault.seconds)
            return None
        if fault.kind is FaultKind.GARBAGE:
            return _Answer(fault.status, fault.body or GARBAGE_BODY, content_type="text/html")
        if fault.kind is FaultKind.FAIL:
            if fault.body is not None:
                answer = _Answer(fault.status, fault.body, content_type="text/plain")
            else:
                try:
                    phrase = http.HTTPStatus(fault.status).phrase
                except ValueError:
                    phrase = "error"
                code = fault_code(fault.status)
                message = f"injected fault: {fault.status} {phrase}"
                answer = _Answer(fault.status, error_body(code, message), code)
            if fault.retry_after is not None:
                answer.headers["Retry-After"] = fault.retry_after
            return answer
        return None  # DROP: the caller closes the connection itself

    def _drop(self, request: web.Request, call: RecordedCall) -> web.StreamResponse:
        call.dropped = True
        if request.transport is not None:
            request.transport.close()
        # Nothing reaches the client: the transport is closed before aiohttp writes this.
        return web.Response(status=204)

    def _process(self, request: web.Request, raw: bytes, parsed: Any) -> _Answer:
        engine = self._engine
        try:
            methods = ROUTES.get(request.path)
            if methods is None:
                raise FakeCalypsoError(404, ErrorCode.NOT_FOUND, f"no such path: {request.path}")
            operation = methods.get(request.method)
            if operation is None:
                allowed = ", ".join(sorted(methods))
                raise FakeCalypsoError(
                    405, ErrorCode.BAD_REQUEST, f"{request.path} accepts only {allowed}"
                )
            self._authenticate(request, raw, parsed)
            result = operation(engine, parsed)
        except FakeCalypsoError as error:
            return _Answer.error(error)
        except Exception:
            logger.exception("FakeCalypso failed on %s", request.path)
            return _Answer.error(
                FakeCalypsoError(500, ErrorCode.INTERNAL, "the fake server failed (a bug)")
            )
        return _Answer(200, None if result is None else _json.dumps(result))

    def _authenticate(self, request: web.Request, raw: bytes, parsed: Any) -> None:
        engine = self._engine
        key = request.headers.get("Key", "")
        if not hmac.compare_digest(key.encode(), engine.api_key.encode()):
            raise FakeCalypsoError(
                401, ErrorCode.INVALID_API_KEY, "the Key header is not a valid API key"
            )
        # Exactly the lowercase hex the docs specify: a client sending uppercase or padded
        # hex must fail here as it may on the real server (verify_signature is lenient).
        expected = sign(raw, engine.secret_key).encode("ascii")
        given = request.headers.get("Sign", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(expected, given):
            raise FakeCalypsoError(
                401, ErrorCode.WRONG_SIGN, "the Sign header does not match the request body"
            )
        if not isinstance(parsed, dict):
            raise FakeCalypsoError(400, ErrorCode.BAD_REQUEST, "the body must be a JSON object")
        timestamp = parsed.get("timestamp")
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            raise FakeCalypsoError(
                400, ErrorCode.BAD_REQUEST, "timestamp is required (Unix time in milliseconds)"
            )
        # Integer milliseconds: a float division would overflow on a huge timestamp.
        if abs(timestamp - round(engine.wall() * 1000)) > engine.timestamp_window * 1000:
            raise FakeCalypsoError(
                401,
                ErrorCode.INVALID_TIMESTAMP,
                "Request timestamp is outside the allowed window of "
                + _window_text(engine.timestamp_window),
            )
        account = parsed.get("account")
        if not isinstance(account, str) or not account:
            raise FakeCalypsoError(400, ErrorCode.BAD_REQUEST, "account is required")
        if not hmac.compare_digest(account.encode(), engine.account.encode()):
            raise FakeCalypsoError(
                403, ErrorCode.INVALID_API_KEY, "the account does not belong to this API key"
            )
