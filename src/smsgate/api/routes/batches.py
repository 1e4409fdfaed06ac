"""``/api/v1/batches``: queue a batch from a CSV file, follow its progress, cancel what waits.

Also ``POST /api/v1/messages/{id}/cancel`` for one message.

``POST /api/v1/batches`` reads the file as it arrives (``api/uploads.py``,
``services/batch_file.py``) and keeps only its rows; the batch is then queued like a list sent
to ``POST /api/v1/messages``, and answered with the same document, each row also named by its
line in the file.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from smsgate.api.answers import Answer
from smsgate.api.deps import ServicesDep, runtime_of
from smsgate.api.errors import UPLOAD_BODY_BYTES, ApiError
from smsgate.api.guard import principal_of
from smsgate.api.responses import JsonResponse
from smsgate.api.routes.messages import NO_MESSAGE
from smsgate.api.schemas import (
    BatchAcceptedOut,
    BatchCanceledOut,
    BatchOut,
    ErrorOut,
    MessageOut,
)
from smsgate.api.sending import idempotent_answer
from smsgate.api.uploads import CSV_TYPE, FILE_FIELD, FORM_TYPE, file_chunks
from smsgate.db.batches import BatchProgress
from smsgate.domain.message import MessageStatus
from smsgate.services.batch_file import BatchFile, BatchFileReader, parse_send_at, parse_validity
from smsgate.services.cancels import cancel_batch, cancel_message
from smsgate.services.idempotency import check_key, request_hash
from smsgate.services.queueing import MAX_RECIPIENTS

router = APIRouter(prefix="/api/v1", tags=["batches"])
UPLOAD_MIB = UPLOAD_BODY_BYTES // (1024 * 1024)

SendAt = Annotated[
    str | None,
    Query(
        description="When rows without their own send_at are sent: ISO 8601 with a time zone "
        "(default: now).",
        examples=["2026-12-01T09:00:00Z"],
    ),
]
Validity = Annotated[
    str | None,
    Query(
        description="Seconds (5 to 604,800) a row without its own validity may wait to be "
        "handed over before it expires, unsent.",
        examples=["3600"],
    ),
]
FromSender = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=64,
        description="A registered sender for rows without their own 'from' or 'pool'.",
        examples=["+14155550100"],
    ),
]
Pool = Annotated[
    str | None,
    Query(max_length=64, description="A pool for rows without their own 'from' or 'pool'."),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Repeats with the same key, file and parameters get the first answer; the "
        "batch is queued once. Kept for SMSGATE_IDEMPOTENCY_TTL_HOURS.",
    ),
]
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A CSV with a header row naming to and text, and optionally send_at, "
        f"validity, and from or pool; at most {MAX_RECIPIENTS:,} rows. As the body, or as "
        f"the form field '{FILE_FIELD}'.",
        "content": {
            CSV_TYPE: {
                "schema": {"type": "string", "format": "binary"},
                "example": "to,text\n+14155552671,Your code is 123456\n",
            },
            FORM_TYPE: {
                "schema": {
                    "type": "object",
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                    "required": [FILE_FIELD],
                }
            },
        },
    }
}


@router.post(
    "/batches",
    summary="Queue a batch from a CSV file: one message a row, each with its own text",
    status_code=202,
    openapi_extra=_UPLOAD_BODY,
    responses={
        202: {
            "model": BatchAcceptedOut,
            "description": "Queued: the batch id, each stored message, each refused row",
        },
        400: {"model": ErrorOut, "description": "The file, a parameter or every row is unusable"},
        402: {
            "model": ErrorOut,
            "description": "Today's estimated spend would pass SMSGATE_DAILY_SPEND_LIMIT",
        },
        409: {"model": ErrorOut, "description": "The Idempotency-Key is still in use"},
        413: {"model": ErrorOut, "description": f"The upload is over {UPLOAD_MIB} MiB"},
        415: {"model": ErrorOut, "description": "Neither text/csv nor multipart/form-data"},
        422: {"model": ErrorOut, "description": "The Idempotency-Key came with another request"},
        429: {
            "model": ErrorOut,
            "description": "Over this key's requests or messages a day (see Retry-After)",
        },
    },
)
async def upload_batch(
    request: Request,
    send_at: SendAt = None,
    validity: Validity = None,
    from_: FromSender = None,
    pool: Pool = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    runtime = runtime_of(request)
    caller = principal_of(request.scope)
    # Refusals that need no file come before it is read. (Whatever of a refused upload is left
    # unread, the server reads and drops after the answer; the client gets it either way.)
    if idempotency_key is not None:
        check_key(idempotency_key)
    batch_send_at, batch_validity = _batch_timing(send_at, validity)
    await runtime.services.senders.maybe_refresh()
    runtime.services.senders.check_names(from_ or None, pool or None)
    try:
        upload = await _read_file(request.headers.get("content-type"), request.stream())
    except ClientDisconnect:
        return Response(status_code=499)  # nobody is left to answer; nothing was stored

    async def respond(_held: str | None) -> Answer:  # a batch is never held
        report = await runtime.services.enqueuer.submit_rows(
            upload.rows,
            send_at=batch_send_at,
            validity_s=batch_validity,
            caller=caller,
            from_=from_ or None,
            pool=pool or None,
        )
        return Answer(202, runtime.services.documents.batch(report))

    # The same request is the same file and parameters, however it was framed: the boundary
    # of a multipart body is new each time it is sent.
    described: dict[str, str | None] = {
        "send_at": send_at,
        "validity": validity,
        "file_sha256": upload.sha256,
    }
    # Only when given, so that a key's fingerprint is the one it had before these existed.
    described.update({name: value for name, value in (("from", from_), ("pool", pool)) if value})
    fingerprint = request_hash("POST", request.url.path, orjson.dumps(described))
    answer = await idempotent_answer(runtime, caller, idempotency_key, fingerprint, respond)
    return JsonResponse(answer.body, status_code=answer.status, headers=answer.headers)


async def _read_file(content_type: str | None, body: AsyncGenerator[bytes, None]) -> BatchFile:
    reader = BatchFileReader()
    async with aclosing(body), aclosing(file_chunks(content_type, body)) as chunks:
        async for chunk in chunks:
            reader.feed(chunk)
    return reader.close()


def _batch_timing(send_at: str | None, validity: str | None) -> tuple[datetime | None, int | None]:
    try:
        moment = parse_send_at((send_at or "").strip())
    except ValueError:
        raise ApiError(
            400,
            "invalid_send_at",
            "The parameter 'send_at' is not an ISO 8601 time, like 2026-12-01T09:00:00Z.",
        ) from None
    try:
        seconds = parse_validity((validity or "").strip())
    except ValueError:
        raise ApiError(
            400, "invalid_validity", "The parameter 'validity' is not a whole number of seconds."
        ) from None
    return moment, seconds


NO_BATCH: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "There is no batch with this id"}
}


@router.get(
    "/batches/{batch_id}",
    summary="A batch's progress: its messages by status",
    response_model=BatchOut,
    responses=NO_BATCH,
)
async def get_batch(batch_id: str, services: ServicesDep) -> JsonResponse:
    progress = await services.queue.progress(batch_id)
    if progress is None:
        raise _no_batch(batch_id)
    return JsonResponse(batch_resource(progress))


@router.post(
    "/batches/{batch_id}/cancel",
    summary="Cancel what the batch has not handed over",
    response_model=BatchCanceledOut,
    responses=NO_BATCH,
)
async def cancel_a_batch(batch_id: str, services: ServicesDep) -> JsonResponse:
    canceled = await cancel_batch(services.queue, services.store, batch_id)
    if canceled is None:
        raise _no_batch(batch_id)
    progress = await services.queue.progress(batch_id)
    assert progress is not None  # it existed a moment ago; batches are never deleted
    return JsonResponse({"canceled": canceled, **batch_resource(progress)})


@router.post(
    "/messages/{message_id}/cancel",
    summary="Cancel a message not handed over yet",
    response_model=MessageOut,
    responses={
        **NO_MESSAGE,
        409: {"model": ErrorOut, "description": "The message is past waiting in the queue"},
    },
)
async def cancel_one_message(message_id: str, services: ServicesDep) -> JsonResponse:
    store = services.store
    status = await cancel_message(store, message_id)
    if status is None:
        raise ApiError(404, "message_not_found", f"There is no message {message_id[:40]!r}.")
    if status is not MessageStatus.CANCELED:
        raise ApiError(
            409,
            "not_cancelable",
            f"The message is {status.value}: only a message still waiting in smsgate's queue "
            "(accepted) can be canceled.",
            extra={"id": message_id, "status": status.value},
        )
    message = await store.get(message_id)
    assert message is not None
    return JsonResponse(services.documents.message(message))


def batch_resource(progress: BatchProgress) -> dict[str, Any]:
    counts = {status.value: progress.counts.get(status.value, 0) for status in MessageStatus}
    return {
        "id": progress.id,
        "created_at": progress.created_at.isoformat(),
        "send_at": progress.send_at.isoformat() if progress.send_at else None,
        "validity": progress.validity_s,
        "canceled_at": progress.canceled_at.isoformat() if progress.canceled_at else None,
        "recipients": progress.recipients,
        "invalid": progress.invalid,
        "messages": progress.stored,
        "pending": progress.pending,
        "counts": counts,
    }


def _no_batch(batch_id: str) -> ApiError:
    return ApiError(404, "batch_not_found", f"There is no batch {batch_id[:40]!r}.")
