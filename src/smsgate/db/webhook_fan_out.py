"""The fan-out: new changes become webhook events and one delivery per target, at once.

A round reads the unpublished status changes (``message_events``) and the outbox (inbound
messages, opt-out changes), asks the caller to render each event's body, and stores the
events, their deliveries and the "published" marks in the caller's transaction: a change
becomes an event exactly once, however a process dies.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, false, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from smsgate.db.common import EVENTS, MESSAGES
from smsgate.db.ids import new_id
from smsgate.db.webhook_rows import (
    DELIVERIES,
    OUTBOX,
    PENDING,
    STATUS_CHANGED,
    WEBHOOK_EVENTS,
    Endpoint,
    NewEvent,
    RenderEvent,
    StatusChange,
)

# What an event is made from: its type, when it happened, its message, its data and targets
# (endpoint ids, and a message's own callback_url).
Made = tuple[str, datetime, str | None, StatusChange | dict[str, Any], list[str]]


async def fan_out_statuses(
    connection: AsyncConnection,
    endpoints: list[Endpoint],
    now: datetime,
    limit: int,
    render: RenderEvent,
) -> int:
    """Up to ``limit`` unpublished status changes into events; how many were looked at."""
    query = (
        select(
            EVENTS.c.id,
            EVENTS.c.status,
            EVENTS.c.applied,
            EVENTS.c.at,
            MESSAGES.c.id.label("message_id"),
            MESSAGES.c.to_number,
            MESSAGES.c.segments,
            MESSAGES.c.estimated_cost,
            MESSAGES.c.amount,
            MESSAGES.c.error_code,
            MESSAGES.c.error_reason,
            MESSAGES.c.batch_id,
            MESSAGES.c.sender,
            MESSAGES.c.pool,
            MESSAGES.c.callback_url,
        )
        .join(MESSAGES, MESSAGES.c.id == EVENTS.c.message_id)
        .where(EVENTS.c.published == false(), EVENTS.c.at < now)
        .order_by(EVENTS.c.id)
        .limit(limit)
    )
    if not any(STATUS_CHANGED in endpoint.events for endpoint in endpoints):
        # Nobody listens but messages' own callback_urls: only those are read; the
        # rest are marked in one statement (measured: the send path slows otherwise). The
        # send path's writes are stored published already (db.group_commit), so this marks
        # only what other writers left: a few rows, not every change of the last second.
        query = query.where(MESSAGES.c.callback_url.is_not(None))
        await connection.execute(
            update(EVENTS)
            .where(
                EVENTS.c.published == false(),
                EVENTS.c.at < now,
                ~exists().where(
                    MESSAGES.c.id == EVENTS.c.message_id, MESSAGES.c.callback_url.is_not(None)
                ),
            )
            .values(published=true())
        )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=EVENTS)
    rows = (await connection.execute(query)).all()
    if not rows:
        return 0
    made: list[Made] = []
    for row in rows:
        if not row.applied:
            continue  # kept in the timeline, but the status did not change
        targets = _wanting(endpoints, STATUS_CHANGED, row.at)
        if not targets and row.callback_url is None:
            continue
        change = StatusChange(
            message_id=row.message_id,
            to=row.to_number,
            status=row.status,
            sequence=row.id,
            error_code=row.error_code,
            error_reason=row.error_reason,
            segments=row.segments,
            estimated_cost=row.estimated_cost,
            amount=row.amount,
            batch_id=row.batch_id,
            sender=row.sender,
            pool=row.pool,
        )
        made.append((STATUS_CHANGED, row.at, row.message_id, change, targets))
        if row.callback_url is not None:
            made[-1][4].append(row.callback_url)
    await _store_events(connection, made, endpoints, now, render)
    ids = [row.id for row in rows]
    for chunk in _chunks(ids):
        await connection.execute(
            update(EVENTS).where(EVENTS.c.id.in_(chunk)).values(published=true())
        )
    return len(rows)


async def fan_out_outbox(
    connection: AsyncConnection,
    endpoints: list[Endpoint],
    now: datetime,
    limit: int,
    render: RenderEvent,
) -> int:
    """Up to ``limit`` outbox rows into events, then deleted; how many were looked at."""
    query = select(OUTBOX).where(OUTBOX.c.created_at < now).order_by(OUTBOX.c.id).limit(limit)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = (await connection.execute(query)).all()
    if not rows:
        return 0
    made: list[Made] = [
        (row.type, row.occurred_at, None, dict(row.data), targets)
        for row in rows
        if (targets := _wanting(endpoints, row.type, row.created_at))
    ]
    await _store_events(connection, made, endpoints, now, render)
    for chunk in _chunks([row.id for row in rows]):
        await connection.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(chunk)))
    return len(rows)


async def _store_events(
    connection: AsyncConnection,
    made: Iterable[Made],
    endpoints: list[Endpoint],
    now: datetime,
    render: RenderEvent,
) -> None:
    urls = {endpoint.id: endpoint.url for endpoint in endpoints}
    events: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    for kind, occurred_at, message_id, data, targets in made:
        event_id = "evt_" + new_id()
        events.append(
            {
                "id": event_id,
                "type": kind,
                "occurred_at": occurred_at,
                "message_id": message_id,
                "body": render(NewEvent(event_id, kind, occurred_at, data)),
                "created_at": now,
            }
        )
        for target in targets:
            endpoint_id = target if target in urls else None
            deliveries.append(
                {
                    "id": new_id(),
                    "event_id": event_id,
                    "endpoint_id": endpoint_id,
                    "url": urls[target] if endpoint_id else target,
                    "state": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_status": None,
                    "last_error": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    for chunk in _chunks(events):
        await connection.execute(insert(WEBHOOK_EVENTS), chunk)
    for chunk in _chunks(deliveries):
        await connection.execute(insert(DELIVERIES), chunk)


def _wanting(endpoints: list[Endpoint], kind: str, occurred_at: datetime) -> list[str]:
    """The endpoints that want ``kind`` and existed when it happened (no history is sent)."""
    return [e.id for e in endpoints if kind in e.events and e.created_at <= occurred_at]


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
