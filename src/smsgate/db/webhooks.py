"""Webhooks in the database: the user's endpoints, and the deliveries of events to them.

Events come from two places, both written in the transaction that made the change:

- a message's status changes are its ``message_events`` rows; ``published`` says whether the
  fan-out has looked at them (the send path leaves it to the column's default, so sending
  pays nothing for webhooks);
- inbound messages and opt-out changes write a ``webhook_outbox`` row.

The fan-out (``db/webhook_fan_out.py``) turns them into ``webhook_events`` (the exact JSON
body, rendered by the caller, which is signed) and one ``webhook_deliveries`` row per endpoint
(and per message ``callback_url``), all in one transaction, so a change becomes an event
exactly once, however a process dies. Deliveries are claimed with a lease
(``next_attempt_at`` moved ahead) so two deliverers never post the same attempt; a deliverer
that dies leaves the lease to run out, and the attempt is made again: delivery is at least
once, and receivers drop repeats by event id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.db.common import guarded
from smsgate.db.ids import new_id
from smsgate.db.webhook_fan_out import fan_out_outbox, fan_out_statuses
from smsgate.db.webhook_rows import (
    ATTEMPTS,
    DEAD,
    DELIVERED,
    DELIVERIES,
    ENDPOINTS,
    EVENT_TYPES,
    INBOUND,
    OPT_OUT_CHANGED,
    PENDING,
    STATUS_CHANGED,
    WEBHOOK_EVENTS,
    Attempt,
    Delivery,
    DeliveryCounts,
    DueDelivery,
    Endpoint,
    RenderEvent,
    endpoint_from,
)
from smsgate.domain.clock import Clock, utc_now

# The store's callers take the values it hands out from here, with the store.
__all__ = [
    "DEAD",
    "DELIVERED",
    "EVENT_TYPES",
    "INBOUND",
    "OPT_OUT_CHANGED",
    "PENDING",
    "STATUS_CHANGED",
    "Attempt",
    "Delivery",
    "DeliveryCounts",
    "DueDelivery",
    "Endpoint",
    "WebhookStore",
]


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
            return [endpoint_from(row) for row in await connection.execute(query)]

    @guarded
    async def endpoint(self, endpoint_id: str) -> Endpoint | None:
        query = select(ENDPOINTS).where(
            ENDPOINTS.c.id == endpoint_id, ENDPOINTS.c.deleted_at.is_(None)
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return endpoint_from(row) if row is not None else None

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
    async def fan_out(self, render: RenderEvent, limit: int = 500) -> int:
        """Turn up to ``limit`` new changes of each kind into events and deliveries; how many
        changes were looked at (0: nothing new). ``render`` gives each event's JSON body.

        Only changes from before the endpoints were read are taken: one registered a moment
        later gets everything from its creation on, in the next round.
        """
        now = self._clock()
        async with self._engine.begin() as connection:
            endpoints = [
                endpoint_from(row)
                for row in await connection.execute(
                    select(ENDPOINTS).where(ENDPOINTS.c.deleted_at.is_(None))
                )
            ]
            seen = await fan_out_statuses(connection, endpoints, now, limit, render)
            seen += await fan_out_outbox(connection, endpoints, now, limit, render)
        return seen

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
        posts already in flight, so one slow endpoint cannot take every slot. The cap is
        applied in the query, per target, so a hanging endpoint's backlog of old rows cannot
        fill the window read and starve the others (each target offers at most its cap, and a
        target already at its cap offers none).
        """
        in_flight = dict(busy or {})
        now = self._clock()
        due = (DELIVERIES.c.state == PENDING, DELIVERIES.c.next_attempt_at <= now)
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
            .order_by(DELIVERIES.c.next_attempt_at)
            .limit(limit * 4)
        )
        if per_target is None:
            query = query.where(*due)
        else:
            target = func.coalesce(DELIVERIES.c.endpoint_id, DELIVERIES.c.url)
            full = [name for name, posts in in_flight.items() if posts >= per_target]
            rank = func.row_number().over(
                partition_by=target, order_by=(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
            )
            offered = select(DELIVERIES.c.id, rank.label("rank")).where(*due)
            if full:
                offered = offered.where(target.not_in(full))
            fair = offered.subquery()
            query = query.join(fair, fair.c.id == DELIVERIES.c.id).where(
                fair.c.rank <= per_target, *due
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

    @guarded
    async def counts_by_state(self) -> dict[str, DeliveryCounts]:
        """The pending and dead deliveries of each endpoint in use, counted in one query.

        An endpoint with neither is left out: ``counts.get(endpoint_id, DeliveryCounts())``.
        """
        query = (
            select(DELIVERIES.c.endpoint_id, DELIVERIES.c.state, func.count().label("n"))
            .join(ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id)
            .where(ENDPOINTS.c.deleted_at.is_(None), DELIVERIES.c.state.in_((PENDING, DEAD)))
            .group_by(DELIVERIES.c.endpoint_id, DELIVERIES.c.state)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        found: dict[str, dict[str, int]] = {}
        for row in rows:
            found.setdefault(row.endpoint_id, {})[row.state] = int(row.n)
        return {
            endpoint_id: DeliveryCounts(pending=n.get(PENDING, 0), dead=n.get(DEAD, 0))
            for endpoint_id, n in found.items()
        }
