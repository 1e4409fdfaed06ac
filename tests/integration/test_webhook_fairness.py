"""Claiming deliveries is fair per endpoint: a hanging endpoint's backlog of old deliveries
cannot starve the others (issue #13, item 9).

First at the store, on SQLite and PostgreSQL: the query itself offers at most the per-endpoint
cap of each endpoint's rows. Then end to end: a served smsgate, a receiver that accepts and
never answers holding thousands of due deliveries, and a healthy receiver that still gets
every new event within seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.config import ProviderName, Settings
from smsgate.db.webhooks import WebhookStore
from tests.conftest import SettingsFactory
from tests.integration.test_webhooks import events, register, send, smsgate
from tests.support.receiver import Receiver, running_receiver
from tests.support.webhook_rows import add_deliveries, engine_for

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


async def backlog(
    engine: AsyncEngine, tag: str, endpoint_id: str, url: str, count: int, due: datetime
) -> None:
    """``count`` pending deliveries to the endpoint, all due at ``due``."""
    await add_deliveries(engine, tag, endpoint_id, ["pending"] * count, at=due, url=url)


@pytest.fixture
async def engine(migrated: str) -> AsyncIterator[AsyncEngine]:
    async with engine_for(migrated) as engine:
        yield engine


@pytest.mark.anyio
async def test_an_endpoint_at_its_cap_with_thousands_due_leaves_the_claims_to_others(
    engine: AsyncEngine,
) -> None:
    store = WebhookStore(engine, clock=lambda: NOW)
    hanging = await store.add_endpoint("https://h.example.com/h", ["opt_out.changed"], None, "s")
    healthy = await store.add_endpoint("https://a.example.com/h", ["opt_out.changed"], None, "s")
    await backlog(engine, "h", hanging.id, hanging.url, 3000, NOW - timedelta(hours=1))
    await backlog(engine, "a", healthy.id, healthy.url, 3, NOW - timedelta(seconds=1))

    claimed = await store.claim_due(16, LEASE, per_target=4, busy={hanging.id: 4})

    assert [d.endpoint_id for d in claimed] == [healthy.id] * 3


@pytest.mark.anyio
async def test_each_endpoint_offers_at_most_its_cap_oldest_first(engine: AsyncEngine) -> None:
    store = WebhookStore(engine, clock=lambda: NOW)
    hanging = await store.add_endpoint("https://h.example.com/h", ["opt_out.changed"], None, "s")
    healthy = await store.add_endpoint("https://a.example.com/h", ["opt_out.changed"], None, "s")
    await backlog(engine, "h", hanging.id, hanging.url, 3000, NOW - timedelta(hours=1))
    await backlog(engine, "a", healthy.id, healthy.url, 6, NOW - timedelta(seconds=1))

    claimed = await store.claim_due(16, LEASE, per_target=4, busy={hanging.id: 1})

    by_endpoint = [d.endpoint_id for d in claimed]
    assert by_endpoint.count(hanging.id) == 3  # its cap, less the one in flight
    assert by_endpoint.count(healthy.id) == 4
    # The hanging endpoint's oldest rows, in order: fairness does not reorder a backlog.
    assert [d.id for d in claimed if d.endpoint_id == hanging.id] == [f"h{n:025}" for n in range(3)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def test_a_hanging_endpoints_backlog_does_not_stop_another_endpoints_deliveries(
    make_settings: SettingsFactory, receiver: Receiver
) -> None:
    settings: Settings = make_settings(
        provider=ProviderName.SANDBOX,
        webhooks_allow_private=True,
        webhook_timeout=1.0,
        webhook_retry_base=0.2,
        callback_secret=SecretStr("whsec_callbacks"),
    )
    with smsgate(settings) as url:
        stuck = receiver.answer("/hangs", 200, delay=30.0)  # accepts, then never answers
        hanging = register(url, stuck, ["opt_out.changed"])
        old = datetime.now(UTC) - timedelta(hours=1)

        async def fill() -> None:
            async with engine_for(settings.database_url) as engine:
                await backlog(engine, "h", hanging["id"], stuck, 3000, old)

        asyncio.run(fill())
        healthy = register(url, receiver.answer("/healthy", 200), ["message.status_changed"])
        started = time.monotonic()
        for n in range(3):
            send(url, f"+1415555030{n}")
        # 3 messages x 5 changes each, all delivered within seconds, past the backlog.
        posts = receiver.wait_for("/healthy", 15, seconds=10)
        assert posts[-1].at - started < 8.0
        assert len(events(posts, healthy["secret"])) == 15
        # And the hanging endpoint is still being tried: it is capped, not dropped.
        assert receiver.at("/hangs")
        answer = httpx.get(f"{url}/api/v1/webhooks", timeout=10)
        assert answer.status_code == 200
