"""What the two send routes share: reading the body, the Idempotency-Key, and the answer.

``POST /api/send-sms`` (the seed's route) and ``POST /api/v1/messages`` differ only in how
they word a result; both store the message first, and both honour ``Idempotency-Key``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import Request

from smsgate.api.answers import ANSWERS, Answer
from smsgate.api.errors import SEND_FAILURE_STATUS, ApiError, problem_for
from smsgate.api.guard import principal_of
from smsgate.api.responses import JsonResponse, error_body
from smsgate.api.schemas import SendSmsIn
from smsgate.bootstrap import Runtime
from smsgate.domain.access import Principal
from smsgate.services.handoff import describe_failure
from smsgate.services.idempotency import request_hash
from smsgate.services.sending import SendReport


@dataclass(frozen=True, slots=True)
class Try:
    """What the request's ``Idempotency-Key`` says of this try of a send.

    ``keyed``: there is a key, so a send Plivo did not take can be held for its retry;
    ``held``: this is that retry, and sends the held message instead of storing a new one.
    """

    keyed: bool
    held: str | None = None


Wording = Callable[[SendReport], Answer]
Respond = Callable[[bytes, Principal, Try], Awaitable[Answer]]
_EXAMPLE = '{"to": "+14155552671", "text": "Hello"}.'


def send_endpoint(
    runtime: Runtime, wording: Wording
) -> Callable[[Request], Awaitable[JsonResponse]]:
    """A route that sends one message now and words the report its own way."""

    async def respond(raw: bytes, caller: Principal, attempt: Try) -> Answer:
        sender = runtime.services.sender
        if attempt.held is not None:
            return wording(await sender.resend(attempt.held))
        body = parse_body(raw)
        return wording(await sender.send(body.to, body.text, caller, hold=attempt.keyed))

    return idempotent_endpoint(runtime, respond)


def idempotent_endpoint(
    runtime: Runtime, respond: Respond
) -> Callable[[Request], Awaitable[JsonResponse]]:
    """A POST route whose answer, for a repeated ``Idempotency-Key``, is the first one's."""

    async def endpoint(request: Request) -> JsonResponse:
        raw = await request.body()
        key = request.headers.get("idempotency-key")
        caller = principal_of(request.scope)
        # Hashed only when there is a key: the send routes are the hot path.
        fingerprint = request_hash("POST", request.url.path, raw) if key is not None else ""
        answer = await idempotent_answer(
            runtime,
            caller,
            key,
            fingerprint,
            lambda held: respond(raw, caller, Try(keyed=key is not None, held=held)),
        )
        return JsonResponse(answer.body, status_code=answer.status, headers=answer.headers)

    return endpoint


async def idempotent_answer(
    runtime: Runtime,
    caller: Principal,
    key: str | None,
    fingerprint: str,
    respond: Callable[[str | None], Awaitable[Answer]],
) -> Answer:
    """``respond``'s answer; with a key, the first answer given for the key and fingerprint.

    Keys belong to their caller: two API keys may use the same Idempotency-Key without
    seeing each other's answers. An error a client can act on is an answer too, and kept
    for the key like a success. ``respond`` is given the message a held key stands for
    (``services/idempotency.py``), to send it again.
    """

    async def make(held: str | None = None) -> Answer:
        try:
            return await respond(held)
        except Exception as exc:
            problem = problem_for(exc)
            if problem is None or problem.status >= 500:
                raise  # no answer worth repeating: the key is released for a retry
            body = error_body(problem.code, problem.message, problem.extra)
            return Answer(problem.status, body, problem.headers)

    if key is None:
        return await make()
    return await runtime.services.idempotency.run(caller.id or "", key, fingerprint, make, ANSWERS)


def failure_answer(report: SendReport) -> Answer:
    """The error answer for a send the provider did not take, naming the stored message."""
    failure = describe_failure(report.result)
    assert failure is not None  # only called for a result that is not Accepted
    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else None
    body = error_body(failure.code, failure.message, {"id": report.message.id})
    status = SEND_FAILURE_STATUS[failure.code]
    return Answer(status, body, headers, report.message.id, held=report.held)


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or an ApiError with the code for what is wrong."""
    if not raw.strip():
        raise ApiError(400, "empty_body", "The body is empty: send JSON like " + _EXAMPLE)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "The body is not valid JSON: " + _EXAMPLE) from None
    if not isinstance(document, dict):
        raise ApiError(400, "invalid_body", "The body must be a JSON object: " + _EXAMPLE)
    return document


def parse_body(raw: bytes) -> SendSmsIn:
    """The body as ``{"to", "text"}``, or an ApiError with the code for what is wrong."""
    document = parse_object(raw)
    try:
        body = SendSmsIn.model_validate(document)
    except ValidationError as exc:
        raise _field_error(exc.errors()[0]) from None
    for name in ("to", "text"):
        if not getattr(body, name).strip():
            raise ApiError(400, "empty_field", f"The field '{name}' must not be empty.")
    return body


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
