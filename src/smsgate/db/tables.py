"""The tables, as SQLAlchemy 2 mapped classes. Migrations in ``migrations/`` build the same.

Every message is a row before it is sent, and every change of its status is a row in
``message_events``, whether or not it moved the status (a late callback is kept, and shown in
the timeline, without taking the message backward).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from smsgate.db.ids import new_id
from smsgate.db.types import BigId, UtcDateTime

# Named constraints, so migrations can refer to them on every database (and SQLite batch
# mode can rebuild tables).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


Money = Numeric(12, 5)


class MessageRow(Base):
    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)  # a ULID: sorts by time
    to_number: Mapped[str] = mapped_column(String(16), index=True)
    # The address it goes from (a number, a short code, an ID, a Powerpack's UUID), once known:
    # a message of a pool has its sender chosen at each hand-off, and stored with the claim.
    sender: Mapped[str | None] = mapped_column(String(64))
    # The pool its sender is chosen from; None for a message whose sender was fixed (``from``,
    # or PLIVO_SENDER_ID when no sender is registered).
    pool: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)  # None once redacted
    encoding: Mapped[str] = mapped_column(String(8))
    segments: Mapped[int] = mapped_column(Integer)
    estimated_cost: Mapped[Decimal | None] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_message_uuid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(8))
    error_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    units: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[Decimal | None] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Queued sending: the batch a message belongs to, when it is due to be handed to Plivo
    # (None for a message sent at once), and when it expires if not handed over by then.
    batch_id: Mapped[str | None] = mapped_column(String(26), index=True)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When a queued message was first due (its send_at, or when it was accepted): due_at
    # moves with retries; retries stop at an age counted from this.
    scheduled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The API key that asked for it ("env_..." for a bootstrap key); None when smsgate is open.
    api_key_id: Mapped[str | None] = mapped_column(String(32))
    # Where this message's own status webhooks go, besides the registered endpoints.
    callback_url: Mapped[str | None] = mapped_column(Text)

    events: Mapped[list[EventRow]] = relationship(
        back_populates="message", order_by="EventRow.id", cascade="all, delete-orphan"
    )


# What the dispatcher looks for: accepted messages whose time has come, oldest first.
Index("ix_messages_status_due_at", MessageRow.status, MessageRow.due_at)


class SenderRow(Base):
    """A registered sender (``domain.senders``); its pools are ``sender_pools`` rows."""

    __tablename__ = "senders"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)  # a ULID
    address: Mapped[str] = mapped_column(String(64), unique=True)  # compact
    kind: Mapped[str] = mapped_column(String(16))
    countries: Mapped[str] = mapped_column(String(1024))  # "CA,US"; "" for anywhere
    mps: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SenderPoolRow(Base):
    """A sender's membership of a pool: a pool is the senders that name it."""

    __tablename__ = "sender_pools"

    pool: Mapped[str] = mapped_column(String(64), primary_key=True)
    sender_id: Mapped[str] = mapped_column(
        ForeignKey("senders.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer)  # the order the sender's pools were given in


class StickySenderRow(Base):
    """The sender a recipient last got from a pool, so it keeps getting the same one."""

    __tablename__ = "sticky_senders"

    pool: Mapped[str] = mapped_column(String(64), primary_key=True)
    to_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    # No foreign key: a removed sender's rows are deleted with it, and one that raced the
    # removal is only ever read as "no longer in the pool".
    sender_id: Mapped[str] = mapped_column(String(26))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SenderRegistryRow(Base):
    """One row (id 1, made by the first change) whose revision every change of the senders
    moves: a process holding the registry in memory reads only this to know whether it is
    still current."""

    __tablename__ = "sender_registry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)


class BatchRow(Base):
    """Messages created together by one request: their progress is counted from ``messages``."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)  # a ULID
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    recipients: Mapped[int] = mapped_column(Integer)  # rows in the request, valid or not
    invalid: Mapped[int] = mapped_column(Integer)  # rows refused before storing
    send_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    validity_s: Mapped[int | None] = mapped_column(Integer)
    canceled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ApiKeyRow(Base):
    """An API key: its digest only, never the key itself (``domain.api_keys``)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)  # a ULID
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # sg_live_AbC12345, shown
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256, hex
    scopes: Mapped[str] = mapped_column(String(64))  # "read,send"
    test: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ConsoleSessionRow(Base):
    """A signed-in browser of the web console: the cookie holds a token, this its digest."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256, hex
    principal_id: Mapped[str | None] = mapped_column(String(32))  # the key; None: open
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(64))
    test: Mapped[bool] = mapped_column(Boolean)
    csrf: Mapped[str] = mapped_column(String(64))  # sent back with every change it makes
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class EventRow(Base):
    __tablename__ = "message_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    applied: Mapped[bool] = mapped_column(Boolean)  # False: recorded, status left as it was
    source: Mapped[str] = mapped_column(String(16))  # api, provider, callback, sweeper
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    # A callback's fields, say. none_as_null: no detail is SQL NULL, and no "null" is serialised.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # Whether the webhook fan-out has looked at it (it turns applied changes into events).
    # The writers leave it to the database's default, so sending pays nothing for webhooks.
    published: Mapped[bool] = mapped_column(Boolean, server_default=false())

    message: Mapped[MessageRow] = relationship(back_populates="events")


# What the fan-out reads: the few events not looked at yet.
Index(
    "ix_message_events_unpublished",
    EventRow.id,
    sqlite_where=EventRow.published == false(),
    postgresql_where=EventRow.published == false(),
)


class WebhookEndpointRow(Base):
    """A URL of the user's app that gets signed events; ``secret`` signs them."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)  # a ULID
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(String(100))  # "message.status,opt_out.changed"
    secret: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookOutboxRow(Base):
    """An inbound message or an opt-out change, written in the transaction that made it, for
    the fan-out to turn into an event (status changes come from ``message_events``)."""

    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)  # as reported (Plivo's clock)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)  # ours
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class WebhookEventRow(Base):
    """One event, as sent to every endpoint that wants it: the body is fixed once made."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(30), primary_key=True)  # evt_ and a ULID
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    message_id: Mapped[str | None] = mapped_column(String(26), index=True)
    body: Mapped[str] = mapped_column(Text)  # the JSON sent, byte for byte (it is signed)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookDeliveryRow(Base):
    """One event to one URL: retried with backoff until a 2xx, or dead after a day."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)  # a ULID
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str | None] = mapped_column(String(26), index=True)  # None: callback_url
    url: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12))  # pending, delivered, dead
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


# What the deliverer looks for: pending deliveries whose time has come.
Index(
    "ix_webhook_deliveries_state_next", WebhookDeliveryRow.state, WebhookDeliveryRow.next_attempt_at
)


class WebhookAttemptRow(Base):
    """One try of a delivery: what the receiver answered and how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no answer
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)


class IdempotencyKeyRow(Base):
    """One use of an ``Idempotency-Key``: the primary key makes a second insert fail."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)  # who used it (API key)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)  # None while the first is running
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message_id: Mapped[str | None] = mapped_column(String(26))
    # The first request stored message_id and certainly sent nothing (Plivo answered 429 or
    # 503): the next request with the key sends that message instead of making another.
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class InboundRow(Base):
    """A message someone sent to one of our numbers, as Plivo posted it."""

    __tablename__ = "inbound_messages"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)  # a ULID
    # Unique: Plivo retries a post it thinks we missed, and the retry must not store twice.
    provider_message_uuid: Mapped[str | None] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(16), index=True)
    to_number: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    units: Mapped[int | None] = mapped_column(Integer)
    intent: Mapped[str | None] = mapped_column(String(16))  # Plivo's MessageIntent, if any
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)  # every field Plivo posted


class OptOutRow(Base):
    """A number that asked not to be texted: the primary key makes a second insert fail."""

    __tablename__ = "opt_outs"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)  # E.164
    source: Mapped[str] = mapped_column(String(16))  # keyword, api, plivo
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
