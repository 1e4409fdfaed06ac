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
from starlette.types import ASGIApp, Receive, Scope, Send

from smsgate.api.errors import error_answer

Endpoint = Callable[[Request], Awaitable[Response]]


class FastLane:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Endpoint]) -> None:
        """``routes`` maps (method, path) to the endpoint FastAPI also serves there."""
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if endpoint is None:
            # Anything else, including other methods on these paths: FastAPI routes it (the
            # send routes are registered there too, so a 405's Allow names every method).
            await self.app(scope, receive, send)
            return
        try:
            response = await endpoint(Request(scope, receive))
        except ClientDisconnect:
            return  # the caller left before its body arrived: nothing to send, nothing sent
        except Exception as exc:  # every failure becomes a JSON answer
            response = error_answer(exc, scope["path"])
        await response(scope, receive, send)
