"""Fifty requests at once with one Idempotency-Key: Plivo (the emulator) is called once.

Real uvicorn, real HTTP, the real Plivo adapter, and both databases: the guarantee rests on
the database's primary key, so it is tested on each.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from smsgate.api.app import create_app
from smsgate.config import Settings
from smsgate.db.migrate import upgrade
from smsgate.emulator import EmulatorServer
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration


async def fire(url: str, count: int, key: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(
            *(
                client.post(
                    f"{url}/api/v1/messages",
                    json={"to": "+14155552671", "text": "Your code is 123456"},
                    headers={"Idempotency-Key": key},
                )
                for _ in range(count)
            )
        )


def test_fifty_concurrent_duplicates_make_one_plivo_call(
    plivo_settings: Settings, emulator: EmulatorServer, database_url: str
) -> None:
    upgrade(database_url)
    settings = plivo_settings.model_copy(update={"database_url": database_url})
    emulator.set_faults(latency_ms=300)  # the first send is still in flight when the rest land
    with serve_in_thread(create_app(settings)) as url:
        responses = asyncio.run(fire(url, 50, "order-4711"))
    sends = [r for r in emulator.requests() if r.method == "POST"]
    assert len(sends) == 1
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
