"""JSON answers rendered with orjson: the fastest encoder, and it refuses NaN and odd types."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JsonResponse:
    """The one error shape: ``{"success": false, "error": ..., "code": ...}``."""
    body = {"success": False, "error": message, "code": code}
    return JsonResponse(body, status_code=status, headers=headers)
