"""The API-key guard: with SMSGATE_API_KEYS set, every /api route needs a bearer key.

It is ASGI middleware rather than a route dependency so that no /api route can be added
without it, and so that a refused request costs nothing past this point.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from smsgate.api.responses import error_response

PROTECTED_PREFIX = "/api/"


class ApiKeyGuard:
    def __init__(self, app: ASGIApp, keys: tuple[bytes, ...]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.keys and scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX):
            problem = self.problem(_authorization(scope))
            if problem is not None:
                response = error_response(
                    401, "unauthorized", problem, {"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def problem(self, header: bytes) -> str | None:
        scheme, _, presented = header.partition(b" ")
        presented = presented.strip()
        if scheme.lower() != b"bearer" or not presented:
            return "A valid API key is required: send 'Authorization: Bearer <key>'."
        # Compare against every key, always, so the time taken says nothing about which matched.
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(presented, key)
        return None if matched else "The API key is not valid."


def _authorization(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bytes(value)
    return b""
