"""Every failure leaves the API in one shape, with a stable ``code`` and an honest status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
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
    "provider_timeout": 504,
}

_STATUS_CODES = {
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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    app.add_exception_handler(Exception, _unexpected)


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _domain_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(400, exc.code, exc.message)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, "invalid_request", "The request is not valid: " + str(exc)[:300])


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code, message = _STATUS_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def _body_too_large(_: Request, __: Exception) -> Response:
    code, message = _STATUS_CODES[413]
    return error_response(413, code, message)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return error_response(500, "internal_error", "Something went wrong inside smsgate.")
