"""``POST /api/send-sms``: the seed's route, same request and answer, strict and honest.

The body is parsed here rather than by FastAPI so that each way a body can be wrong gets its own
code (malformed JSON, not an object, a missing field, a wrong type, an empty value, an unknown
field) with HTTP 400, where FastAPI would answer 422 for all of them.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from smsgate.api.deps import ProviderDep, SettingsDep, require_api_key
from smsgate.api.errors import SEND_FAILURE_STATUS, ApiError
from smsgate.api.responses import JsonResponse
from smsgate.api.schemas import ErrorOut, SendSmsIn, SendSmsOut
from smsgate.services.sending import describe_failure, send_text

router = APIRouter(prefix="/api", dependencies=[Depends(require_api_key)])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in {
        400: "Bad request body or number, text too long, or Plivo rejected the message",
        401: "A valid API key is required (when SMSGATE_API_KEYS is set)",
        405: "Method not allowed",
        413: "Body over 64 KiB",
        429: "Plivo is rate-limiting us (see Retry-After)",
        502: "Plivo refused our credentials or answered something unreadable",
        503: "Plivo unreachable or failing after the retries",
        504: "Plivo did not answer in time; the message may have been sent",
    }.items()
}


@router.post(
    "/send-sms",
    response_model=SendSmsOut,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SendSmsIn.model_json_schema()}},
        }
    },
    summary="Send one SMS now",
)
async def send_sms(request: Request, provider: ProviderDep, settings: SettingsDep) -> JsonResponse:
    """Validate the number and the text, hand the message to the provider, report the outcome."""
    body = parse_body(await request.body())
    report = await send_text(
        body.to, body.text, provider=provider, default_region=settings.default_region
    )
    if (accepted := report.accepted) is not None:
        return JsonResponse(
            {
                "success": True,
                "message_uuid": accepted.message_uuids[0],
                "api_id": accepted.api_id,
                "to": report.to.e164,
                "encoding": report.text.encoding.value,
                "segments": report.text.segments,
            }
        )
    failure = describe_failure(report.result)
    assert failure is not None  # not accepted, so there is a failure to describe
    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else None
    raise ApiError(SEND_FAILURE_STATUS[failure.code], failure.code, failure.message, headers)


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
