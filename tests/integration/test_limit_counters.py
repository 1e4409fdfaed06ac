"""The counters behind the limits, held to one contract in memory and in a real Redis.

Each limit is tested at its edge: N allowed, N+1 refused, and a refused request counts
nothing. Redis keeps time by its own clock, so the windows here are real seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest

from smsgate.api.errors import problem_for
from smsgate.domain.access import Principal, Scope
from smsgate.domain.phone import parse_phone_number
from smsgate.domain.rates import Rate
from smsgate.limits.counters import Ask, Counters, CountersUnavailable, MemoryCounters
from smsgate.limits.redis_counters import RedisCounters
from smsgate.services.limits import (
    Candidate,
    LimitExceeded,
    Limits,
    LimitSettings,
    LimitsUnavailable,
)
from tests.support.redis import PrivateRedis, private_redis
from tests.support.servers import free_port

pytestmark = pytest.mark.anyio
DAY = "2026-11-28"
A, B = "+14155550101", "+14155550102"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
async def counters(
    request: pytest.FixtureRequest, redis_server: PrivateRedis
) -> AsyncIterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    # A namespace per test: the server is shared by the module.
    made = RedisCounters(redis_server.url, namespace=f"test:{id(request)}:")
    yield made
    await made.aclose()


def ask(
    destinations: list[str] | None = None,
    *,
    window: Rate | None = None,
    costs: list[int] | None = None,
    caller: str | None = "key1",
    daily_limit: int | None = None,
    spend_limit: int | None = None,
    day: str = DAY,
) -> Ask:
    rows = destinations or [A]
    return Ask(
        day=day,
        destinations=rows if window else [],
        window=window,
        costs=costs or [0] * len(rows),
        caller=caller,
        daily_limit=daily_limit,
        spend_limit=spend_limit,
    )


async def test_the_token_bucket_allows_its_size_then_refuses(counters: Counters) -> None:
    rate = Rate(3, 60)
    waits = [await counters.take("key1", rate) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 19 < waits[3] <= 20  # one token comes back every 20 s
    assert await counters.take("key2", rate) == 0.0  # another key has its own bucket


async def test_the_token_bucket_refills_with_time(counters: Counters) -> None:
    rate = Rate(2, 1)
    assert [await counters.take("key1", rate) for _ in range(3)][2] > 0
    await asyncio.sleep(0.6)
    assert await counters.take("key1", rate) == 0.0


async def test_a_destination_window_allows_n_then_refuses_until_it_slides(
    counters: Counters,
) -> None:
    window = Rate(2, 1)
    first = await counters.admit(ask([A, B], window=window))
    second = await counters.admit(ask([A], window=window))
    assert first.refused == {}
    assert second.refused == {}
    third = await counters.admit(ask([A, B], window=window))
    assert list(third.refused) == [0]  # A is full; B still has room
    assert 0 < third.refused[0] <= 1
    await asyncio.sleep(1.05)
    assert (await counters.admit(ask([A], window=window))).refused == {}


async def test_the_rows_of_one_request_count_against_each_other(counters: Counters) -> None:
    refused = (await counters.admit(ask([A, A, A], window=Rate(2, 60)))).refused
    assert list(refused) == [2]


async def test_the_daily_total_allows_n_and_a_refused_request_counts_nothing(
    counters: Counters,
) -> None:
    window = Rate(5, 60)
    assert (await counters.admit(ask([A, B], window=window, daily_limit=3))).over is None
    over = await counters.admit(ask([A, B], window=window, daily_limit=3))
    assert over.over == "daily"
    # Nothing of the refused request was counted: one more fits, in the day and for A.
    assert (await counters.admit(ask([A], window=window, daily_limit=3))).over is None
    assert (await counters.admit(ask([B], daily_limit=3))).over == "daily"
    assert (await counters.admit(ask([B], daily_limit=3, caller="key2"))).over is None
    assert (await counters.admit(ask([B], daily_limit=3, day="2026-11-29"))).over is None


async def test_the_spend_allows_up_to_the_limit_and_not_a_micro_more(counters: Counters) -> None:
    assert (await counters.admit(ask([A], costs=[60], spend_limit=100))).over is None
    assert (await counters.admit(ask([A], costs=[41], spend_limit=100))).over == "spend"
    assert (await counters.admit(ask([A], costs=[40], spend_limit=100))).over is None
    assert (await counters.admit(ask([A], costs=[1], spend_limit=100))).over == "spend"


async def test_seeding_starts_the_day_but_never_lowers_a_running_count(
    counters: Counters,
) -> None:
    await counters.seed(DAY, {"key1": 4}, spend=90)
    assert (await counters.admit(ask([A], daily_limit=5))).over is None
    assert (await counters.admit(ask([A], daily_limit=5))).over == "daily"
    await counters.seed(DAY, {"key1": 0}, spend=0)  # a second process starting
    assert (await counters.admit(ask([A], daily_limit=5))).over == "daily"
    assert (await counters.admit(ask([A], costs=[20], spend_limit=100))).over == "spend"


# The Limits service: which rules apply to whom, and what a refusal says.

LIVE = Principal("key1", "live", frozenset({Scope.SEND}))
TEST = Principal("key2", "test", frozenset({Scope.SEND}), test=True)
US = parse_phone_number("+14155550101")
US2 = parse_phone_number("+14155550102")
CA = parse_phone_number("+16135550123")


def limits(counters: Counters, **settings: object) -> Limits:
    return Limits(LimitSettings(**settings), counters)  # type: ignore[arg-type]


async def test_the_request_limit_refuses_with_retry_after(counters: Counters) -> None:
    service = limits(counters, requests=Rate(2, 60))
    await service.check_request(LIVE)
    await service.check_request(LIVE)
    with pytest.raises(LimitExceeded) as caught:
        await service.check_request(LIVE)
    refusal = caught.value
    assert (status_of(refusal), refusal.code, refusal.retry_after) == (
        429,
        "rate_limit_exceeded",
        30,
    )
    assert "2/minute" in refusal.message


async def test_a_destination_refusal_names_the_masked_number(counters: Counters) -> None:
    service = limits(counters, destinations=Rate(1, 3600))
    assert (await service.admit(LIVE, [Candidate(US, None)])).refused == {}
    refused = (await service.admit(LIVE, [Candidate(US, None), Candidate(US2, None)])).refused
    assert list(refused) == [0]
    assert refused[0].code == "destination_limit_exceeded"
    assert refused[0].retry_after is not None
    assert 3590 < refused[0].retry_after <= 3600
    assert "+1415***0101" in refused[0].message
    assert "4155550101" not in refused[0].message


async def test_daily_and_spend_refusals_wait_until_midnight_utc(counters: Counters) -> None:
    service = limits(counters, daily_messages=1, daily_spend=Decimal("0.01"))
    await service.admit(LIVE, [Candidate(US, Decimal("0.0035"))])
    with pytest.raises(LimitExceeded) as daily:
        await service.admit(LIVE, [Candidate(US, Decimal("0.0035"))])
    assert (status_of(daily.value), daily.value.code) == (429, "daily_limit_exceeded")
    assert daily.value.retry_after is not None
    assert 0 < daily.value.retry_after <= 86400
    other = Principal("key3", "other", frozenset({Scope.SEND}))
    await service.admit(other, [Candidate(US2, Decimal("0.0035"))])  # 0.0070 spent
    with pytest.raises(LimitExceeded) as spend:
        await service.admit(
            Principal("key4", "x", frozenset({Scope.SEND})), [Candidate(US, Decimal("0.0035"))]
        )
    assert (status_of(spend.value), spend.value.code) == (402, "spend_limit_reached")


async def test_with_a_spend_limit_an_unpriced_country_is_refused(counters: Counters) -> None:
    service = limits(counters, daily_spend=Decimal("1"))
    refused = await service.admit(LIVE, [Candidate(CA, None), Candidate(US, Decimal("0.01"))])
    assert list(refused.refused) == [0]
    assert (status_of(refused.refused[0]), refused.refused[0].code) == (402, "price_unknown")


async def test_test_keys_count_per_day_but_never_against_destinations_or_spend(
    counters: Counters,
) -> None:
    service = limits(
        counters, destinations=Rate(1, 3600), daily_messages=3, daily_spend=Decimal("0.001")
    )
    for _ in range(3):  # the same number, over the spend: a test key reaches no phone
        assert (await service.admit(TEST, [Candidate(CA, None)])).refused == {}
    with pytest.raises(LimitExceeded) as caught:
        await service.admit(TEST, [Candidate(US, None)])
    assert caught.value.code == "daily_limit_exceeded"
    # Live sends were not counted against by the test key's.
    assert (await service.admit(LIVE, [Candidate(US, Decimal("0.0005"))])).refused == {}


async def test_an_unreachable_redis_surfaces_as_counters_unavailable_from_every_call() -> None:
    """Redis's own errors stay inside limits/: the use case sees one error of smsgate's."""
    dead = RedisCounters(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    ask = Ask(
        day="2026-01-01",
        destinations=[],
        window=None,
        costs=[0],
        caller="k",
        daily_limit=1,
        spend_limit=None,
    )
    try:
        with pytest.raises(CountersUnavailable) as caught:
            await dead.take("k", Rate(5, 60))
        assert caught.value.kind == "ConnectionError"
        with pytest.raises(CountersUnavailable):
            await dead.admit(ask)
        with pytest.raises(CountersUnavailable):
            await dead.seed("2026-01-01", {"k": 1}, 0)
    finally:
        await dead.aclose()


async def test_without_redis_the_limits_fail_closed_or_open_as_told() -> None:
    dead = RedisCounters(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    try:
        closed = limits(dead, requests=Rate(5, 60), daily_messages=10)
        with pytest.raises(LimitsUnavailable):
            await closed.check_request(LIVE)
        with pytest.raises(LimitsUnavailable):
            await closed.admit(LIVE, [Candidate(US, None)])
        opened = limits(dead, requests=Rate(5, 60), daily_messages=10, fail_open=True)
        await opened.check_request(LIVE)
        assert (await opened.admit(LIVE, [Candidate(US, None)])).refused == {}
    finally:
        await dead.aclose()


def status_of(refusal: Exception) -> int:
    """The HTTP status the API answers a refusal with (the one table, in api/errors.py)."""
    problem = problem_for(refusal)
    assert problem is not None
    return problem.status
