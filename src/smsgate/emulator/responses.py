"""JSON answers in Plivo's shapes, serialised with orjson (this is the emulator's hot path)."""

from __future__ import annotations

import uuid
from typing import Final

import orjson
from aiohttp import web

_JSON: Final = "application/json"


def new_api_id() -> str:
    """A fresh ``api_id``: Plivo tags every response with a UUID."""
    return str(uuid.uuid4())


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=_JSON, headers=headers)


def plivo_error(status: int, error: str, headers: dict[str, str] | None = None) -> web.Response:
    """Plivo's error body, ``{"api_id": ..., "error": ...}``."""
    return json_response({"api_id": new_api_id(), "error": error}, status, headers)


def raw_response(status: int, body: str, headers: dict[str, str] | None = None) -> web.Response:
    """An answer with a body the caller chose: JSON if it parses, else HTML like a proxy's page."""
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        content_type = "text/html"
    else:
        content_type = _JSON
    return web.Response(text=body, status=status, content_type=content_type, headers=headers)
