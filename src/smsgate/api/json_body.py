"""One rule for every JSON route: its body is read as JSON, whatever ``Content-Type`` says.

``curl -d`` labels its body ``application/x-www-form-urlencoded`` unless told otherwise, and
many HTTP clients send no type at all. The send routes (``api/sending.py``) read their bytes
as JSON regardless; the routes FastAPI reads for us would instead take such a body for bytes
and refuse it with a confusing error. ``JsonBodyRoute``, the route class of every router with
a JSON body, tells FastAPI the body is JSON before it looks, so a body is judged by what it
is: valid JSON of the right shape, or a 400 that says what is wrong with it.

Routes that take something else (CSV and multipart uploads, Plivo's form callbacks, the
console's sign-in form) read their own bodies and do not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, MutableMapping
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

JSON = b"application/json"
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class JsonBodyRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def read_as_json(request: Request) -> Response:
            if request.method in _WITH_BODY:
                request = Request(as_json(request.scope), request.receive)
            return await handler(request)

        return read_as_json


def as_json(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    """The request's scope with its body labelled JSON."""
    headers = [(name, value) for name, value in scope["headers"] if name != b"content-type"]
    return {**scope, "headers": [*headers, (b"content-type", JSON)]}
