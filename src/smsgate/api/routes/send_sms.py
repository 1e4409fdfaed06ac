"""``POST /api/send-sms``: the seed's route, same request and answer, strict and honest.

The body is parsed here rather than by FastAPI so that each way a body can be wrong gets its own
code (malformed JSON, not an object, a missing field, a wrong type, an empty value, an unknown
field) with HTTP 400, where FastAPI would answer 422 for all of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import Request

from smsgate.api.errors import SEND_FAILURE_STATUS, ApiError
from smsgate.api.responses import JsonResponse
from smsgate.api.runtime import Runtime
from smsgate.api.schemas import ErrorOut, SendSmsIn, SendSmsOut
from smsgate.services.sending import SendReport, describe_failure, send_text


def send_sms_endpoint(runtime: Runtime) -> Callable[[Request], Awaitable[JsonResponse]]:
    async def send_sms(request: Request) -> JsonResponse:
        body = parse_body(await request.body())
        report = await send_text(
            body.to,
            body.text,
            provider=runtime.provider,
            default_region=runtime.settings.default_region,
        )
        return answer(report)

    return send_sms


def answer(report: SendReport) -> JsonResponse:
    """200 with Plivo's ids when the message was taken; otherwise its failure, as an ApiError."""
    if (accepted := report.accepted) is not None:
        return JsonResponse(report.success_document(accepted))
    failure = describe_failure(report.result)
    assert failure is not None  # not accepted, so there is a failure to describe
    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else None
    raise ApiError(SEND_FAILURE_STATUS[failure.code], failure.code, failure.message, headers)


ERROR_STATUSES = {
    400: "Bad request body or number, text too long, or Plivo rejected the message",
    401: "A valid API key is required (when SMSGATE_API_KEYS is set)",
    405: "Method not allowed",
    413: "Body over 64 KiB",
    429: "Plivo is rate-limiting us (see Retry-After)",
    502: "Plivo refused our credentials or answered something unreadable",
    503: "Plivo unreachable or failing after the retries",
    504: "Plivo did not answer in time; the message may have been sent",
}


def openapi_operation(ref: Callable[[type[BaseModel]], dict[str, str]]) -> dict[str, Any]:
    """The OpenAPI description of the route; ``ref`` registers a model and returns its $ref."""
    answers: dict[str, Any] = {
        str(status): {
            "description": text,
            "content": {"application/json": {"schema": ref(ErrorOut)}},
        }
        for status, text in ERROR_STATUSES.items()
    }
    answers["200"] = {
        "description": "Plivo accepted the message",
        "content": {"application/json": {"schema": ref(SendSmsOut)}},
    }
    return {
        "summary": "Send one SMS now",
        "description": "Validate the number and the text, hand the message to Plivo, and "
        "report the outcome. Nothing is retried once it may have reached Plivo.",
        "operationId": "send_sms",
        "tags": ["send"],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ref(SendSmsIn)}},
        },
        "responses": dict(sorted(answers.items())),
    }


def parse_body(raw: bytes) -> SendSmsIn:
    if not raw.strip():
        raise ApiError(400, "empty_body", "The body is empty: send JSON like " + _EXAMPLE)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "The body is not valid JSON: " + _EXAMPLE) from None
    if not isinstance(document, dict):
        raise ApiError(400, "invalid_body", "The body must be a JSON object: " + _EXAMPLE)
    try:
        body = SendSmsIn.model_validate(document)
    except ValidationError as exc:
        raise _field_error(exc.errors()[0]) from None
    for name in ("to", "text"):
        if not getattr(body, name).strip():
            raise ApiError(400, "empty_field", f"The field '{name}' must not be empty.")
    return body


_EXAMPLE = '{"to": "+14155552671", "text": "Hello"}.'


def _field_error(error: ErrorDetails) -> ApiError:
    field = ".".join(str(part) for part in error["loc"]) or "body"
    kind = error["type"]
    if kind == "missing":
        return ApiError(400, "missing_field", f"The field '{field}' is required.")
    if kind == "extra_forbidden":
        return ApiError(
            400, "unknown_field", f"The field '{field}' is not accepted here; send only to, text."
        )
    return ApiError(400, "invalid_field_type", f"The field '{field}' must be a string.")
