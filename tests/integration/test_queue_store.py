"""Queued messages on real SQLite and PostgreSQL: batches, due rows, releases, progress."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from smsgate.db.batches import NewBatch, QueuedMessage
from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.opt_outs import OptOutSource, OptOutStore
from smsgate.db.queue import QueueStore
from smsgate.db.store import MessageStore
from smsgate.domain.message import MessageStatus as S

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

NOW = datetime.now(UTC)


@dataclass
class Stores:
    queue: QueueStore
    messages: MessageStore
    opt_outs: OptOutStore


@pytest.fixture
async def stores(migrated: str) -> AsyncIterator[Stores]:
    engine = make_engine(migrated)
    sessions = make_sessions(engine)
    messages = MessageStore(sessions)
    try:
        yield Stores(QueueStore(engine), messages, OptOutStore(sessions))
    finally:
        await messages.close()
        await engine.dispose()


def batch(*numbers: str, due_at: datetime = NOW, **kwargs: object) -> NewBatch:
    rows = [QueuedMessage(n, "hello", "GSM-7", 1, Decimal("0.0035")) for n in numbers]
    return NewBatch(
        messages=rows,
        provider="plivo",
        sender="+14155550199",
        due_at=due_at,
        expires_at=kwargs.pop("expires_at", None),  # type: ignore[arg-type]
        recipients=kwargs.pop("recipients", len(rows)),  # type: ignore[arg-type]
    )


async def test_a_batch_is_stored_whole_with_a_timeline_for_each_message(stores: Stores) -> None:
    stored = await stores.queue.add_batch(batch("+14155550001", "+14155550002", recipients=3))
    assert len(stored.message_ids) == 2
    message = await stores.messages.get(stored.message_ids[1])
    assert message is not None
    assert (message.status, message.batch_id, message.to) == (S.ACCEPTED, stored.id, "+14155550002")
    assert message.estimated_cost == Decimal("0.00350")
    assert [e.status for e in message.events] == [S.ACCEPTED]
    progress = await stores.queue.progress(stored.id)
    assert progress is not None
    assert (progress.recipients, progress.invalid, progress.stored, progress.pending) == (
        3,
        1,
        2,
        2,
    )


async def test_numbers_on_the_opt_out_list_are_stored_rejected(stores: Stores) -> None:
    await stores.opt_outs.add("+14155550002", OptOutSource.KEYWORD)
    stored = await stores.queue.add_batch(batch("+14155550001", "+14155550002"))
    assert stored.opted_out == {1}
    refused = await stores.messages.get(stored.message_ids[1])
    assert refused is not None
    assert refused.status is S.REJECTED
    assert [e.status for e in refused.events] == [S.ACCEPTED, S.REJECTED]
    due = await stores.queue.due(NOW + timedelta(seconds=1), limit=10)
    assert [m.id for m in due] == [stored.message_ids[0]]


async def test_a_large_batch_is_stored_in_one_go(stores: Stores) -> None:
    numbers = [f"+1415555{n:04d}" for n in range(2500)]
    stored = await stores.queue.add_batch(batch(*numbers))
    progress = await stores.queue.progress(stored.id)
    assert progress is not None
    assert progress.counts == {"accepted": 2500}


async def test_due_gives_the_longest_waiting_first_and_nothing_early(stores: Stores) -> None:
    later = await stores.queue.add_batch(batch("+14155550003", due_at=NOW + timedelta(hours=1)))
    first = await stores.queue.add_batch(batch("+14155550001", due_at=NOW - timedelta(minutes=2)))
    second = await stores.queue.add_batch(batch("+14155550002", due_at=NOW - timedelta(minutes=1)))
    due = await stores.queue.due(NOW, limit=10)
    assert [m.id for m in due] == [first.message_ids[0], second.message_ids[0]]
    assert due[0].text == "hello"
    assert await stores.queue.due(NOW, limit=1) == due[:1]
    upcoming = await stores.queue.next_due_at(after=NOW)
    assert upcoming is not None
    assert abs(upcoming - (NOW + timedelta(hours=1))) < timedelta(milliseconds=1)
    assert later.message_ids[0] not in {m.id for m in due}


async def test_a_claimed_message_is_no_longer_due_and_only_one_claim_wins(stores: Stores) -> None:
    stored = await stores.queue.add_batch(batch("+14155550001"))
    message_id = stored.message_ids[0]
    wins = await asyncio.gather(*(stores.messages.claim(message_id) for _ in range(20)))
    assert wins.count(True) == 1
    assert await stores.queue.due(NOW + timedelta(seconds=1), limit=10) == []
    message = await stores.messages.get(message_id)
    assert message is not None
    assert (message.status, message.attempts) == (S.SENDING, 1)
    assert [e.status for e in message.events] == [S.ACCEPTED, S.SENDING]  # no losers' events


async def test_a_released_claim_is_due_again_later_and_counted(stores: Stores) -> None:
    stored = await stores.queue.add_batch(batch("+14155550001"))
    message_id = stored.message_ids[0]
    assert await stores.messages.claim(message_id)
    retry_at = NOW + timedelta(seconds=30)
    assert await stores.queue.release(message_id, retry_at, "Plivo is unavailable")
    assert not await stores.queue.release(message_id, retry_at, "twice")  # not sending now
    assert await stores.queue.due(NOW + timedelta(seconds=29), limit=10) == []
    (due,) = await stores.queue.due(NOW + timedelta(seconds=31), limit=10)
    assert (due.id, due.attempts) == (message_id, 1)
    assert await stores.messages.claim(message_id)  # the second attempt
    message = await stores.messages.get(message_id)
    assert message is not None
    assert message.attempts == 2
    assert [(e.status, e.source) for e in message.events] == [
        (S.ACCEPTED, "api"),
        (S.SENDING, "dispatcher"),
        (S.ACCEPTED, "retry"),
        (S.SENDING, "dispatcher"),
    ]


async def test_a_message_with_an_answer_from_the_provider_cannot_be_released(
    stores: Stores,
) -> None:
    stored = await stores.queue.add_batch(batch("+14155550001"))
    message_id = stored.message_ids[0]
    assert await stores.messages.claim(message_id)
    await stores.messages.record(message_id, S.UNKNOWN, source="provider")
    assert not await stores.queue.release(message_id, NOW, "no")


async def test_pending_ids_and_cancel_marks(stores: Stores) -> None:
    stored = await stores.queue.add_batch(batch("+14155550001", "+14155550002"))
    assert await stores.messages.claim(stored.message_ids[0])
    assert await stores.queue.pending_ids(stored.id) == [stored.message_ids[1]]
    assert await stores.queue.mark_canceled(stored.id)
    assert not await stores.queue.mark_canceled("01NOSUCHBATCH0000000000000")
    progress = await stores.queue.progress(stored.id)
    assert progress is not None
    assert progress.canceled_at is not None
    assert await stores.queue.progress("01NOSUCHBATCH0000000000000") is None


async def test_the_backlog_counts_due_messages_and_finds_the_oldest(stores: Stores) -> None:
    assert await stores.queue.backlog(NOW) == (0, None)
    await stores.queue.add_batch(batch("+14155550001", due_at=NOW - timedelta(minutes=5)))
    await stores.queue.add_batch(batch("+14155550002", "+14155550003", due_at=NOW))
    await stores.queue.add_batch(batch("+14155550004", due_at=NOW + timedelta(hours=1)))
    depth, oldest = await stores.queue.backlog(NOW)
    assert depth == 3
    assert oldest is not None
    assert abs(oldest - (NOW - timedelta(minutes=5))) < timedelta(milliseconds=1)
    assert await stores.queue.counts_by_status() == {"accepted": 4}


async def test_a_release_after_the_batch_was_canceled_cancels_the_message(stores: Stores) -> None:
    stored = await stores.queue.add_batch(batch("+14155550001"))
    message_id = stored.message_ids[0]
    assert await stores.messages.claim(message_id)
    await stores.queue.mark_canceled(stored.id)
    assert not await stores.queue.release(message_id, NOW, "Plivo is unavailable")
    message = await stores.messages.get(message_id)
    assert message is not None
    assert message.status is S.CANCELED
    assert await stores.queue.due(NOW + timedelta(days=1), limit=10) == []


async def test_a_release_names_the_claim_it_gives_back(stores: Stores) -> None:
    stored = await stores.queue.add_batch(batch("+14155550001"))
    message_id = stored.message_ids[0]
    assert await stores.messages.claim(message_id)
    (stale,) = await stores.queue.stale_sending(datetime.now(UTC) + timedelta(seconds=1), 10)
    assert await stores.queue.release(message_id, NOW, "first", claimed_at=stale.claimed_at)
    assert await stores.messages.claim(message_id)  # claimed again, later
    # A release naming the first claim must not give back the second one.
    assert not await stores.queue.release(message_id, NOW, "stale", claimed_at=stale.claimed_at)
    message = await stores.messages.get(message_id)
    assert message is not None
    assert message.status is S.SENDING


async def test_exclusive_admits_one_holder_at_a_time(stores: Stores) -> None:
    async with stores.queue.exclusive("job") as first:
        assert first
        async with stores.queue.exclusive("job") as second:
            # PostgreSQL refuses the second holder; SQLite runs in one process and says yes.
            assert second is (stores.queue._engine.dialect.name != "postgresql")
    async with stores.queue.exclusive("job") as again:
        assert again
