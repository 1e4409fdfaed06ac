"""What the webhook tables hold, and the values the webhook store hands out.

The store (``db/webhooks.py``), its fan-out (``db/webhook_fan_out.py``) and retention share
these handles and names; the public shape of an event is not here: the caller renders it
(``services/documents.py``), the store only keeps the bytes it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Exists, Table, insert, select

from smsgate.db.tables import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
    WebhookEventRow,
    WebhookOutboxRow,
)
from smsgate.domain.clock import utc_now

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


def status_listeners() -> Exists:
    """Whether some live endpoint wants status changes: with none, only a message's own
    ``callback_url`` makes its changes worth publishing (``fan_out_statuses``), so the writers
    store the others already published (``db.group_commit``), in the same transaction."""
    return (
        select(ENDPOINTS.c.id)
        .where(ENDPOINTS.c.deleted_at.is_(None), ENDPOINTS.c.events.contains(STATUS_CHANGED))
        .exists()
    )


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
class StatusChange:
    """A message's status change, as the fan-out reads it.

    ``status`` and ``sequence`` are the event's own; every other field is the message row's
    at fan-out time, not at the moment of the change (a late fan-out pairs a ``sent`` with
    the amount or error of a later ``undelivered``: a known issue, kept as it is for now).
    """

    message_id: str
    to: str
    status: str
    sequence: int
    error_code: str | None
    error_reason: str | None
    segments: int
    estimated_cost: Decimal | None
    amount: Decimal | None
    batch_id: str | None
    sender: str | None = None  # the address it went from
    pool: str | None = None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event the fan-out is about to store, for the caller to render as its JSON body.

    ``data`` is a ``StatusChange`` for a message's status, else the JSON written with the
    change in the outbox (an inbound message, an opt-out).
    """

    id: str
    type: str
    occurred_at: datetime
    data: StatusChange | Mapping[str, Any]


# Renders an event as the exact body every endpoint gets (it is stored, then signed).
RenderEvent = Callable[[NewEvent], str]


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


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """How many of an endpoint's deliveries wait to be posted, and how many gave up."""

    pending: int = 0
    dead: int = 0


def outbox_row(kind: str, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """A ``webhook_outbox`` row for the caller to insert in its own transaction."""
    return {"type": kind, "occurred_at": occurred_at, "created_at": utc_now(), "data": data}


def insert_outbox() -> Any:
    """The INSERT for ``outbox_row`` values."""
    return insert(OUTBOX)


def endpoint_from(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        url=row.url,
        events=tuple(kind for kind in row.events.split(",") if kind),
        description=row.description,
        created_at=row.created_at,
        deleted_at=row.deleted_at,
    )
