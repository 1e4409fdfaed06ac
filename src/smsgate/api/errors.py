"""Every failure leaves the API in one shape, with a stable ``code`` and an honest status.

``error_answer`` turns any exception into that answer; FastAPI's exception handlers and the
fast lane (``api/fastlane.py``) both call it, so the two paths cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from smsgate.api.responses import error_response
from smsgate.db.errors import StoreUnavailable
from smsgate.domain.errors import DomainError
from smsgate.logs import get_logger
from smsgate.services.limits import LimitExceeded, LimitsUnavailable
from smsgate.services.queueing import BatchRefused
from smsgate.services.sending import MessageNotPending, RecipientOptedOut

log = get_logger("smsgate.api")

MAX_BODY_BYTES = 64 * 1024
BATCH_BODY_BYTES = 1024 * 1024  # POST /api/v1/messages, which takes up to 10,000 numbers
# POST /api/v1/batches: 10,000 rows of a number and a two-part text take about 3 MiB. The file
# is read as it arrives and only its rows are kept.
UPLOAD_BODY_BYTES = 4 * 1024 * 1024

# HTTP status for each failure code of a send (smsgate.services.handoff.describe_failure).
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
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.extra = extra


# Request headers: at most this many fields and bytes (names and values), as servers commonly
# allow (Node.js caps them at 16 KiB); 431 past either.
MAX_HEADER_FIELDS = 100
MAX_HEADER_BYTES = 16 * 1024


class HeadersTooLarge(Exception):
    """The request's headers are over ``MAX_HEADER_FIELDS`` or ``MAX_HEADER_BYTES``."""


class BodyTooLarge(Exception):
    """The body is over the cap of its route (it said so, or grew past it while read)."""

    def __init__(self, limit: int = MAX_BODY_BYTES) -> None:
        super().__init__(f"over {limit} bytes")
        self.limit = limit


# Domain errors answer 400 unless listed here: the one table of their HTTP statuses.
DOMAIN_ERROR_STATUS = {
    "recipient_opted_out": 409,
    "message_not_pending": 409,  # services/sending.py: a held message canceled meanwhile
    "country_not_allowed": 403,
    # services/limits.py: waiting helps (429), or money is the limit (402)
    "rate_limit_exceeded": 429,
    "destination_limit_exceeded": 429,
    "daily_limit_exceeded": 429,
    "spend_limit_reached": 402,
    "price_unknown": 402,
    # services/idempotency.py
    "idempotency_key_reused": 422,
    "idempotency_key_in_use": 409,
}


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    code: str
    message: str
    headers: dict[str, str] | None = None
    extra: dict[str, object] | None = None  # more fields for the body, e.g. a message "id"

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message, self.headers, self.extra)


def problem_for(exc: Exception) -> Problem | None:
    """The answer an expected exception stands for; None for a bug."""
    match exc:
        case ApiError():
            return Problem(exc.status, exc.code, exc.message, exc.headers, exc.extra)
        case BatchRefused(rows=rows) if rows:
            extra: dict[str, object] = {"errors": [row.as_json() for row in rows]}
            return Problem(400, exc.code, exc.message, extra=extra)
        case BatchRefused(extra=dict() as named):
            return Problem(400, exc.code, exc.message, extra=named)
        case RecipientOptedOut() | MessageNotPending():
            return Problem(409, exc.code, exc.message, extra={"id": exc.message_id})
        case LimitExceeded(retry_after=retry_after):
            wait = {"Retry-After": str(retry_after)} if retry_after is not None else None
            return Problem(DOMAIN_ERROR_STATUS[exc.code], exc.code, exc.message, wait)
        case LimitsUnavailable():
            return Problem(503, exc.code, exc.message, {"Retry-After": "5"})
        case DomainError():
            return Problem(DOMAIN_ERROR_STATUS.get(exc.code, 400), exc.code, exc.message)
        case StoreUnavailable():
            message = "smsgate's database is unavailable; nothing was sent. Try again shortly."
            return Problem(503, "store_unavailable", message, {"Retry-After": "5"})
        case BodyTooLarge(limit=limit):
            return Problem(413, "body_too_large", f"The request body is over {limit // 1024} KiB.")
        case HeadersTooLarge():
            message = (
                f"The request's headers are over {MAX_HEADER_BYTES // 1024} KiB or "
                f"{MAX_HEADER_FIELDS} fields."
            )
            return Problem(431, "headers_too_large", message)
        case StarletteHTTPException(__cause__=BodyTooLarge() as cause):
            # FastAPI reads a route's body itself and reports any failure as a 400; a body
            # that grew past the cap while it streamed in is still a 413.
            return problem_for(cause)
        case RequestValidationError():
            return Problem(400, *_first_problem(exc))
        case StarletteHTTPException():
            code, message = STATUS_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
            return Problem(exc.status_code, code, message, dict(exc.headers or {}))
    return None


def _first_problem(exc: RequestValidationError) -> tuple[str, str]:
    """The code and words for the first thing FastAPI refused: in the body, the send routes'
    codes (``api/sending.py``); in the query or path, ``invalid_query``."""
    errors = exc.errors()
    if not errors:
        return "invalid_query", "The request is not valid."
    first = errors[0]
    location = tuple(first.get("loc", ()))
    kind = first.get("type", "")
    if location[:1] == ("body",):
        field = ".".join(str(part) for part in location[1:])
        if kind == "json_invalid":
            return "invalid_json", "The body is not valid JSON."
        if kind == "missing" and not field:
            return "empty_body", "The body is empty: send a JSON object."
        if kind == "missing":
            return "missing_field", f"The field '{field}' is required."
        if kind == "extra_forbidden":
            return "unknown_field", f"The field '{field[:40]}' is not accepted here."
        if not field:
            return "invalid_body", "The body must be a JSON object."
        return "invalid_field_type", f"The field '{field}': {first.get('msg', 'is not valid')}."
    where = ".".join(str(part) for part in location if part not in {"query", "path"})
    return "invalid_query", f"{where or 'The request'}: {first.get('msg', 'is not valid')}."


def error_answer(exc: Exception, path: str) -> Response:
    """The JSON error answer for any exception a route let out."""
    problem = problem_for(exc)
    if problem is not None:
        return problem.response()
    log.error("unhandled_error", path=path, error_type=type(exc).__name__, exc_info=exc)
    return error_response(500, "internal_error", "Something went wrong inside smsgate.")


def install_error_handlers(app: FastAPI) -> None:
    for kind in (ApiError, DomainError, BodyTooLarge, StoreUnavailable, RequestValidationError):
        app.add_exception_handler(kind, _handle)
    app.add_exception_handler(StarletteHTTPException, _handle)
    app.add_exception_handler(Exception, _handle)


async def _handle(request: Request, exc: Exception) -> Response:
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 405:
        # Starlette's Allow names the methods of the first route that matched the path;
        # a path served by several routes (GET here, POST there) has them all.
        exc = StarletteHTTPException(405, exc.detail, {"Allow": ", ".join(_methods_at(request))})
    return error_answer(exc, request.url.path)


def _methods_at(request: Request) -> list[str]:
    """Every method some route of the app serves at the request's path: each asked of the
    router as the request with that method (included routers answer only that question)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
