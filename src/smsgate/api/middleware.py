"""Plain ASGI middleware for the two things every request goes through.

``RequestContext`` refuses headers over their caps (431), gives each request an id (the
caller's ``X-Request-ID`` when it is sane), returns it in the answer, binds it to every log
line, and writes one access line when the answer is sent. ``BodyLimit`` refuses bodies over
the cap before they are buffered: by ``Content-Length`` up front, and by counting as a chunked
body streams in.

They are raw ASGI rather than ``BaseHTTPMiddleware`` because they sit on the hot path. FastAPI's
own ``max_body_size`` was tried in place of ``BodyLimit``: when ``Content-Length`` is over the
cap it replaces the answer with a plain-text 413, breaking the one JSON error shape.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Mapping

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smsgate.api.errors import (
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELDS,
    BodyTooLarge,
    HeadersTooLarge,
    error_answer,
)
from smsgate.logs import get_logger

log = get_logger("smsgate.http")

_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        # 499 (nginx's "client closed request") stays if no answer was ever started.
        status = 499

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if _headers_too_large(scope["headers"]):  # refused, and logged like any answer
                answer = error_answer(HeadersTooLarge(), scope["path"])
                await answer(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _headers_too_large(headers: list[tuple[bytes, bytes]]) -> bool:
    if len(headers) > MAX_HEADER_FIELDS:
        return True
    return sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _SANE_REQUEST_ID.match(value):
            return str(value.decode("ascii"))
    return f"{_PROCESS_ID}-{next(_SEQUENCE):x}"


# Generated ids are a random per-process prefix and a counter: unique across processes, ordered
# within one, and far cheaper than a uuid4 (which reads the OS entropy pool every time).
_PROCESS_ID = secrets.token_hex(6)
_SEQUENCE = itertools.count(1)


class BodyLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: Mapping[str, int] | None = None
    ) -> None:
        """Cap request bodies at ``max_bytes``, or at ``per_path[path]`` for those paths."""
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await error_answer(BodyTooLarge(limit), scope["path"])(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
