"""Bursts past redis-py's default pool of 100 connections wait for one instead of failing
(issue #13, item 11): a paced worker starts every hand-off it holds at once, and a burst of
requests checks its limits at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from smsgate.domain.rates import Rate
from smsgate.limits.redis_counters import RedisCounters
from smsgate.limits.redis_pacing import RedisPacing
from tests.support.redis import PrivateRedis, private_redis

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
BURST = 400  # four times redis-py's default cap, and far over ours


@pytest.fixture
def redis() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


async def test_a_paced_burst_takes_every_slot_in_turn_without_failing(redis: PrivateRedis) -> None:
    pacing = RedisPacing(redis.url, rate=2_000.0)  # 0.5 ms apart: the burst spans 200 ms
    try:
        waited = await asyncio.gather(*(pacing.wait("+14155550100") for _ in range(BURST)))
    finally:
        await pacing.aclose()
    assert len(waited) == BURST
    assert sum(waited) > BURST // 2  # the slots were spaced: most had to wait for theirs


async def test_a_burst_of_limit_checks_is_answered_in_full(redis: PrivateRedis) -> None:
    counters = RedisCounters(redis.url)
    try:
        waits = await asyncio.gather(
            *(counters.take(f"key-{n % 7}", Rate(1_000_000, 60)) for n in range(BURST))
        )
    finally:
        await counters.aclose()
    assert waits == [0.0] * BURST
