"""``Counters`` in Redis, shared by every process: each call is one Lua script, on Redis's clock.

Keys (under ``smsgate:limits:``): ``rate:<caller>`` a hash (tokens, time), ``dest:<number>`` a
sorted set of send times, ``day:<day>:<caller>`` and ``day:<day>:$spend`` integers. Every key
expires once it can no longer refuse anything, so Redis holds only the live windows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from smsgate.domain.rates import Rate
from smsgate.limits.counters import Admitted, Ask, CountersUnavailable
from smsgate.limits.redis_client import redis_client

# KEYS[1]: the caller's bucket. ARGV: capacity, period in ms. Returns the ms to wait, as text
# (Lua numbers would come back truncated to integers).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local capacity = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * capacity / period)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) * period / capacity end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
           'at', string.format('%.3f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(period) + 1000)
return string.format('%.3f', wait)
"""

# KEYS[1]: the caller's day total, KEYS[2]: the day's spend, KEYS[3..]: one destination per
# row (none when destinations are not limited). ARGV: window ms (0: off), window count,
# daily limit (-1: off), spend limit (-1: off), seconds the day keys live, a unique tag,
# then each row's cost. Returns {verdict, refused...} where refused is index, ms pairs.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local allowed = tonumber(ARGV[2])
local daily_limit = tonumber(ARGV[3])
local spend_limit = tonumber(ARGV[4])
local day_ttl = tonumber(ARGV[5])
local tag = ARGV[6]
local rows = #ARGV - 6
local result = {'ok'}
local taken = {}
local pending = {}
local count = 0
local cost = 0
for i = 1, rows do
  local ok = true
  if window > 0 then
    local key = KEYS[2 + i]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    local used = redis.call('ZCARD', key) + (pending[key] or 0)
    if used >= allowed then
      ok = false
      local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      local wait = window
      if oldest[2] then wait = tonumber(oldest[2]) + window - now end
      table.insert(result, i - 1)
      table.insert(result, wait)
    else
      pending[key] = (pending[key] or 0) + 1
      table.insert(taken, i)
    end
  end
  if ok then
    count = count + 1
    cost = cost + tonumber(ARGV[6 + i])
  end
end
if daily_limit >= 0 and count > 0 then
  if tonumber(redis.call('GET', KEYS[1]) or '0') + count > daily_limit then
    result[1] = 'daily'
    return result
  end
end
if spend_limit >= 0 and cost > 0 then
  if tonumber(redis.call('GET', KEYS[2]) or '0') + cost > spend_limit then
    result[1] = 'spend'
    return result
  end
end
for _, i in ipairs(taken) do
  redis.call('ZADD', KEYS[2 + i], now, tag .. ':' .. i)
  redis.call('PEXPIRE', KEYS[2 + i], window)
end
if daily_limit >= 0 and count > 0 then
  redis.call('INCRBY', KEYS[1], count)
  redis.call('EXPIRE', KEYS[1], day_ttl)
end
if cost > 0 then
  redis.call('INCRBY', KEYS[2], cost)
  redis.call('EXPIRE', KEYS[2], day_ttl)
end
return result
"""

_DAY_TTL = 2 * 86400  # today's totals, plus a margin for a request straddling midnight


class RedisCounters:
    def __init__(self, url: str, namespace: str = "smsgate:limits:", timeout: float = 2.0) -> None:
        # A short timeout, for a connection too: a request waits on this before it is answered.
        self._client: aioredis.Redis = redis_client(url, wait=timeout, timeout=timeout)
        self._ns = namespace
        self._take: Any = self._client.register_script(_TAKE)
        self._admit: Any = self._client.register_script(_ADMIT)

    async def take(self, caller: str, rate: Rate) -> float:
        with _translated():
            wait_ms = await self._take(
                keys=[f"{self._ns}rate:{caller}"], args=[rate.count, rate.seconds * 1000]
            )
        return float(wait_ms) / 1000

    async def admit(self, ask: Ask) -> Admitted:
        window = ask.window
        keys = [self._day_key(ask.day, ask.caller or "-"), self._day_key(ask.day, "$spend")]
        if window is not None and ask.destinations:
            keys += [f"{self._ns}dest:{number}" for number in ask.destinations]
        else:
            window = None
        args: list[object] = [
            window.seconds * 1000 if window else 0,
            window.count if window else 0,
            ask.daily_limit if ask.caller is not None and ask.daily_limit is not None else -1,
            ask.spend_limit if ask.spend_limit is not None else -1,
            _DAY_TTL,
            uuid.uuid4().hex,
            *ask.costs,
        ]
        with _translated():
            reply = await self._admit(keys=keys, args=args)
        verdict = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        pairs = reply[1:]
        refused = {int(pairs[i]): int(pairs[i + 1]) / 1000 for i in range(0, len(pairs), 2)}
        return Admitted(refused, over=None if verdict == "ok" else verdict)

    async def seed(self, day: str, messages: dict[str, int], spend: int) -> None:
        with _translated():
            async with self._client.pipeline(transaction=False) as pipe:
                for caller, count in messages.items():
                    pipe.set(self._day_key(day, caller), count, nx=True, ex=_DAY_TTL)
                pipe.set(self._day_key(day, "$spend"), spend, nx=True, ex=_DAY_TTL)
                await pipe.execute()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _day_key(self, day: str, name: str) -> str:
        return f"{self._ns}day:{day}:{name}"


@contextmanager
def _translated() -> Iterator[None]:
    """Redis's errors, and the socket errors it lets through, as CountersUnavailable."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise CountersUnavailable(type(exc).__name__) from exc
