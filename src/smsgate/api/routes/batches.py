"""``/api/v1/batches``: the progress of queued batches, and canceling what is still waiting.

Also ``POST /api/v1/messages/{id}/cancel`` for one message.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from smsgate.api.errors import ApiError
from smsgate.api.resources import message_resource
from smsgate.api.responses import JsonResponse
from smsgate.bootstrap import Runtime
from smsgate.db.queue import BatchProgress
from smsgate.domain.message import MessageStatus
from smsgate.services.queueing import cancel_batch, cancel_message

router = APIRouter(prefix="/api/v1", tags=["batches"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/batches/{batch_id}", summary="A batch's progress: its messages by status")
async def get_batch(batch_id: str, request: Request) -> JsonResponse:
    progress = await _runtime(request).services.queue.progress(batch_id)
    if progress is None:
        raise _no_batch(batch_id)
    return JsonResponse(batch_resource(progress))


@router.post("/batches/{batch_id}/cancel", summary="Cancel what the batch has not handed over")
async def cancel_a_batch(batch_id: str, request: Request) -> JsonResponse:
    services = _runtime(request).services
    canceled = await cancel_batch(services.queue, services.store, batch_id)
    if canceled is None:
        raise _no_batch(batch_id)
    progress = await services.queue.progress(batch_id)
    assert progress is not None  # it existed a moment ago; batches are never deleted
    return JsonResponse({"canceled": canceled, **batch_resource(progress)})


@router.post("/messages/{message_id}/cancel", summary="Cancel a message not handed over yet")
async def cancel_one_message(message_id: str, request: Request) -> JsonResponse:
    store = _runtime(request).services.store
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
    return JsonResponse(message_resource(message))


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
