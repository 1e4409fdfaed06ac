"""Webhook deliveries written straight into the tables, in bulk, for tests that need thousands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.db.engine import make_engine
from smsgate.db.webhook_rows import DELIVERIES, WEBHOOK_EVENTS


@asynccontextmanager
async def engine_for(url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def add_deliveries(
    engine: AsyncEngine,
    tag: str,
    endpoint_id: str | None,
    states: list[str],
    *,
    at: datetime,
    url: str = "https://app.example.com/hook",
) -> None:
    """One delivery per state given, each of its own event, to the endpoint (None: a message's
    callback_url), all due and made at ``at``; ``tag`` (a letter) keeps their ids apart from
    other calls'."""
    events = [
        {
            "id": f"evt_{tag}{n:06}",
            "type": "opt_out.changed",
            "occurred_at": at,
            "message_id": None,
            "body": "{}",
            "created_at": at,
        }
        for n in range(len(states))
    ]
    deliveries = [
        {
            "id": f"{tag}{n:025}",
            "event_id": f"evt_{tag}{n:06}",
            "endpoint_id": endpoint_id,
            "url": url,
            "state": state,
            "attempts": 1,
            "next_attempt_at": at,
            "last_status": None,
            "last_error": None,
            "created_at": at,
            "updated_at": at,
        }
        for n, state in enumerate(states)
    ]
    async with engine.begin() as connection:
        for start in range(0, len(states), 500):
            await connection.execute(insert(WEBHOOK_EVENTS), events[start : start + 500])
            await connection.execute(insert(DELIVERIES), deliveries[start : start + 500])
