"""``POST /api/send-sms``: the seed's route, same request and answer, strict and honest.

The message is stored before it is sent, and the answer adds its ``id``. The body is parsed by
``api.sending.parse_body`` rather than by FastAPI so that each way a body can be wrong gets its
own code with HTTP 400, where FastAPI would answer 422 for all of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request

from smsgate.api.answers import Answer
from smsgate.api.responses import JsonResponse
from smsgate.api.schemas import ErrorOut, SendSmsIn, SendSmsOut
from smsgate.api.sending import failure_answer, send_endpoint
from smsgate.bootstrap import Runtime
from smsgate.providers.base import Accepted
from smsgate.services.sending import SendReport


def send_sms_endpoint(runtime: Runtime) -> Callable[[Request], Awaitable[JsonResponse]]:
    return send_endpoint(runtime, seed_answer)


def seed_answer(report: SendReport) -> Answer:
    """200 with Plivo's ids, as the tutorial answered, plus the stored message's ``id``."""
    if (accepted := report.accepted) is not None:
        return Answer(200, success_document(report, accepted), message_id=report.message.id)
    return failure_answer(report)


def success_document(report: SendReport, accepted: Accepted) -> dict[str, object]:
    """The seed's success answer, which the API returns and ``smsgate send --json`` prints."""
    return {
        "success": True,
        "id": report.message.id,
        "message_uuid": accepted.message_uuids[0],
        "api_id": accepted.api_id,
        "to": report.to.e164,
        "encoding": report.text.encoding.value,
        "segments": report.text.segments,
    }


ERROR_STATUSES = {
    400: "Bad request body or number, text too long, or Plivo rejected the message",
    401: "A valid API key is required (once SMSGATE_API_KEYS or a stored key exists)",
    402: "Today's estimated spend would pass SMSGATE_DAILY_SPEND_LIMIT, or the number's "
    "country has no price to count it by",
    403: "A browser request started by another website, or a foreign host name when open",
    405: "Method not allowed",
    409: "The recipient opted out (stored as rejected), or the Idempotency-Key is still in use",
    413: "Body over 64 KiB",
    422: "The Idempotency-Key was used with a different request",
    429: "Over a limit: the key's requests, the number's or the day's messages; or Plivo is "
    "rate-limiting us (see Retry-After)",
    502: "Plivo refused our credentials or answered something unreadable",
    503: "Plivo unreachable or failing after the retries",
    504: "Plivo did not answer in time; the message may have been sent",
}


def openapi_operation(
    ref: Callable[[type[BaseModel]], dict[str, str]],
    *,
    success: tuple[str, type[BaseModel], str] = ("200", SendSmsOut, "Plivo accepted the message"),
    operation_id: str = "send_sms",
    summary: str = "Send one SMS now",
    request: type[BaseModel] = SendSmsIn,
    also: tuple[str, type[BaseModel], str] | None = None,
) -> dict[str, Any]:
    """The OpenAPI description of a send route; ``ref`` registers a model and returns its $ref.

    Both send routes take the same body and fail the same ways; they differ in the success.
    """
    answers: dict[str, Any] = {
        str(status): {
            "description": text,
            "content": {"application/json": {"schema": ref(ErrorOut)}},
        }
        for status, text in ERROR_STATUSES.items()
    }
    for status, model, description in (success, also) if also else (success,):
        answers[status] = {
            "description": description,
            "content": {"application/json": {"schema": ref(model)}},
        }
    return {
        "summary": summary,
        "description": "Validate the number and the text, hand the message to Plivo, and "
        "report the outcome. Nothing is retried once it may have reached Plivo.",
        "operationId": operation_id,
        "tags": ["send"],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ref(request)}},
        },
        "responses": dict(sorted(answers.items())),
    }
