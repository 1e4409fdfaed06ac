"""Retention: message texts redacted after ``SMSGATE_RETAIN_TEXT_DAYS``, rows deleted after
``SMSGATE_RETAIN_DAYS``, once an hour.

It runs where the other background jobs run: in ``serve`` without a broker, in each worker
with one. One process at a time does it (a PostgreSQL advisory lock; SQLite has one process);
the others find the lock held and skip that round. What is redacted or deleted, and in what
order, is ``db/retention.py``'s business.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from smsgate.db.errors import StoreUnavailable
from smsgate.db.queue import QueueStore
from smsgate.db.retention import RetentionCounts, RetentionStore
from smsgate.domain.clock import utc_now
from smsgate.logs import get_logger

log = get_logger("smsgate.retention")

LOCK = "smsgate-retention"
# Seconds between passes, and before the first (not in the rush of a start).
EVERY = 3600.0
FIRST_AFTER = 60.0


class Retention:
    def __init__(
        self,
        store: RetentionStore,
        queue: QueueStore,
        *,
        text_days: int,
        row_days: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not 1 <= text_days <= row_days:
            raise ValueError("texts are kept at least a day, and no longer than their rows")
        self._store = store
        self._queue = queue
        self._text_days = text_days
        self._row_days = row_days
        self._clock = clock

    async def run(self) -> RetentionCounts | None:
        """One pass; what it changed, or None when another process holds the job.

        Logs ``retention_applied`` with the counts when anything changed (counts only: no
        texts, no numbers).
        """
        async with self._queue.exclusive(LOCK) as mine:
            if not mine:
                return None
            started = time.monotonic()
            now = self._clock()
            counts = await self._store.apply(
                text_before=now - timedelta(days=self._text_days),
                rows_before=now - timedelta(days=self._row_days),
            )
        if counts.total:
            log.info(
                "retention_applied",
                **counts.as_dict(),
                text_days=self._text_days,
                row_days=self._row_days,
                seconds=round(time.monotonic() - started, 3),
            )
        return counts

    async def run_forever(
        self, *, every: float | None = None, first_after: float | None = None
    ) -> None:
        """A pass ``first_after`` seconds from now (``FIRST_AFTER``), then every ``every``
        seconds (``EVERY``), whatever one pass meets, until cancelled."""
        every = EVERY if every is None else every
        await asyncio.sleep(FIRST_AFTER if first_after is None else first_after)
        while True:
            try:
                await self.run()
            except StoreUnavailable as exc:
                log.warning("retention_failed", error=str(exc))
            except Exception as exc:  # never let the job stop silently
                log.error("retention_failed", error=type(exc).__name__)
            await asyncio.sleep(every)
