"""The fast lane: a shortcut in front of FastAPI for the routes called by the thousand.

FastAPI's stack (error middleware, telemetry, exit stacks, routing, dependency solving) cost a
third of the CPU of a send when measured (docs/benchmarks.md). The sends therefore go straight
to their endpoint here, and their exceptions become answers through the same ``error_answer``
FastAPI's handlers use. FastAPI serves the very same endpoints too, so it still answers every
other method on those paths (405 with the right ``Allow``) and documents them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smsgate.api.errors import error_answer

Endpoint = Callable[[Request], Awaitable[Response]]


class FastLane:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Endpoint]) -> None:
        """``routes`` maps (method, path) to the endpoint FastAPI also serves there."""
        self.app = app
        self.routes = routes
        self.methods: dict[str, set[str]] = {}
        for method, path in routes:
            self.methods.setdefault(path, set()).add(method)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if endpoint is None:
            extra = self.methods.get(scope["path"]) if scope["type"] == "http" else None
            await self.app(scope, receive, _allowing(send, extra) if extra else send)
            return
        try:
            response = await endpoint(Request(scope, receive))
        except ClientDisconnect:
            return  # the caller left before its body arrived: nothing to send, nothing sent
        except Exception as exc:  # every failure becomes a JSON answer
            response = error_answer(exc, scope["path"])
        await response(scope, receive, send)


def _allowing(send: Send, methods: set[str]) -> Send:
    """Add the fast lane's methods to a 405's ``Allow``: Starlette names one route's only."""

    async def send_with_allow(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 405:
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
            allowed = {
                m.strip()
                for k, v in message.get("headers", [])
                if k.lower() == b"allow"
                for m in v.decode("latin-1").split(",")
            }
            allow = ", ".join(sorted((allowed | methods) - {""}))
            message = {**message, "headers": [*headers, (b"allow", allow.encode("latin-1"))]}
        await send(message)

    return send_with_allow
