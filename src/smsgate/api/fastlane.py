"""The fast lane: the hot routes go straight to their endpoint; everything else to FastAPI.

FastAPI's stack (error middleware, telemetry, exit stacks, routing, dependency solving) cost a
third of the CPU of a send when measured (docs/benchmarks.md). A send is the one request
smsgate serves by the thousand, so it skips that stack: the endpoint is a plain Starlette
function, and its exceptions become answers through the same ``error_answer`` FastAPI uses.
The routes stay documented in the OpenAPI document (``api/openapi.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from smsgate.api.errors import error_answer, status_answer

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class FastRoute:
    method: str
    endpoint: Endpoint


class FastLane:
    def __init__(self, app: ASGIApp, routes: Mapping[str, FastRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != route.method:
            response = status_answer(405, {"Allow": route.method})
        else:
            try:
                response = await route.endpoint(Request(scope, receive))
            except ClientDisconnect:
                return  # the caller left before its body arrived: nothing to send, nothing sent
            except Exception as exc:
                response = error_answer(exc, scope["path"])
        await response(scope, receive, send)
