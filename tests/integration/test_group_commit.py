"""Group commit on both databases: batches stay whole, and nobody waits forever."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.errors import StoreUnavailable
from smsgate.db.opt_outs import OptOutSource, OptOutStore
from smsgate.db.rows import NewMessage, Outcome
from smsgate.db.store import MessageStore
from smsgate.domain.message import MessageStatus as S

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def stores(migrated: str) -> AsyncIterator[tuple[MessageStore, OptOutStore]]:
    engine = make_engine(migrated)
    sessions = make_sessions(engine)
    store = MessageStore(sessions)
    try:
        yield store, OptOutStore(sessions)
    finally:
        await store.close()
        await engine.dispose()


def new(to: str) -> NewMessage:
    return NewMessage(to=to, text="hi", encoding="GSM-7", segments=1, provider="plivo")


def splits(logs: list[MutableMapping[str, Any]]) -> int:
    return sum(1 for entry in logs if entry["event"] == "group_commit_split")


async def test_a_batch_of_refused_and_accepted_messages_commits_whole(
    stores: tuple[MessageStore, OptOutStore],
) -> None:
    """Opted-out and ordinary numbers in one batch: each stored right, in one transaction."""
    store, opt_outs = stores
    await opt_outs.add("+14155552671", OptOutSource.API)
    numbers = ["+14155552671", "+14155552672"] * 10
    with capture_logs() as logs:
        added = await asyncio.gather(
            *(store.add(new(n), claimed=True, unless_opted_out=True) for n in numbers)
        )
    assert splits(logs) == 0
    for number, message in zip(numbers, added, strict=True):
        stored = await store.get(message.id)
        assert stored is not None
        expected = S.REJECTED if number == "+14155552671" else S.SENDING
        assert stored.status == message.status == expected
        assert (stored.error_reason is not None) == (expected == S.REJECTED)


async def test_reports_with_amounts_commit_in_one_batch(
    stores: tuple[MessageStore, OptOutStore],
) -> None:
    """Plivo's reports carry a decimal amount; it must not push the batch onto the slow path."""
    store, _ = stores
    messages = [await store.add(new("+14155552671"), claimed=True) for _ in range(10)]
    outcome = Outcome(units=2, amount=Decimal("0.00500"), error_code="000")
    with capture_logs() as logs:
        results = await asyncio.gather(
            *(store.record(m.id, S.DELIVERED, source="callback", outcome=outcome) for m in messages)
        )
    assert splits(logs) == 0
    assert all(r is not None and r.applied for r in results)
    stored = await store.get(messages[0].id)
    assert stored is not None
    assert (stored.units, stored.amount) == (2, Decimal("0.00500"))


async def test_several_changes_to_one_message_in_one_batch_apply_in_order(
    stores: tuple[MessageStore, OptOutStore],
) -> None:
    store, _ = stores
    message = await store.add(new("+14155552671"), claimed=True)
    results = await asyncio.gather(
        store.record(message.id, S.QUEUED, source="provider"),
        store.record(message.id, S.SENT, source="callback"),
        store.record(message.id, S.QUEUED, source="callback"),
        store.record(message.id, S.DELIVERED, source="callback"),
    )
    assert [r.applied if r else None for r in results] == [True, True, False, True]
    stored = await store.get(message.id)
    assert stored is not None
    assert stored.status == S.DELIVERED


async def test_closing_finishes_what_is_queued_and_refuses_what_comes_after(
    stores: tuple[MessageStore, OptOutStore],
) -> None:
    store, _ = stores
    pending = [asyncio.ensure_future(store.add(new("+14155552671"))) for _ in range(50)]
    await asyncio.sleep(0)
    await store.close()
    done = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 10)
    assert all(not isinstance(d, BaseException) for d in done)
    with pytest.raises(StoreUnavailable):
        await store.add(new("+14155552671"))


async def test_a_wrong_expected_status_is_caught_and_the_change_decided_on_the_real_one(
    stores: tuple[MessageStore, OptOutStore],
) -> None:
    """A report moved the message on before the send's own outcome arrived: no step back."""
    store, _ = stores
    message = await store.add(new("+14155552671"), claimed=True)
    await store.record(message.id, S.SENT, source="callback")
    late = await store.record(message.id, S.QUEUED, source="provider", expected=S.SENDING)
    assert late is not None
    assert not late.applied
    stored = await store.get(message.id)
    assert stored is not None
    assert stored.status == S.SENT


async def test_the_sends_own_outcomes_commit_without_reading_the_rows(
    stores: tuple[MessageStore, OptOutStore],
) -> None:
    """The common case, many sends settling at once, stays one batch."""
    store, _ = stores
    messages = [await store.add(new("+14155552671"), claimed=True) for _ in range(20)]
    with capture_logs() as logs:
        results = await asyncio.gather(
            *(store.record(m.id, S.QUEUED, source="provider", expected=S.SENDING) for m in messages)
        )
    assert splits(logs) == 0
    assert all(r is not None and r.applied for r in results)


async def test_concurrent_writers_settle_a_burst_of_sends_each_exactly_once(
    stores: tuple[MessageStore, OptOutStore],
) -> None:
    """Many sends settling at once, on PostgreSQL across several writers: none lost or doubled."""
    store, _ = stores
    messages = await asyncio.gather(
        *(store.add(new("+14155552671"), claimed=True) for _ in range(200))
    )
    results = await asyncio.gather(
        *(store.record(m.id, S.QUEUED, source="provider", expected=S.SENDING) for m in messages)
    )
    assert all(r is not None and r.applied for r in results)
    stored = await store.list(limit=200)
    assert len(stored) == 200
    assert {m.status for m in stored} == {S.QUEUED}
    one = await store.get(messages[0].id)
    assert one is not None
    assert [e.status for e in one.events] == [S.ACCEPTED, S.SENDING, S.QUEUED]


async def test_a_database_that_cannot_be_reached_fails_the_batch_at_once(tmp_path: Path) -> None:
    """No write-by-write retries against a database that is not there: every waiter gets 503."""
    engine = make_engine(f"sqlite:///{tmp_path / 'missing-folder' / 'smsgate.db'}")
    store = MessageStore(make_sessions(engine))
    try:
        with capture_logs() as logs:
            results = await asyncio.gather(
                *(store.add(new("+14155552671")) for _ in range(20)), return_exceptions=True
            )
        assert all(isinstance(r, StoreUnavailable) for r in results)
        assert splits(logs) == 0
    finally:
        await store.close()
        await engine.dispose()


async def published(engine_url: str) -> dict[tuple[str, str], bool]:
    """Each stored event's published mark, by (message id, status)."""
    from sqlalchemy import select

    from smsgate.db.common import EVENTS

    engine = make_engine(engine_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(EVENTS.c.message_id, EVENTS.c.status, EVENTS.c.published).order_by(
                    EVENTS.c.id
                )
            )
            return {(row.message_id, row.status): bool(row.published) for row in rows}
    finally:
        await engine.dispose()


async def send_and_report(store: MessageStore, message: NewMessage) -> str:
    added = await store.add(message, claimed=True)
    await store.record(added.id, S.QUEUED, source="provider", outcome=Outcome("uuid-" + added.id))
    await store.record(added.id, S.SENT, source="plivo")
    await store.record(added.id, S.SENT, source="plivo")  # a repeat: moves nothing
    return added.id


async def test_with_nobody_listening_status_changes_are_stored_already_published(
    stores: tuple[MessageStore, OptOutStore], migrated: str
) -> None:
    """Issue #14: the fan-out rewrote every event once a second, to mark it published, when
    no endpoint wanted status changes. The writers now store them published in the first
    place, except for a message with a callback_url of its own."""
    from dataclasses import replace

    store, _ = stores
    plain = await send_and_report(store, new("+14155552671"))
    called = await send_and_report(
        store, replace(new("+14155552672"), callback_url="https://app.example.com/hook")
    )
    marks = await published(migrated)
    assert {status: mark for (mid, status), mark in marks.items() if mid == plain} == {
        "accepted": True,
        "sending": True,
        "queued": True,
        "sent": True,
    }
    assert {status: mark for (mid, status), mark in marks.items() if mid == called} == {
        "accepted": False,
        "sending": False,
        "queued": False,
        "sent": True,  # the repeat, which moved nothing, is the last "sent" written
    }


async def test_once_an_endpoint_listens_every_change_waits_for_the_fan_out(
    stores: tuple[MessageStore, OptOutStore], migrated: str
) -> None:
    from smsgate.db.webhooks import WebhookStore

    store, _ = stores
    engine = make_engine(migrated)
    try:
        webhooks = WebhookStore(engine)
        await webhooks.add_endpoint("https://a.example.com", ["opt_out.changed"], None, "s")
        before = await send_and_report(store, new("+14155552671"))
        await webhooks.add_endpoint("https://b.example.com", ["message.status_changed"], None, "s")
        after = await send_and_report(store, new("+14155552672"))
    finally:
        await engine.dispose()
    marks = await published(migrated)
    assert all(mark for (mid, _), mark in marks.items() if mid == before)
    assert [mark for (mid, _), mark in marks.items() if mid == after] == [False] * 3 + [True]
