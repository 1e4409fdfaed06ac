"""Pacing shared by every process: the ``domain.pacing`` schedule, kept in Redis.

One Lua script takes the next slot of the least busy of a sender or a pool's senders
atomically, on Redis's own clock, so workers on several machines space their hand-offs as one
process would. If Redis cannot be reached the
wait raises: the message is not claimed and stays ``accepted``, to be tried again (fail
closed: no pacing means no sending, never sending too fast).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from smsgate.limits.pacing import Paced
from smsgate.limits.redis_client import redis_client
from smsgate.logs import get_logger

log = get_logger("smsgate.pacing")
_HOLD = ":held"  # the suffix of a sender's hold key

# Holds a sender back (a 429's Retry-After). KEYS[1]: the sender's key, KEYS[2]: its hold's.
# ARGV[1]: microseconds from now. No slot is given out before then, and a slot given out
# earlier and waited for is taken again once its waiter sees the hold (``wait_first``).
_HOLD_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local hold = tonumber(ARGV[1])
local value = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now + hold)
local ttl = math.ceil((value - now) / 1000) + 60000
redis.call('SET', KEYS[1], string.format('%.0f', value), 'PX', ttl)
redis.call('SET', KEYS[2], string.format('%.0f', now + hold), 'PX', math.ceil(hold / 1000) + 1000)
return 0
"""

# The least busy of several senders: KEYS are the senders' keys, ARGV[i] the microseconds
# between KEYS[i]'s slots. Takes the earliest next slot among them (the first on a tie), as
# ``domain.pacing.earliest`` does, in one step so no other process can take it meanwhile.
# Returns {the 0-based index of the sender taken, microseconds to wait for its slot}.
_TAKE_FIRST = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local best, best_slot = 1, nil
for i, key in ipairs(KEYS) do
  local slot = math.max(now, tonumber(redis.call('GET', key) or '0'))
  if best_slot == nil or slot < best_slot then best, best_slot = i, slot end
end
local value = best_slot + tonumber(ARGV[best])
local ttl = math.ceil((value - now) / 1000) + 60000
redis.call('SET', KEYS[best], string.format('%.0f', value), 'PX', ttl)
return {best - 1, math.floor(best_slot - now)}
"""

# KEYS[1]: a sender's hold key. Whether a hold is on now: 1 or 0.
_HELD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if now < held then return 1 end
return 0
"""


class RedisPacing:
    """``SenderPacing``'s interface, with the schedule in Redis; a rate of None never waits."""

    def __init__(self, url: str, rate: float | None, namespace: str = "smsgate:pace:") -> None:
        # Waiting for a connection is pacing too: a worker's hand-offs queue for one.
        self._client: aioredis.Redis = redis_client(url, wait=30.0)
        self._interval_us = int(1_000_000 / rate) if rate else 0
        self._namespace = namespace
        self._hold_script: Any = self._client.register_script(_HOLD_SCRIPT)
        self._take_first: Any = self._client.register_script(_TAKE_FIRST)
        self._held: Any = self._client.register_script(_HELD)

    async def wait(self, sender: str, rate: float | None = None) -> bool:
        if not self._interval(rate):
            return False
        _, waited = await self.wait_first([(sender, rate)])
        return waited

    async def wait_first(self, senders: Sequence[Paced], *, wait: bool = True) -> tuple[int, bool]:
        keys = [self._key(key) for key, _ in senders]
        intervals = [self._interval(rate) for _, rate in senders]
        waited = False
        while True:
            found, wait_us = await self._take_first(keys=keys, args=intervals)
            chosen, delay = int(found), int(wait_us)
            waited = waited or delay > 0
            if not wait or delay <= 0:
                return chosen, waited
            await asyncio.sleep(delay / 1_000_000)
            if not int(await self._held(keys=[keys[chosen] + _HOLD])):
                return chosen, waited
            # A 429 came for this sender, from any process, while its slot was waited for.

    def _interval(self, rate: float | None) -> int:
        return int(1_000_000 / rate) if rate else self._interval_us

    def hold(self, sender: str, seconds: float) -> None:
        """Hold the sender back everywhere; best effort, in the background."""
        task = asyncio.get_running_loop().create_task(self._hold(sender, seconds))
        task.add_done_callback(_log_failure)

    async def _hold(self, sender: str, seconds: float) -> None:
        key = self._key(sender)
        await self._hold_script(keys=[key, key + _HOLD], args=[int(seconds * 1e6)])

    async def aclose(self) -> None:
        await self._client.aclose()

    def _key(self, sender: str) -> str:
        return f"{self._namespace}{sender or 'default'}"


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("pacing_hold_failed", error=type(error).__name__)
