"""``WebhookStore.counts_by_state``: pending and dead deliveries per endpoint, in one query,
right above the 1,000 rows that ``webhooks list`` used to fetch per endpoint and state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.db.webhooks import DeliveryCounts, WebhookStore
from tests.support.webhook_rows import add_deliveries, engine_for

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def engine(migrated: str) -> AsyncIterator[AsyncEngine]:
    async with engine_for(migrated) as engine:
        yield engine


async def deliveries(
    engine: AsyncEngine, tag: str, endpoint_id: str | None, **by_state: int
) -> None:
    states = [state for state, n in by_state.items() for _ in range(n)]
    await add_deliveries(engine, tag, endpoint_id, states, at=NOW)


async def test_pending_and_dead_are_counted_per_endpoint_past_a_thousand(
    engine: AsyncEngine,
) -> None:
    store = WebhookStore(engine, clock=lambda: NOW)
    busy = await store.add_endpoint("https://a.example.com/h", ["opt_out.changed"], None, "s1")
    quiet = await store.add_endpoint("https://b.example.com/h", ["opt_out.changed"], None, "s2")
    done = await store.add_endpoint("https://c.example.com/h", ["opt_out.changed"], None, "s3")
    gone = await store.add_endpoint("https://d.example.com/h", ["opt_out.changed"], None, "s4")
    await deliveries(engine, "a", busy.id, pending=1204, dead=1001, delivered=7)
    await deliveries(engine, "b", quiet.id, dead=3)
    await deliveries(engine, "c", done.id, delivered=5)
    await deliveries(engine, "d", gone.id, pending=2)
    await deliveries(engine, "e", None, pending=4, dead=4)  # a message's own callback_url
    assert await store.remove_endpoint(gone.id)

    counts = await store.counts_by_state()

    assert counts == {
        busy.id: DeliveryCounts(pending=1204, dead=1001),
        quiet.id: DeliveryCounts(pending=0, dead=3),
    }
    # An endpoint with neither, like one removed, is left out: zero of each.
    assert counts.get(done.id, DeliveryCounts()) == DeliveryCounts(0, 0)
