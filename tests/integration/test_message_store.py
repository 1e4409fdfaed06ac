"""The message store on real SQLite and real PostgreSQL: timelines, claims and pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.rows import NewMessage, Outcome
from smsgate.db.store import MessageStore
from smsgate.domain.message import MessageStatus as S

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def store(migrated: str) -> AsyncIterator[MessageStore]:
    engine = make_engine(migrated)
    store = MessageStore(make_sessions(engine))
    try:
        yield store
    finally:
        await store.close()
        await engine.dispose()


def new(to: str = "+14155552671", text: str = "hello") -> NewMessage:
    return NewMessage(to=to, text=text, encoding="GSM-7", segments=1, provider="plivo")


async def test_a_stored_message_reads_back_as_accepted_with_its_first_event(
    store: MessageStore,
) -> None:
    added = await store.add(new(text="Grüße 👋"))
    message = await store.get(added.id)
    assert message is not None
    assert (message.to, message.text, message.status, message.attempts) == (
        "+14155552671",
        "Grüße 👋",
        S.ACCEPTED,
        0,
    )
    assert message.created_at.tzinfo is not None
    assert [(e.status, e.applied, e.source) for e in message.events] == [(S.ACCEPTED, True, "api")]


async def test_an_unknown_id_reads_as_none(store: MessageStore) -> None:
    assert await store.get("01J0000000000000000000000") is None
    assert await store.record("nope", S.SENT, source="callback") is None


async def test_only_one_of_many_concurrent_claims_wins(store: MessageStore) -> None:
    """The claim is the gate before Plivo: twenty racers, one hand-off."""
    message = await store.add(new())
    wins = await asyncio.gather(*(store.claim(message.id) for _ in range(20)))
    assert wins.count(True) == 1
    claimed = await store.get(message.id)
    assert claimed is not None
    assert (claimed.status, claimed.attempts) == (S.SENDING, 1)
    assert [e.status for e in claimed.events] == [S.ACCEPTED, S.SENDING]


async def test_a_forward_report_moves_the_status_and_stores_plivos_fields(
    store: MessageStore,
) -> None:
    message = await store.add(new())
    await store.claim(message.id)
    outcome = Outcome(provider_message_uuid="uuid-1", units=2, amount=Decimal("0.01000"))
    decision = await store.record(message.id, S.QUEUED, source="provider", outcome=outcome)
    assert decision is not None
    assert decision.applied
    stored = await store.get(message.id)
    assert stored is not None
    assert (stored.status, stored.provider_message_uuid, stored.units, stored.amount) == (
        S.QUEUED,
        "uuid-1",
        2,
        Decimal("0.01000"),
    )
    found = await store.find_by_provider_uuid("uuid-1")
    assert found is not None
    assert found.id == message.id


async def test_late_and_repeated_reports_are_kept_but_never_move_the_status_back(
    store: MessageStore,
) -> None:
    message = await store.add(new())
    await store.claim(message.id)
    await store.record(message.id, S.DELIVERED, source="callback", detail={"Status": "delivered"})
    late = await store.record(
        message.id,
        S.SENT,
        source="callback",
        outcome=Outcome(error_code="30"),
        detail={"Status": "sent"},
    )
    again = await store.record(message.id, S.DELIVERED, source="callback")
    assert late is not None
    assert again is not None
    assert not late.applied
    assert not again.applied
    stored = await store.get(message.id)
    assert stored is not None
    assert stored.status == S.DELIVERED
    assert stored.error_code is None  # fields only travel with a move
    assert [(e.status, e.applied) for e in stored.events] == [
        (S.ACCEPTED, True),
        (S.SENDING, True),
        (S.DELIVERED, True),
        (S.SENT, False),
        (S.DELIVERED, False),
    ]
    assert stored.events[3].detail == {"Status": "sent"}


async def test_two_final_reports_racing_end_in_exactly_one(store: MessageStore) -> None:
    """delivered and failed at once from sent: one wins, the other is recorded unapplied."""
    message = await store.add(new())
    await store.claim(message.id)
    await store.record(message.id, S.SENT, source="callback")
    results = await asyncio.gather(
        *(
            store.record(message.id, status, source="callback")
            for status in [S.DELIVERED, S.FAILED] * 5
        )
    )
    assert sum(1 for r in results if r is not None and r.applied) == 1
    stored = await store.get(message.id)
    assert stored is not None
    assert stored.status in {S.DELIVERED, S.FAILED}
    assert len(stored.events) == 3 + 10


async def test_listing_is_newest_first_filtered_and_paged(store: MessageStore) -> None:
    ids = [(await store.add(new(to=f"+1415555267{n}"))).id for n in range(5)]
    await store.claim(ids[1])
    newest_first = [m.id for m in await store.list()]
    assert newest_first == ids[::-1]
    page = await store.list(limit=2)
    following = await store.list(limit=2, before_id=page[-1].id)
    assert [m.id for m in page + following] == ids[::-1][:4]
    assert [m.id for m in await store.list(status=S.SENDING)] == [ids[1]]
    assert [m.id for m in await store.list(to="+14155552673")] == [ids[3]]
    now = datetime.now(UTC)
    assert len(await store.list(created_after=now - timedelta(minutes=1))) == 5
    assert await store.list(created_before=now - timedelta(minutes=1)) == []
