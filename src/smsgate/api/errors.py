"""Every failure leaves the API in one shape, with a stable ``code`` and an honest status.

``error_answer`` turns any exception into that answer; FastAPI's exception handlers and the
fast lane (``api/fastlane.py``) both call it, so the two paths cannot drift apart.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from smsgate.api.responses import error_response
from smsgate.domain.errors import DomainError
from smsgate.logs import get_logger

log = get_logger("smsgate.api")

MAX_BODY_BYTES = 64 * 1024

# HTTP status for each failure code of a send (smsgate.services.sending.describe_failure).
SEND_FAILURE_STATUS = {
    "provider_rejected": 400,
    "provider_auth_failed": 502,
    "provider_bad_response": 502,
    "provider_rate_limited": 429,
    "provider_unavailable": 503,
    "provider_error": 503,
    "provider_timeout": 504,
}

STATUS_CODES = {
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This method is not allowed here; see the Allow header."),
    413: ("body_too_large", f"The request body is over {MAX_BODY_BYTES // 1024} KiB."),
}


class ApiError(Exception):
    """Raised by routes and dependencies to answer with a given status and code."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


class BodyTooLarge(Exception):
    """The body grew past the cap while it was being read."""


def error_answer(exc: Exception, path: str) -> Response:
    """The JSON error answer for any exception a route let out."""
    match exc:
        case ApiError():
            return error_response(exc.status, exc.code, exc.message, exc.headers)
        case DomainError():
            return error_response(400, exc.code, exc.message)
        case BodyTooLarge():
            return status_answer(413)
        case StarletteHTTPException():
            return status_answer(exc.status_code, dict(exc.headers or {}), str(exc.detail))
    log.error("unhandled_error", path=path, error_type=type(exc).__name__, exc_info=exc)
    return error_response(500, "internal_error", "Something went wrong inside smsgate.")


def status_answer(status: int, headers: dict[str, str] | None = None, detail: str = "") -> Response:
    code, message = STATUS_CODES.get(status, ("http_error", detail))
    return error_response(status, code, message, headers)


def install_error_handlers(app: FastAPI) -> None:
    for kind in (ApiError, DomainError, BodyTooLarge):
        app.add_exception_handler(kind, _handle)
    app.add_exception_handler(StarletteHTTPException, _handle)
    app.add_exception_handler(Exception, _handle)


async def _handle(request: Request, exc: Exception) -> Response:
    return error_answer(exc, request.url.path)
