"""Retention on real SQLite and PostgreSQL, with a clock the test moves.

Old texts are redacted and old rows deleted, but only of messages nothing will send again;
timelines go with their messages, batches once empty, webhook events once delivered, and
each pass says what it did in one log line, counts only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from smsgate.api.app import create_app
from smsgate.db.batches import NewBatch, QueuedMessage
from smsgate.db.common import EVENTS, MESSAGES
from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.inbound import InboundSms, InboundStore
from smsgate.db.queue import QueueStore
from smsgate.db.retention import INBOUND, RetentionStore
from smsgate.db.rows import NewMessage
from smsgate.db.store import MessageStore
from smsgate.db.webhook_rows import ATTEMPTS, DELIVERIES, OUTBOX, WEBHOOK_EVENTS
from smsgate.domain.message import MessageStatus as S
from smsgate.services import retention as retention_module
from smsgate.services.retention import LOCK, Retention
from tests.conftest import SettingsFactory
from tests.support.fakes import RecordingProvider
from tests.support.servers import LOCAL_BASE_URL

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECRET_TEXT = "your code is zebra-4471"
NUMBER = "+14155552671"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def days_ago(self, days: float) -> None:
        self.now = NOW - timedelta(days=days)


@dataclass
class World:
    engine: AsyncEngine
    clock: Clock
    messages: MessageStore
    queue: QueueStore
    inbound: InboundStore
    retention: Retention


@pytest.fixture
async def world(migrated: str) -> AsyncIterator[World]:
    engine = make_engine(migrated)
    sessions = make_sessions(engine)
    clock = Clock()
    messages = MessageStore(sessions, clock=clock)
    queue = QueueStore(engine, clock=clock)
    # Two rows a chunk: every step runs over several chunks and transactions.
    store = RetentionStore(engine, chunk=2, pause=0)
    retention = Retention(store, queue, text_days=30, row_days=400, clock=clock)
    try:
        yield World(engine, clock, messages, queue, InboundStore(sessions), retention)
    finally:
        clock.now = NOW
        await messages.close()
        await engine.dispose()


async def message(world: World, days: float, *moves: tuple[S, float]) -> str:
    """A message made ``days`` ago, then moved to each status at its own age in days."""
    world.clock.days_ago(days)
    made = await world.messages.add(
        NewMessage(to=NUMBER, text=SECRET_TEXT, encoding="GSM-7", segments=1, provider="plivo"),
        claimed=any(status is not S.ACCEPTED for status, _ in moves),
    )
    for status, age in moves:
        if status is not S.SENDING:  # a claimed message is sending already
            world.clock.days_ago(age)
            await world.messages.record(made.id, status, source="callback")
    world.clock.now = NOW
    return made.id


async def row(engine: AsyncEngine, message_id: str) -> tuple[str | None, int] | None:
    """The message's text and how many events it has, or None once deleted."""
    async with engine.connect() as connection:
        found = (
            await connection.execute(select(MESSAGES.c.text).where(MESSAGES.c.id == message_id))
        ).first()
        events = await connection.scalar(
            select(func.count()).select_from(EVENTS).where(EVENTS.c.message_id == message_id)
        )
    return None if found is None else (found.text, int(events or 0))


async def count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_old_final_messages_lose_their_text_then_their_rows_and_nothing_else_changes(
    world: World,
) -> None:
    very_old = [await message(world, 500, (S.DELIVERED, 499)) for _ in range(3)]
    old_failed = await message(world, 401, (S.FAILED, 401))
    old_accepted = await message(world, 500)  # never handed over: still to be sent
    old_sending = await message(world, 500, (S.SENDING, 500))  # cut off: may be queued again
    redactable = [await message(world, 100, (S.DELIVERED, 100)) for _ in range(3)]
    quiet_queued = await message(world, 100, (S.QUEUED, 100))  # no report came, ever
    unknown = await message(world, 60, (S.UNKNOWN, 60))
    reported_lately = await message(world, 100, (S.QUEUED, 100), (S.SENT, 2))  # in flight
    recent = await message(world, 29, (S.DELIVERED, 29))
    before = {m: await row(world.engine, m) for m in [recent, reported_lately, old_accepted]}

    with capture_logs() as logs:
        counts = await world.retention.run()

    assert counts is not None
    assert counts.messages_deleted == 4
    assert counts.message_events_deleted == 4 * 3  # accepted, sending, delivered/failed
    assert counts.messages_redacted == 5
    for gone in [*very_old, old_failed]:
        assert await row(world.engine, gone) is None
    for redacted in [*redactable, quiet_queued]:
        assert await row(world.engine, redacted) == (None, 3)
    assert await row(world.engine, unknown) == (None, 3)
    for kept in [recent, reported_lately, old_accepted]:
        assert await row(world.engine, kept) == before[kept]
    assert await row(world.engine, old_sending) == (SECRET_TEXT, 2)
    shown = await world.messages.get(redactable[0])
    assert shown is not None
    assert (shown.text, shown.status) == (None, S.DELIVERED)

    (line,) = [entry for entry in logs if entry["event"] == "retention_applied"]
    assert line["messages_deleted"] == 4
    assert line["messages_redacted"] == 5
    assert (line["text_days"], line["row_days"]) == (30, 400)
    flat = json.dumps(line, default=str)
    assert "zebra" not in flat
    assert "4155552671" not in flat

    # A second pass finds nothing to do, and says nothing.
    with capture_logs() as logs:
        again = await world.retention.run()
    assert again is not None
    assert again.total == 0
    assert [e for e in logs if e["event"] == "retention_applied"] == []


async def test_a_message_skipped_for_being_in_flight_is_redacted_once_it_ends(
    world: World,
) -> None:
    """The redaction scan resumes where the last pass stopped: not past what it skipped."""
    waiting = await message(world, 100)  # accepted: skipped
    for _ in range(5):
        await message(world, 90, (S.DELIVERED, 90))
    first = await world.retention.run()
    assert first is not None
    assert first.messages_redacted == 5
    assert await row(world.engine, waiting) == (SECRET_TEXT, 1)

    world.clock.days_ago(1)
    await world.messages.record(waiting, S.CANCELED, source="api")
    world.clock.now = NOW
    second = await world.retention.run()
    assert second is not None
    assert second.messages_redacted == 1
    assert await row(world.engine, waiting) == (None, 2)


async def test_batches_go_once_their_messages_have_gone(world: World) -> None:
    def batch(*numbers: str) -> NewBatch:
        rows = [QueuedMessage(n, SECRET_TEXT, "GSM-7", 1, Decimal("0.0035")) for n in numbers]
        return NewBatch(
            messages=rows,
            provider="plivo",
            sender=None,
            due_at=world.clock.now,
            expires_at=None,
            recipients=len(rows),
        )

    world.clock.days_ago(450)
    ended = await world.queue.add_batch(batch("+14155550001", "+14155550002"))
    half = await world.queue.add_batch(batch("+14155550003", "+14155550004"))
    for message_id in [*ended.message_ids, half.message_ids[0]]:
        await world.messages.record(message_id, S.EXPIRED, source="dispatcher")
    world.clock.now = NOW

    counts = await world.retention.run()

    assert counts is not None
    assert (counts.messages_deleted, counts.batches_deleted) == (3, 1)
    assert await world.queue.progress(ended.id) is None
    progress = await world.queue.progress(half.id)
    assert progress is not None
    assert progress.counts == {"accepted": 1}


async def test_inbound_texts_are_redacted_everywhere_and_old_rows_deleted(world: World) -> None:
    for days, uuid in [(500, "old"), (100, "mid"), (3, "new")]:
        raw = {"From": "14155552671", "To": "14155550199", "Text": SECRET_TEXT, "MessageUUID": uuid}
        await world.inbound.add(
            InboundSms(
                from_number=NUMBER,
                to_number="+14155550199",
                text=SECRET_TEXT,
                received_at=NOW - timedelta(days=days),
                provider_message_uuid=uuid,
                raw=raw,
            )
        )

    counts = await world.retention.run()

    assert counts is not None
    assert (counts.inbound_deleted, counts.inbound_redacted) == (1, 1)
    async with world.engine.connect() as connection:
        rows = {
            r.provider_message_uuid: r
            for r in await connection.execute(
                select(INBOUND.c.provider_message_uuid, INBOUND.c.text, INBOUND.c.raw)
            )
        }
    assert set(rows) == {"mid", "new"}
    assert rows["mid"].text is None
    assert rows["mid"].raw == {"From": "14155552671", "To": "14155550199", "MessageUUID": "mid"}
    assert rows["new"].text == SECRET_TEXT
    assert rows["new"].raw["Text"] == SECRET_TEXT


async def test_old_webhook_events_go_with_their_deliveries_unless_still_pending(
    world: World,
) -> None:
    old, recent = NOW - timedelta(days=31), NOW - timedelta(days=29)
    async with world.engine.begin() as connection:
        for event_id, made, state in [
            ("evt_delivered", old, "delivered"),
            ("evt_dead", old, "dead"),
            ("evt_pending", old, "pending"),
            ("evt_recent", recent, "delivered"),
        ]:
            await connection.execute(
                insert(WEBHOOK_EVENTS),
                {
                    "id": event_id,
                    "type": "message.inbound",
                    "occurred_at": made,
                    "message_id": None,
                    "body": json.dumps({"data": {"text": SECRET_TEXT}}),
                    "created_at": made,
                },
            )
            delivery = f"dlv_{event_id}"[:26]
            await connection.execute(
                insert(DELIVERIES),
                {
                    "id": delivery,
                    "event_id": event_id,
                    "endpoint_id": None,
                    "url": "https://app.example.com/hook",
                    "state": state,
                    "attempts": 2,
                    "next_attempt_at": made,
                    "last_status": 500,
                    "last_error": None,
                    "created_at": made,
                    "updated_at": made,
                },
            )
            for _ in range(2):
                await connection.execute(
                    insert(ATTEMPTS),
                    {
                        "delivery_id": delivery,
                        "at": made,
                        "status_code": 500,
                        "latency_ms": 1.0,
                        "error": None,
                    },
                )
        await connection.execute(
            insert(OUTBOX),
            [
                {"type": "message.inbound", "occurred_at": old, "created_at": old, "data": {}},
                {"type": "message.inbound", "occurred_at": NOW, "created_at": NOW, "data": {}},
            ],
        )

    counts = await world.retention.run()

    assert counts is not None
    assert (
        counts.webhook_events_deleted,
        counts.webhook_deliveries_deleted,
        counts.webhook_attempts_deleted,
        counts.webhook_outbox_deleted,
    ) == (2, 2, 4, 1)
    async with world.engine.connect() as connection:
        left = set((await connection.execute(select(WEBHOOK_EVENTS.c.id))).scalars())
    assert left == {"evt_pending", "evt_recent"}
    assert await count(world.engine, DELIVERIES) == 2
    assert await count(world.engine, ATTEMPTS) == 4
    assert await count(world.engine, OUTBOX) == 1


async def test_foreign_keys_are_enforced_so_a_timeline_cannot_outlive_its_message(
    world: World,
) -> None:
    """ON DELETE CASCADE holds on SQLite too: db/engine.py turns foreign keys on."""
    message_id = await message(world, 1, (S.DELIVERED, 1))
    async with world.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            assert await connection.scalar(text("PRAGMA foreign_keys")) == 1
        await connection.execute(MESSAGES.delete().where(MESSAGES.c.id == message_id))
    assert await count(world.engine, EVENTS) == 0


async def test_only_one_process_applies_retention_at_a_time(world: World) -> None:
    await message(world, 500, (S.DELIVERED, 500))
    if world.engine.dialect.name != "postgresql":
        # SQLite runs in one process: there is nobody to exclude, and the job always runs.
        async with world.queue.exclusive(LOCK) as mine:
            assert mine
        return
    async with world.queue.exclusive(LOCK) as mine:
        assert mine
        # Another process: its own engine, so its own session for the advisory lock.
        elsewhere = make_engine(world.engine.url.render_as_string(hide_password=False))
        try:
            shut_out = Retention(
                RetentionStore(elsewhere),
                QueueStore(elsewhere),
                text_days=30,
                row_days=400,
                clock=world.clock,
            )
            assert await shut_out.run() is None
        finally:
            await elsewhere.dispose()
    counts = await world.retention.run()
    assert counts is not None
    assert counts.messages_deleted == 1


@pytest.fixture
def quick_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention_module, "FIRST_AFTER", 0.0)


def test_serve_without_a_broker_applies_retention_in_the_background(
    make_settings: SettingsFactory, quick_retention: None
) -> None:
    settings = make_settings(retain_days=1, retain_text_days=1)

    async def old_delivered_message() -> str:
        engine = make_engine(settings.database_url)
        clock = Clock()
        clock.now = datetime.now(UTC) - timedelta(days=3)
        messages = MessageStore(make_sessions(engine), clock=clock)
        try:
            made = await messages.add(
                NewMessage(
                    to=NUMBER, text=SECRET_TEXT, encoding="GSM-7", segments=1, provider="plivo"
                ),
                claimed=True,
            )
            await messages.record(made.id, S.DELIVERED, source="callback")
        finally:
            await messages.close()
            await engine.dispose()
        return made.id

    message_id = asyncio.run(old_delivered_message())
    with capture_logs() as logs:
        app = create_app(settings, provider=RecordingProvider())
        with TestClient(app, base_url=LOCAL_BASE_URL) as client:
            deadline = time.monotonic() + 10
            while not any(e["event"] == "retention_applied" for e in logs):
                assert time.monotonic() < deadline, "retention never ran"
                time.sleep(0.05)
            assert client.get(f"/api/v1/messages/{message_id}").status_code == 404
    (line,) = [e for e in logs if e["event"] == "retention_applied"]
    assert line["messages_deleted"] == 1
