"""``/api/v1/messages``: send and store one message, read one with its timeline, list, export.

``POST`` is served by the fast lane (and by FastAPI for the other methods); the reads are
ordinary FastAPI routes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from smsgate.api.answers import Answer
from smsgate.api.deps import ServicesDep
from smsgate.api.errors import ApiError
from smsgate.api.responses import JsonResponse
from smsgate.api.schemas import ErrorOut, MessagePageOut, MessageWithEventsOut
from smsgate.api.sending import failure_answer
from smsgate.db.rows import Message
from smsgate.db.store import MessageStore
from smsgate.domain.message import MessageStatus
from smsgate.domain.phone import parse_phone_number
from smsgate.services.documents import CSV_COLUMNS, Documents
from smsgate.services.sending import SendReport

router = APIRouter(prefix="/api/v1", tags=["messages"])

PAGE_LIMIT = 200
EXPORT_PAGE = 500


def created_answer(report: SendReport, documents: Documents) -> Answer:
    """201 with the stored message when the provider took it; else the failure and its id."""
    if report.accepted is not None:
        return Answer(201, documents.message(report.message), message_id=report.message.id)
    return failure_answer(report)


NO_MESSAGE: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "There is no message with this id"}
}


@router.get(
    "/messages/{message_id}",
    summary="One message with its status timeline",
    response_model=MessageWithEventsOut,
    responses=NO_MESSAGE,
)
async def get_message(message_id: str, services: ServicesDep) -> JsonResponse:
    message = await services.store.get(message_id)
    if message is None:
        raise ApiError(404, "message_not_found", f"There is no message {message_id[:40]!r}.")
    return JsonResponse(services.documents.message(message, with_events=True))


Status = Annotated[MessageStatus | None, Query(description="Only messages in this status.")]
To = Annotated[str | None, Query(description="Only messages to this number (any format).")]
After = Annotated[datetime | None, Query(description="Created at or after (ISO 8601, with zone).")]
Before = Annotated[datetime | None, Query(description="Created before (ISO 8601, with zone).")]
Cursor = Annotated[str | None, Query(max_length=26, description="`next_cursor` of the last page.")]
Limit = Annotated[int, Query(ge=1, le=PAGE_LIMIT)]


@router.get(
    "/messages",
    summary="Messages, newest first, filtered and paged",
    response_model=MessagePageOut,
)
async def list_messages(
    services: ServicesDep,
    status: Status = None,
    to: To = None,
    created_after: After = None,
    created_before: Before = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> JsonResponse:
    filters = _filters(services.settings.default_region, status, to, created_after, created_before)
    page = await services.store.list(**filters, before_id=cursor, limit=limit)
    next_cursor = page[-1].id if len(page) == limit else None
    data = [services.documents.message(m) for m in page]
    return JsonResponse({"data": data, "next_cursor": next_cursor})


@router.get(
    "/messages.csv",
    summary="The same messages as CSV (without their text), streamed",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "A header line, then one line per message",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def export_messages(
    services: ServicesDep,
    status: Status = None,
    to: To = None,
    created_after: After = None,
    created_before: Before = None,
) -> StreamingResponse:
    filters = _filters(services.settings.default_region, status, to, created_after, created_before)
    return StreamingResponse(
        _csv_lines(services.store, services.documents, filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="messages.csv"'},
    )


async def _csv_lines(
    store: MessageStore, documents: Documents, filters: dict[str, Any]
) -> AsyncIterator[str]:
    """Page through the store so the export never holds more than one page in memory."""
    yield _csv_line(list(CSV_COLUMNS))
    cursor: str | None = None
    while True:
        page: list[Message] = await store.list(**filters, before_id=cursor, limit=EXPORT_PAGE)
        for message in page:
            yield _csv_line(documents.csv_row(message))
        if len(page) < EXPORT_PAGE:
            return
        cursor = page[-1].id


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([_defused(cell) for cell in cells])
    return buffer.getvalue()


def _defused(cell: str) -> str:
    # A cell starting with = + - @ runs as a formula in spreadsheets (CSV injection).
    return "'" + cell if cell[:1] in {"=", "+", "-", "@"} and not _is_number(cell) else cell


def _is_number(cell: str) -> bool:
    return cell.lstrip("+-").replace(".", "", 1).isdigit()


def _filters(
    default_region: str | None,
    status: MessageStatus | None,
    to: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
) -> dict[str, Any]:
    for name, moment in (("created_after", created_after), ("created_before", created_before)):
        if moment is not None and moment.tzinfo is None:
            raise ApiError(
                400, "invalid_query", f"{name} needs a time zone, like 2026-01-31T09:00:00Z."
            )
    number = parse_phone_number(to, default_region).e164 if to else None
    return {
        "status": status,
        "to": number,
        "created_after": created_after,
        "created_before": created_before,
    }
