"""The abuse limits, applied before anything is stored: a refused request writes nothing.

An SMS endpoint spends money on every request, so a leaked key or a bot must be capped:

- **requests per key**: a token bucket (``SMSGATE_RATE_LIMIT``, 60/minute), 429
  ``rate_limit_exceeded``;
- **messages per destination number**: at most N in any window (``SMSGATE_DESTINATION_LIMIT``,
  5/hour) against SMS pumping and message loops, 429 ``destination_limit_exceeded`` (in a
  batch, that row is refused and the others go on);
- **messages per key per UTC day** (``SMSGATE_DAILY_MESSAGE_LIMIT``), 429
  ``daily_limit_exceeded``;
- **estimated spend per UTC day** for the whole service (``SMSGATE_DAILY_SPEND_LIMIT``), from the
  price table's upper-bound estimate, 402 ``spend_limit_reached``. With a spend limit, a
  number in a country the price table does not price cannot be counted, so it is refused,
  402 ``price_unknown``.

Test keys reach no phone and cost nothing: they count against their request and daily
limits, never against destinations or spend. Without API keys (an open smsgate answers only
this machine) the two per-key limits do not apply; the destination and spend limits do.

With Redis the counters are shared by every process; otherwise each process counts alone. If
Redis cannot be reached, requests are refused (503 ``limits_unavailable``): an outage must
not open the gates. ``SMSGATE_LIMITS_FAIL_OPEN=true`` lets them through unlimited instead,
for a service that prefers sending to safety.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import TypeVar

from smsgate.domain.access import Principal
from smsgate.domain.errors import DomainError
from smsgate.domain.phone import PhoneNumber
from smsgate.domain.rates import Rate
from smsgate.limits.counters import MICROS, Admitted, Ask, Counters, CountersUnavailable
from smsgate.logs import get_logger

log = get_logger("smsgate.limits")
T = TypeVar("T")


class LimitExceeded(DomainError):
    """A limit refuses the request; ``retry_after`` in seconds when waiting helps."""

    def __init__(self, message: str, *, code: str, retry_after: float | None):
        super().__init__(message, code=code)
        self.retry_after = None if retry_after is None else max(1, math.ceil(retry_after))


class LimitsUnavailable(DomainError):
    code = "limits_unavailable"


@dataclass(frozen=True, slots=True)
class LimitSettings:
    requests: Rate | None = None
    destinations: Rate | None = None
    daily_messages: int | None = None
    daily_spend: Decimal | None = None
    fail_open: bool = False


@dataclass(frozen=True, slots=True)
class Candidate:
    """One message a request asks for, as the limits see it."""

    number: PhoneNumber
    cost: Decimal | None  # the estimate; None when the price table has no rate


@dataclass(frozen=True, slots=True)
class Admission:
    """Which rows the limits refused (index -> the error), the others being counted."""

    refused: dict[int, LimitExceeded]


class Limits:
    def __init__(
        self,
        settings: LimitSettings,
        counters: Counters,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._counters = counters
        self._clock = clock

    async def check_request(self, caller: Principal) -> None:
        """Take one of the caller's request tokens, or raise LimitExceeded."""
        rate, key = self.settings.requests, caller.limit_key
        if rate is None or key is None:
            return
        wait = await self._guarded(self._counters.take(key, rate), 0.0)
        if wait > 0:
            raise LimitExceeded(
                f"Too many requests for this API key: the limit is {rate}. "
                f"Try again in {max(1, math.ceil(wait))} s.",
                code="rate_limit_exceeded",
                retry_after=wait,
            )

    async def admit(
        self, caller: Principal, candidates: Sequence[Candidate], *, reaches_phones: bool = True
    ) -> Admission:
        """Count the messages against every limit, or raise for the request as a whole.

        Rows refused by their destination's window come back in ``refused`` and are not
        counted; a request over the daily count or spend raises, and nothing is counted.
        Messages that cannot leave the machine (``reaches_phones`` false: the sandbox; or a
        test key's) count per day, but never against a destination's window or the spend.
        """
        settings = self.settings
        if not candidates or not self._counting:
            return Admission({})
        counted = reaches_phones and not caller.test
        refused: dict[int, LimitExceeded] = {}
        costs: list[int] = []
        for index, candidate in enumerate(candidates):
            if counted and settings.daily_spend is not None and candidate.cost is None:
                refused[index] = _unpriced(candidate.number)
            costs.append(_micros(candidate.cost) if counted and settings.daily_spend else 0)
        rows = [i for i in range(len(candidates)) if i not in refused]
        if not rows:
            return Admission(refused)
        now = self._clock()
        window = settings.destinations if counted else None
        ask = Ask(
            day=now.date().isoformat(),
            destinations=[candidates[i].number.e164 for i in rows] if window else [],
            window=window,
            costs=[costs[i] for i in rows],
            caller=caller.limit_key if settings.daily_messages is not None else None,
            daily_limit=settings.daily_messages,
            spend_limit=_micros(settings.daily_spend) if counted and settings.daily_spend else None,
        )
        if window is None and ask.caller is None and ask.spend_limit is None:
            return Admission(refused)  # no limit applies to this caller
        admitted = await self._guarded(self._counters.admit(ask), Admitted())
        if admitted.over is not None:
            raise self._over(admitted.over, now)
        for position, wait in admitted.refused.items():
            assert window is not None  # only a destination window refuses single rows
            index = rows[position]
            refused[index] = LimitExceeded(
                f"{candidates[index].number.masked} has had its {window.count} messages in the "
                f"last {window.period} (SMSGATE_DESTINATION_LIMIT); try again in "
                f"{max(1, math.ceil(wait))} s.",
                code="destination_limit_exceeded",
                retry_after=wait,
            )
        return Admission(refused)

    async def seed(self, messages: dict[str, int], spend: Decimal) -> None:
        """Start today's totals from the database (a restart, or a Redis that lost them)."""
        if not self._counting:
            return
        day = self._clock().date().isoformat()
        await self._guarded(self._counters.seed(day, messages, _micros(spend)), None)

    async def aclose(self) -> None:
        await self._counters.aclose()

    @property
    def _counting(self) -> bool:
        s = self.settings
        return s.destinations is not None or s.daily_messages is not None or bool(s.daily_spend)

    def _over(self, which: str, now: datetime) -> LimitExceeded:
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        wait = (midnight - now).total_seconds()
        if which == "spend":
            return LimitExceeded(
                f"Today's estimated spend would pass SMSGATE_DAILY_SPEND_LIMIT "
                f"({self.settings.daily_spend}); nothing was sent. It resets at 00:00 UTC.",
                code="spend_limit_reached",
                retry_after=wait,
            )
        return LimitExceeded(
            f"This API key may send {self.settings.daily_messages:,} messages a day "
            "(SMSGATE_DAILY_MESSAGE_LIMIT), and this request would pass that; nothing was "
            "sent. It resets at 00:00 UTC.",
            code="daily_limit_exceeded",
            retry_after=wait,
        )

    async def _guarded(self, call: Awaitable[T], when_open: T) -> T:
        """Await ``call``; if the counters cannot be reached, fail closed (or open)."""
        try:
            return await call
        except CountersUnavailable as exc:
            if self.settings.fail_open:
                log.warning("limits_skipped", error=exc.kind)
                return when_open
            log.error("limits_unavailable", error=exc.kind)
            raise LimitsUnavailable(
                "smsgate cannot reach the store of its rate and spend limits (Redis); "
                "nothing was sent. Try again shortly."
            ) from None


def _micros(amount: Decimal | None) -> int:
    return 0 if amount is None else int((amount * MICROS).to_integral_value(rounding=ROUND_CEILING))


def _unpriced(number: PhoneNumber) -> LimitExceeded:
    return LimitExceeded(
        f"The price table has no rate for {number.region or 'this number'}, so its cost cannot "
        "be counted against SMSGATE_DAILY_SPEND_LIMIT; add the country's rate "
        "(smsgate prices update) to send there.",
        code="price_unknown",
        retry_after=None,
    )
