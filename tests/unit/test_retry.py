"""The retry plan for queued hand-offs that sent nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from smsgate.domain.retry import RetryPlan

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PLAN = RetryPlan(
    max_attempts=5,
    max_age=timedelta(hours=1),
    base=timedelta(seconds=2),
    cap=timedelta(minutes=5),
)


def after(attempts: int, seed: int = 1, **kwargs: object) -> datetime | None:
    return PLAN.next_attempt(
        attempts=attempts,
        created_at=T0,
        now=T0,
        rng=random.Random(seed),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("attempts", "ceiling_s"), [(1, 2), (2, 4), (3, 8), (4, 16)])
def test_the_wait_is_jittered_below_an_exponential_ceiling(attempts: int, ceiling_s: int) -> None:
    waits = {after(attempts, seed) for seed in range(200)}
    assert all(w is not None and T0 <= w <= T0 + timedelta(seconds=ceiling_s) for w in waits)
    assert len(waits) > 150  # spread out, not one value: a crowd does not come back at once


def test_the_ceiling_stops_growing_at_the_cap() -> None:
    plan = RetryPlan(max_attempts=50, max_age=timedelta(days=1))
    waits = [
        plan.next_attempt(attempts=30, created_at=T0, now=T0, rng=random.Random(s))
        for s in range(100)
    ]
    assert max(w for w in waits if w is not None) <= T0 + timedelta(minutes=5)


def test_no_retry_after_the_last_attempt() -> None:
    assert after(5) is None
    assert after(4) is not None


def test_no_retry_that_would_fall_past_the_maximum_age() -> None:
    late = T0 + timedelta(minutes=59, seconds=59)
    assert (
        PLAN.next_attempt(
            attempts=1,
            created_at=T0,
            now=late,
            rng=random.Random(1),
            not_before=timedelta(seconds=2),
        )
        is None
    )


def test_the_providers_retry_after_is_a_floor() -> None:
    moment = after(1, not_before=timedelta(seconds=30))
    assert moment == T0 + timedelta(seconds=30)
