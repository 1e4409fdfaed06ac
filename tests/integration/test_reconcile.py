"""Reconciling hand-offs cut off mid-send, on both databases, against recorded provider records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from smsgate.db.batches import NewBatch, QueuedMessage
from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.queue import QueueStore
from smsgate.db.rows import NewMessage, Outcome
from smsgate.db.store import MessageStore
from smsgate.domain.message import MessageStatus as S
from smsgate.providers.base import LookupUnavailable, SentRecord
from smsgate.services.reconcile import Reconciler

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

TO = "+14155552671"


class Records:
    """The provider's records, as a fake that answers from a list and keeps the questions."""

    def __init__(self) -> None:
        self.records: list[SentRecord] = []
        self.asked: list[tuple[str, datetime, datetime]] = []
        self.down = False

    async def find_sent(self, to: str, since: datetime, until: datetime) -> list[SentRecord]:
        self.asked.append((to, since, until))
        if self.down:
            raise LookupUnavailable("Plivo is unreachable (ClientConnectorError)")
        return [r for r in self.records if r.to == to and since <= r.at <= until]


@dataclass
class Rig:
    store: MessageStore
    queue: QueueStore
    records: Records
    now: list[datetime]

    def reconciler(self, lookup: Records | None) -> Reconciler:
        return Reconciler(
            self.store,
            self.queue,
            lookup,
            deadline=timedelta(seconds=10),
            clock=lambda: self.now[0],
            provider="plivo",
        )

    async def stale_queued(self, provider: str = "plivo") -> str:
        await self.queue.add_batch(
            NewBatch(
                messages=[QueuedMessage(TO, "hi", "GSM-7", 1, None)],
                provider=provider,
                sender=None,
                due_at=self.now[0],
                expires_at=None,
                recipients=1,
            )
        )
        (due,) = await self.queue.due(self.now[0], limit=1)
        assert await self.store.claim(due.id)
        return due.id

    async def stale_inline(self, provider: str = "plivo") -> str:
        message = await self.store.add(
            NewMessage(to=TO, text="hi", encoding="GSM-7", segments=1, provider=provider),
            claimed=True,
        )
        return message.id

    async def status(self, message_id: str) -> S:
        message = await self.store.get(message_id)
        assert message is not None
        return message.status


@pytest.fixture
async def rig(migrated: str) -> AsyncIterator[Rig]:
    engine = make_engine(migrated)
    store = MessageStore(make_sessions(engine))
    try:
        yield Rig(store, QueueStore(engine), Records(), [datetime.now(UTC)])
    finally:
        await store.close()
        await engine.dispose()


def later(rig: Rig) -> datetime:
    """A moment by which every hand-off so far counts as cut off."""
    rig.now[0] += timedelta(minutes=2)
    return rig.now[0] - timedelta(minutes=1)


async def test_a_hand_off_found_in_the_providers_records_takes_its_uuid_and_state(
    rig: Rig,
) -> None:
    message_id = await rig.stale_queued()
    rig.records.records.append(SentRecord("uuid-found", TO, "delivered", rig.now[0], S.DELIVERED))
    outcomes = await rig.reconciler(rig.records).run(later(rig))
    assert outcomes == {"found": 1}
    message = await rig.store.get(message_id)
    assert message is not None
    assert (message.status, message.provider_message_uuid) == (S.DELIVERED, "uuid-found")
    assert message.events[-1].source == "reconciler"


async def test_a_queued_hand_off_the_provider_never_got_is_queued_again(rig: Rig) -> None:
    message_id = await rig.stale_queued()
    assert await rig.reconciler(rig.records).run(later(rig)) == {"requeued": 1}
    assert await rig.status(message_id) is S.ACCEPTED
    (due,) = await rig.queue.due(rig.now[0], limit=1)
    assert due.id == message_id


async def test_an_inline_send_the_provider_never_got_is_failed_not_resent(rig: Rig) -> None:
    message_id = await rig.stale_inline()
    assert await rig.reconciler(rig.records).run(later(rig)) == {"not_sent": 1}
    assert await rig.status(message_id) is S.FAILED
    assert await rig.queue.due(rig.now[0], limit=1) == []


async def test_a_send_held_for_its_keys_retry_expires_once_the_hold_lapses(rig: Rig) -> None:
    """Plivo answered 429 and the caller never retried with its Idempotency-Key: the message,
    never taken by a dispatcher meanwhile, ends ``expired``, nothing sent."""
    held = await rig.stale_inline()
    until = rig.now[0] + timedelta(hours=1)
    assert await rig.queue.release(held, None, "Plivo was rate-limiting", held_until=until)
    assert await rig.reconciler(rig.records).run(rig.now[0]) == {}
    assert await rig.status(held) is S.ACCEPTED
    assert await rig.queue.due(rig.now[0] + timedelta(days=2), limit=10) == []
    rig.now[0] += timedelta(hours=2)
    assert await rig.reconciler(rig.records).run(rig.now[0]) == {"expired": 1}
    message = await rig.store.get(held)
    assert message is not None
    assert message.status is S.EXPIRED
    assert [e.status for e in message.events] == [S.ACCEPTED, S.SENDING, S.ACCEPTED, S.EXPIRED]
    assert message.events[2].detail == {
        "held_until": until.isoformat(),
        "reason": "Plivo was rate-limiting",
    }


async def test_a_test_keys_hand_offs_are_never_looked_up_in_plivos_records(rig: Rig) -> None:
    """They were for the sandbox: nothing reached Plivo, so nothing can be found there."""
    queued = await rig.stale_queued(provider="sandbox")
    inline = await rig.stale_inline(provider="sandbox")
    outcomes = await rig.reconciler(rig.records).run(later(rig))
    assert outcomes == {"requeued": 1, "not_sent": 1}
    assert rig.records.asked == []
    assert await rig.status(queued) is S.ACCEPTED
    assert await rig.status(inline) is S.FAILED


async def test_records_that_belong_to_other_messages_are_not_taken(rig: Rig) -> None:
    other = await rig.stale_inline()
    await rig.store.record(
        other, S.QUEUED, source="provider", outcome=Outcome(provider_message_uuid="uuid-other")
    )
    message_id = await rig.stale_queued()
    rig.records.records.append(SentRecord("uuid-other", TO, "queued", rig.now[0]))
    assert await rig.reconciler(rig.records).run(later(rig)) == {"requeued": 1}
    assert await rig.status(message_id) is S.ACCEPTED


async def test_two_candidates_leave_it_unknown(rig: Rig) -> None:
    message_id = await rig.stale_queued()
    for uuid in ("uuid-a", "uuid-b"):
        rig.records.records.append(SentRecord(uuid, TO, "queued", rig.now[0]))
    assert await rig.reconciler(rig.records).run(later(rig)) == {"unknown": 1}
    assert await rig.status(message_id) is S.UNKNOWN


async def test_unreadable_records_postpone_then_give_up_as_unknown(rig: Rig) -> None:
    message_id = await rig.stale_queued()
    rig.records.down = True
    assert await rig.reconciler(rig.records).run(later(rig)) == {"postponed": 1}
    assert await rig.status(message_id) is S.SENDING
    rig.now[0] += timedelta(hours=2)
    assert await rig.reconciler(rig.records).run(rig.now[0]) == {"unknown": 1}
    assert await rig.status(message_id) is S.UNKNOWN


async def test_without_records_to_check_it_is_unknown(rig: Rig) -> None:
    message_id = await rig.stale_queued()
    assert await rig.reconciler(None).run(later(rig)) == {"unknown": 1}
    assert await rig.status(message_id) is S.UNKNOWN


async def test_a_hand_off_still_within_its_deadline_is_left_alone(rig: Rig) -> None:
    message_id = await rig.stale_queued()
    assert await rig.reconciler(rig.records).run(rig.now[0] - timedelta(seconds=1)) == {}
    assert await rig.status(message_id) is S.SENDING
    assert rig.records.asked == []


async def test_the_window_asked_for_spans_the_claim_and_the_deadline(rig: Rig) -> None:
    await rig.stale_queued()
    claimed = rig.now[0]
    await rig.reconciler(rig.records).run(later(rig))
    ((to, since, until),) = rig.records.asked
    assert to == TO
    assert since <= claimed <= until
    assert until - since >= timedelta(seconds=10)


async def test_two_cut_off_hand_offs_to_one_number_are_both_unknown(rig: Rig) -> None:
    first = await rig.stale_queued()
    second = await rig.stale_queued()
    rig.records.records.append(SentRecord("uuid-1", TO, "queued", rig.now[0]))
    assert await rig.reconciler(rig.records).run(later(rig)) == {"unknown": 2}
    assert [await rig.status(first), await rig.status(second)] == [S.UNKNOWN, S.UNKNOWN]


class SlowRecords(Records):
    """A Plivo whose message list takes its time, and that looks, meanwhile, at what the
    database's sessions are doing (``pg_stat_activity``)."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self._dsn = (
            make_url(database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        self.states: list[str] = []

    async def find_sent(self, to: str, since: datetime, until: datetime) -> list[SentRecord]:
        await asyncio.sleep(0.3)  # the reconciler holds its lock meanwhile
        watcher = await asyncpg.connect(self._dsn)
        try:
            rows = await watcher.fetch(
                "SELECT state FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await watcher.close()
        self.states.extend(str(row["state"]) for row in rows)
        return await super().find_sent(to, since, until)


@pytest.mark.postgres
async def test_no_transaction_stays_open_while_plivo_is_asked(postgres: str) -> None:
    """The reconciler's lock is a session lock on an AUTOCOMMIT connection: while a slow
    Plivo is asked, no connection of smsgate's sits ``idle in transaction``."""
    engine = make_engine(postgres)
    store = MessageStore(make_sessions(engine))
    try:
        rig = Rig(store, QueueStore(engine), SlowRecords(postgres), [datetime.now(UTC)])
        await rig.stale_queued()
        assert await rig.reconciler(rig.records).run(later(rig)) == {"requeued": 1}
    finally:
        await store.close()
        await engine.dispose()
    assert isinstance(rig.records, SlowRecords)
    states = rig.records.states
    assert "idle" in states  # the lock's session: there, and idle between statements
    assert "idle in transaction" not in states
