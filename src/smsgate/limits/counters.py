"""The counters every limit is kept in, and the in-memory ones for a single process.

Three kinds, all decided in one step so that a refused request changes nothing:

- a **token bucket** per caller for requests (``take``);
- a **sliding window** per destination number: at most N messages in any window (``admit``);
- **per-day totals** (UTC days) per caller for messages, and for the whole service for the
  estimated spend in micro-units of the account currency (``admit``).

``MemoryCounters`` runs on the event loop without awaiting between reading and writing, so
each call is atomic in its process. ``RedisCounters`` does the same in Lua, shared by every
process. Both implement ``Counters``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from smsgate.domain.rates import Rate

MICROS = 100_000  # money is counted in 1/100,000 of the currency, the price table's precision


@dataclass(frozen=True, slots=True)
class Ask:
    """What one request would add; admitted as a whole, or (rows) in part."""

    day: str  # the UTC day the totals count in, 2026-11-28
    destinations: list[str]  # one per row, E.164; empty when no row is destination-limited
    window: Rate | None  # the destination limit, or None
    costs: list[int]  # micro-units per row (0 when unpriced or not counted)
    caller: str | None  # whose daily total counts the rows; None: not counted
    daily_limit: int | None
    spend_limit: int | None  # micro-units; None: not counted


@dataclass(frozen=True, slots=True)
class Admitted:
    # Rows refused by their destination's window: index -> seconds until it has room.
    refused: dict[int, float] = field(default_factory=dict)
    # Set when the whole request was refused (nothing counted): "daily" or "spend".
    over: str | None = None


class CountersUnavailable(Exception):
    """The shared counters could not be reached; ``kind`` names the underlying error's type
    (for logs: the error's text may hold the store's address)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the limit counters are unreachable ({kind})")
        self.kind = kind


class Counters(Protocol):
    """Every method may raise CountersUnavailable when its store cannot be reached."""

    async def take(self, caller: str, rate: Rate) -> float:
        """Take a request token: 0.0 if there was one, else the seconds until there is."""
        ...

    async def admit(self, ask: Ask) -> Admitted: ...

    async def seed(self, day: str, messages: dict[str, int], spend: int) -> None:
        """Start the day's totals from what the database holds, unless already counting."""
        ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class MemoryCounters:
    """Counters in this process; several processes each keep their own."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._windows: dict[str, deque[float]] = {}
        self._totals: dict[tuple[str, str], int] = {}  # (day, caller or "$spend") -> total
        self._next_sweep = 0.0

    async def take(self, caller: str, rate: Rate) -> float:
        now = self._clock()
        self._sweep(now)
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = self._buckets[caller] = _Bucket(float(rate.count), now)
        refill = (now - bucket.at) * rate.per_second
        bucket.tokens, bucket.at = min(float(rate.count), bucket.tokens + refill), now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate.per_second

    async def admit(self, ask: Ask) -> Admitted:
        now = self._clock()
        self._sweep(now)
        refused: dict[int, float] = {}
        taken: dict[str, int] = {}  # rows of this ask per number
        count = cost = 0
        for index, cost_of_row in enumerate(ask.costs):
            if ask.window is not None and ask.destinations:
                number = ask.destinations[index]
                log = self._window(number, now, ask.window)
                used = len(log) + taken.get(number, 0)
                if used >= ask.window.count:
                    oldest = log[0] if log else now  # else: full with this request's rows
                    refused[index] = oldest + ask.window.seconds - now
                    continue
                taken[number] = taken.get(number, 0) + 1
            count += 1
            cost += cost_of_row
        daily = self._totals.get((ask.day, ask.caller or ""), 0) + count
        if (
            count
            and ask.caller is not None
            and ask.daily_limit is not None
            and daily > ask.daily_limit
        ):
            return Admitted(refused, over="daily")
        spent = self._totals.get((ask.day, "$spend"), 0) + cost
        if ask.spend_limit is not None and cost and spent > ask.spend_limit:
            return Admitted(refused, over="spend")
        for number, times in taken.items():
            self._windows.setdefault(number, deque()).extend([now] * times)
        if ask.caller is not None and count:
            self._add(ask.day, ask.caller, count)
        if cost:
            self._add(ask.day, "$spend", cost)
        return Admitted(refused)

    async def seed(self, day: str, messages: dict[str, int], spend: int) -> None:
        for caller, count in messages.items():
            self._totals.setdefault((day, caller), count)
        self._totals.setdefault((day, "$spend"), spend)

    async def aclose(self) -> None:
        return None

    def _add(self, day: str, name: str, amount: int) -> None:
        self._totals[(day, name)] = self._totals.get((day, name), 0) + amount

    def _window(self, number: str, now: float, window: Rate) -> deque[float]:
        log = self._windows.get(number)
        if log is None:
            return deque()
        while log and log[0] <= now - window.seconds:
            log.popleft()
        return log

    def _sweep(self, now: float) -> None:
        """Forget what can no longer refuse anything, once a minute, so memory stays bounded
        by the numbers and callers of the last window."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + 60
        longest = 86400.0
        for number in [n for n, log in self._windows.items() if not log or log[-1] < now - longest]:
            del self._windows[number]
        for caller in [c for c, b in self._buckets.items() if now - b.at > 3600]:
            del self._buckets[caller]
        days = sorted({day for day, _ in self._totals})
        for day in days[:-2]:  # keep today and yesterday (a request straddling midnight)
            for key in [k for k in self._totals if k[0] == day]:
                del self._totals[key]
