"""When to try a queued hand-off again after the provider certainly did not take it.

Only failures that sent nothing are retried (the provider unreachable, 429, 502/503 after the
adapter's own quick retries, refused credentials): retrying them cannot text anyone twice.
A failure that may have sent the message is never retried. Waits grow exponentially with full
jitter (so a crowd of messages that failed together does not come back together), and the
retries stop at a number of attempts or an age, whichever comes first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["RetryPlan"]


@dataclass(frozen=True, slots=True)
class RetryPlan:
    max_attempts: int = 5
    max_age: timedelta = timedelta(hours=1)
    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=5)

    def next_attempt(
        self,
        *,
        attempts: int,
        created_at: datetime,
        now: datetime,
        rng: random.Random,
        not_before: timedelta | None = None,
    ) -> datetime | None:
        """When to try again after ``attempts`` hand-offs failed; None to give up.

        ``not_before`` is the provider's own wait (Retry-After): never sooner than that.
        """
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.cap, self.base * 2 ** (attempts - 1))
        wait = ceiling * rng.random()
        if not_before is not None:
            wait = max(wait, not_before)
        moment: datetime = now + wait
        if moment - created_at > self.max_age:
            return None
        return moment
