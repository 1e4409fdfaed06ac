"""Webhooks in the database: endpoints, the fan-out from changes to events, and deliveries.

Events come from two places, both written in the transaction that made the change:

- a message's status changes are its ``message_events`` rows; ``published`` says whether the
  fan-out has looked at them (the send path leaves it to the column's default, so sending
  pays nothing for webhooks);
- inbound messages and opt-out changes write a ``webhook_outbox`` row.

The fan-out turns them into ``webhook_events`` (the exact JSON body, which is signed) and one
``webhook_deliveries`` row per endpoint (and per message ``callback_url``), all in one
transaction, so a change becomes an event exactly once, however a process dies. Deliveries
are claimed with a lease (``next_attempt_at`` moved ahead) so two deliverers never post the
same attempt; a deliverer that dies leaves the lease to run out, and the attempt is made
again: delivery is at least once, and receivers drop repeats by event id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, delete, exists, false, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smsgate.db.common import EVENTS, MESSAGES, guarded
from smsgate.db.ids import new_id
from smsgate.db.tables import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
    WebhookEventRow,
    WebhookOutboxRow,
)
from smsgate.domain.clock import Clock, utc_now
from smsgate.providers.plivo.errors import describe_error_code

ENDPOINTS = cast(Table, WebhookEndpointRow.__table__)
OUTBOX = cast(Table, WebhookOutboxRow.__table__)
WEBHOOK_EVENTS = cast(Table, WebhookEventRow.__table__)
DELIVERIES = cast(Table, WebhookDeliveryRow.__table__)
ATTEMPTS = cast(Table, WebhookAttemptRow.__table__)

STATUS_CHANGED = "message.status_changed"
INBOUND = "message.inbound"
OPT_OUT_CHANGED = "opt_out.changed"
EVENT_TYPES = (STATUS_CHANGED, INBOUND, OPT_OUT_CHANGED)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    url: str
    events: tuple[str, ...]
    description: str | None
    created_at: datetime
    deleted_at: datetime | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "description": self.description,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A claimed attempt: what to post where, and how to sign it."""

    id: str
    event_id: str
    endpoint_id: str | None
    url: str
    body: str
    secret: str | None  # the endpoint's; None for a message's callback_url
    attempts: int  # made before this one
    event_created_at: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    event_id: str
    event_type: str
    url: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    tries: tuple[Attempt, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "url": self.url,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "tries": [
                {
                    "at": a.at.isoformat(),
                    "status_code": a.status_code,
                    "latency_ms": round(a.latency_ms, 1),
                    "error": a.error,
                }
                for a in self.tries
            ],
        }


def outbox_row(kind: str, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """A ``webhook_outbox`` row for the caller to insert in its own transaction."""
    return {"type": kind, "occurred_at": occurred_at, "created_at": utc_now(), "data": data}


def insert_outbox() -> Any:
    """The INSERT for ``outbox_row`` values."""
    return insert(OUTBOX)


class WebhookStore:
    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    # Endpoints.

    @guarded
    async def add_endpoint(
        self, url: str, events: Sequence[str], description: str | None, secret: str
    ) -> Endpoint:
        endpoint = Endpoint(new_id(), url, tuple(events), description, self._clock())
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(ENDPOINTS),
                {
                    "id": endpoint.id,
                    "url": url,
                    "events": ",".join(events),
                    "secret": secret,
                    "description": description,
                    "created_at": endpoint.created_at,
                    "deleted_at": None,
                },
            )
        return endpoint

    @guarded
    async def endpoints(self) -> list[Endpoint]:
        """The endpoints in use, the newest first."""
        query = (
            select(ENDPOINTS)
            .where(ENDPOINTS.c.deleted_at.is_(None))
            .order_by(ENDPOINTS.c.id.desc())
        )
        async with self._engine.connect() as connection:
            return [_endpoint(row) for row in await connection.execute(query)]

    @guarded
    async def endpoint(self, endpoint_id: str) -> Endpoint | None:
        query = select(ENDPOINTS).where(
            ENDPOINTS.c.id == endpoint_id, ENDPOINTS.c.deleted_at.is_(None)
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return _endpoint(row) if row is not None else None

    @guarded
    async def remove_endpoint(self, endpoint_id: str) -> bool:
        """Stop sending to it: its pending deliveries die with it; the record stays."""
        now = self._clock()
        async with self._engine.begin() as connection:
            removed = await connection.execute(
                update(ENDPOINTS)
                .where(ENDPOINTS.c.id == endpoint_id, ENDPOINTS.c.deleted_at.is_(None))
                .values(deleted_at=now)
            )
            if removed.rowcount != 1:
                return False
            await connection.execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.endpoint_id == endpoint_id, DELIVERIES.c.state == PENDING)
                .values(state=DEAD, last_error="the endpoint was deleted", updated_at=now)
            )
        return True

    # The fan-out.

    @guarded
    async def fan_out(self, limit: int = 500) -> int:
        """Turn up to ``limit`` new changes of each kind into events and deliveries; how many
        changes were looked at (0: nothing new).

        Only changes from before the endpoints were read are taken: one registered a moment
        later gets everything from its creation on, in the next round.
        """
        now = self._clock()
        async with self._engine.begin() as connection:
            endpoints = [
                _endpoint(row)
                for row in await connection.execute(
                    select(ENDPOINTS).where(ENDPOINTS.c.deleted_at.is_(None))
                )
            ]
            seen = await self._fan_out_statuses(connection, endpoints, now, limit)
            seen += await self._fan_out_outbox(connection, endpoints, now, limit)
        return seen

    async def _fan_out_statuses(
        self, connection: AsyncConnection, endpoints: list[Endpoint], now: datetime, limit: int
    ) -> int:
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
                MESSAGES.c.callback_url,
            )
            .join(MESSAGES, MESSAGES.c.id == EVENTS.c.message_id)
            .where(EVENTS.c.published == false(), EVENTS.c.at < now)
            .order_by(EVENTS.c.id)
            .limit(limit)
        )
        if not any(STATUS_CHANGED in endpoint.events for endpoint in endpoints):
            # Nobody listens but messages' own callback_urls: only those are read; the
            # rest are marked in one statement (measured: the send path slows otherwise).
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
        made: list[tuple[str, datetime, str | None, dict[str, Any], list[str]]] = []
        for row in rows:
            if not row.applied:
                continue  # kept in the timeline, but the status did not change
            targets = _wanting(endpoints, STATUS_CHANGED, row.at)
            if not targets and row.callback_url is None:
                continue
            data = {
                "id": row.message_id,
                "to": row.to_number,
                "status": row.status,
                "sequence": row.id,
                "error": _error(row.error_code, row.error_reason),
                "segments": row.segments,
                "estimated_cost": _money(row.estimated_cost),
                "amount": _money(row.amount),
                "batch_id": row.batch_id,
            }
            made.append((STATUS_CHANGED, row.at, row.message_id, data, targets))
            if row.callback_url is not None:
                made[-1][4].append(row.callback_url)
        await self._store_events(connection, made, endpoints, now)
        ids = [row.id for row in rows]
        for chunk in _chunks(ids):
            await connection.execute(
                update(EVENTS).where(EVENTS.c.id.in_(chunk)).values(published=true())
            )
        return len(rows)

    async def _fan_out_outbox(
        self, connection: AsyncConnection, endpoints: list[Endpoint], now: datetime, limit: int
    ) -> int:
        query = select(OUTBOX).where(OUTBOX.c.created_at < now).order_by(OUTBOX.c.id).limit(limit)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = (await connection.execute(query)).all()
        if not rows:
            return 0
        made = [
            (row.type, row.occurred_at, None, dict(row.data), targets)
            for row in rows
            if (targets := _wanting(endpoints, row.type, row.created_at))
        ]
        await self._store_events(connection, made, endpoints, now)
        for chunk in _chunks([row.id for row in rows]):
            await connection.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(chunk)))
        return len(rows)

    async def _store_events(
        self,
        connection: AsyncConnection,
        made: Iterable[tuple[str, datetime, str | None, dict[str, Any], list[str]]],
        endpoints: list[Endpoint],
        now: datetime,
    ) -> None:
        urls = {endpoint.id: endpoint.url for endpoint in endpoints}
        events: list[dict[str, Any]] = []
        deliveries: list[dict[str, Any]] = []
        for kind, occurred_at, message_id, data, targets in made:
            event_id = "evt_" + new_id()
            body = {
                "id": event_id,
                "type": kind,
                "occurred_at": occurred_at.isoformat(),
                "data": data,
            }
            events.append(
                {
                    "id": event_id,
                    "type": kind,
                    "occurred_at": occurred_at,
                    "message_id": message_id,
                    "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
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

    # Deliveries.

    @guarded
    async def claim_due(
        self,
        limit: int,
        lease: timedelta,
        *,
        per_target: int | None = None,
        busy: Mapping[str, int] | None = None,
    ) -> list[DueDelivery]:
        """Pending deliveries whose time has come, claimed for ``lease``: the oldest first.

        ``per_target`` caps the claims per endpoint (or callback URL), counting the ``busy``
        posts already in flight, so one slow endpoint cannot take every slot.
        """
        in_flight = dict(busy or {})
        now = self._clock()
        query = (
            select(
                DELIVERIES.c.id,
                DELIVERIES.c.next_attempt_at,
                DELIVERIES.c.event_id,
                DELIVERIES.c.endpoint_id,
                DELIVERIES.c.url,
                DELIVERIES.c.attempts,
                WEBHOOK_EVENTS.c.body,
                WEBHOOK_EVENTS.c.created_at.label("event_created_at"),
                ENDPOINTS.c.secret,
            )
            .join(WEBHOOK_EVENTS, WEBHOOK_EVENTS.c.id == DELIVERIES.c.event_id)
            .outerjoin(ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id)
            .where(DELIVERIES.c.state == PENDING, DELIVERIES.c.next_attempt_at <= now)
            .order_by(DELIVERIES.c.next_attempt_at)
            .limit(limit * 4)
        )
        claimed: list[DueDelivery] = []
        async with self._engine.begin() as connection:
            for row in (await connection.execute(query)).all():
                if len(claimed) >= limit:
                    break
                target = row.endpoint_id or row.url
                if per_target is not None and in_flight.get(target, 0) >= per_target:
                    continue
                # Compare-and-set on the time read: another deliverer's claim moved it.
                won = await connection.execute(
                    update(DELIVERIES)
                    .where(
                        DELIVERIES.c.id == row.id,
                        DELIVERIES.c.state == PENDING,
                        DELIVERIES.c.next_attempt_at == row.next_attempt_at,
                    )
                    .values(next_attempt_at=now + lease)
                )
                if won.rowcount == 1:
                    in_flight[target] = in_flight.get(target, 0) + 1
                    claimed.append(
                        DueDelivery(
                            id=row.id,
                            event_id=row.event_id,
                            endpoint_id=row.endpoint_id,
                            url=row.url,
                            body=row.body,
                            secret=row.secret,
                            attempts=row.attempts,
                            event_created_at=row.event_created_at,
                        )
                    )
        return claimed

    @guarded
    async def record(
        self,
        delivery_id: str,
        attempt: Attempt,
        *,
        state: str,
        next_attempt_at: datetime | None,
    ) -> None:
        """Store one attempt and what follows: delivered, dead, or pending until ``next``."""
        values: dict[str, Any] = {
            "state": state,
            "attempts": DELIVERIES.c.attempts + 1,
            "last_status": attempt.status_code,
            "last_error": attempt.error,
            "updated_at": attempt.at,
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(ATTEMPTS),
                {
                    "delivery_id": delivery_id,
                    "at": attempt.at,
                    "status_code": attempt.status_code,
                    "latency_ms": attempt.latency_ms,
                    "error": attempt.error,
                },
            )
            await connection.execute(
                update(DELIVERIES).where(DELIVERIES.c.id == delivery_id).values(**values)
            )

    @guarded
    async def deliveries(
        self, endpoint_id: str, *, state: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        """An endpoint's deliveries, the newest first, each with its attempts."""
        query = (
            select(DELIVERIES, WEBHOOK_EVENTS.c.type)
            .join(WEBHOOK_EVENTS, WEBHOOK_EVENTS.c.id == DELIVERIES.c.event_id)
            .where(DELIVERIES.c.endpoint_id == endpoint_id)
            .order_by(DELIVERIES.c.id.desc())
            .limit(limit)
        )
        if state is not None:
            query = query.where(DELIVERIES.c.state == state)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
            tries: dict[str, list[Attempt]] = {row.id: [] for row in rows}
            if rows:
                attempts = await connection.execute(
                    select(ATTEMPTS)
                    .where(ATTEMPTS.c.delivery_id.in_(list(tries)))
                    .order_by(ATTEMPTS.c.id)
                )
                for a in attempts:
                    tries[a.delivery_id].append(Attempt(a.at, a.status_code, a.latency_ms, a.error))
        return [
            Delivery(
                id=row.id,
                event_id=row.event_id,
                event_type=row.type,
                url=row.url,
                state=row.state,
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at if row.state == PENDING else None,
                last_status=row.last_status,
                last_error=row.last_error,
                created_at=row.created_at,
                tries=tuple(tries[row.id]),
            )
            for row in rows
        ]

    @guarded
    async def replay(self, endpoint_id: str, delivery_id: str | None = None) -> int:
        """Make dead deliveries of the endpoint pending again, now: one, or all of them."""
        now = self._clock()
        query = (
            update(DELIVERIES)
            .where(DELIVERIES.c.endpoint_id == endpoint_id, DELIVERIES.c.state == DEAD)
            .values(state=PENDING, attempts=0, next_attempt_at=now, updated_at=now)
        )
        if delivery_id is not None:
            query = query.where(DELIVERIES.c.id == delivery_id)
        async with self._engine.begin() as connection:
            result = await connection.execute(query)
        return int(result.rowcount)


def _wanting(endpoints: list[Endpoint], kind: str, occurred_at: datetime) -> list[str]:
    """The endpoints that want ``kind`` and existed when it happened (no history is sent)."""
    return [e.id for e in endpoints if kind in e.events and e.created_at <= occurred_at]


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        url=row.url,
        events=tuple(kind for kind in row.events.split(",") if kind),
        description=row.description,
        created_at=row.created_at,
        deleted_at=row.deleted_at,
    )


def _error(code: str | None, reason: str | None) -> dict[str, Any] | None:
    if code is None and reason is None:
        return None
    return {"code": code, "meaning": describe_error_code(code) if code else None, "reason": reason}


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:.5f}"


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
