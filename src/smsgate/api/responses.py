"""JSON answers rendered with orjson: the fastest encoder, and it refuses NaN and odd types."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_body(code: str, message: str, extra: dict[str, object] | None = None) -> dict[str, Any]:
    """The one error shape: ``{"success": false, "error": ..., "code": ...}`` (plus ``extra``)."""
    return {"success": False, "error": message, "code": code, **(extra or {})}


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, object] | None = None,
) -> JsonResponse:
    return JsonResponse(error_body(code, message, extra), status_code=status, headers=headers)
