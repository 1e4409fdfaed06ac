"""The in-process engine: queued messages dispatched on this process's own event loop.

``serve`` runs it when there is no broker; ``send-bulk --wait`` runs it for its one batch
(``batch_id``). It asks the database for accepted messages that are due, dispatches up to
``concurrency`` at a time, and sleeps until the next one falls due, a new batch or a finished
dispatch wakes it, or ``poll_interval`` passes (so rows written by another process are found
too). Because it reads the database, it picks up where it left off after a restart: nothing
it was told about lives only in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from smsgate.db.batches import StoredBatch
from smsgate.db.errors import StoreUnavailable
from smsgate.db.queue import DueMessage, QueueStore
from smsgate.domain.clock import utc_now
from smsgate.engines import Job
from smsgate.logs import get_logger
from smsgate.services.dispatch import Dispatched, Dispatcher

log = get_logger("smsgate.dispatch")


class InProcessEngine:
    dispatches_here = True

    def __init__(
        self,
        dispatcher: Dispatcher,
        queue: QueueStore,
        *,
        concurrency: int = 50,
        poll_interval: float = 1.0,
        clock: Callable[[], datetime] = utc_now,
        batch_id: str | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._queue = queue
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._clock = clock
        # Only this batch's messages (send-bulk --wait); None: every queued message.
        self._batch_id = batch_id
        self._wakeup = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False
        # In flight by message id; those past their claim must be left to finish.
        self._inflight: dict[str, asyncio.Task[Dispatched]] = {}
        self._claimed: set[str] = set()
        # What became of each dispatch that ended (a Dispatched value, or an error's kind).
        self.outcomes: Counter[str] = Counter()

    @property
    def busy(self) -> bool:
        """Whether a dispatch is still in progress."""
        return bool(self._inflight)

    def announce(self, batch: StoredBatch, due_at: datetime) -> None:
        self._wakeup.set()  # the rows are stored: look now rather than at the next poll

    def reschedule(self, message_id: str, due_at: datetime) -> None:
        self._wakeup.set()  # the row carries its new due time; the loop reads it

    def jobs(self) -> list[Job]:
        return [self.run()]

    async def stop(self, grace: float) -> None:
        """Stop taking messages; let claimed hand-offs finish (up to ``grace`` seconds).

        Dispatches still waiting for a pacing slot hold no claim: they are cancelled, and the
        messages stay ``accepted`` for the next start.
        """
        self._stopping = True
        self._wakeup.set()
        if self._loop is not None:
            await asyncio.gather(self._loop, return_exceptions=True)
        for message_id, task in list(self._inflight.items()):
            if message_id not in self._claimed:
                task.cancel()
        pending = list(self._inflight.values())
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Nothing of its own to release: the stores belong to the runtime."""

    async def run(self) -> None:
        """The engine's loop, until ``stop``: find due messages, dispatch them, sleep."""
        self._loop = asyncio.current_task()
        while not self._stopping:
            self._wakeup.clear()
            try:
                now = self._clock()
                await self._fill(now)
                timeout = await self._until_next_due(now)
            except StoreUnavailable as exc:
                log.error("dispatcher_store_unavailable", error=str(exc))
                timeout = self._poll_interval
            except Exception as exc:  # never let queued sending stop silently
                log.error("dispatcher_error", error=type(exc).__name__)
                timeout = self._poll_interval
            # A finished dispatch or a new batch sets the event; so does stop().
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _fill(self, now: datetime) -> None:
        """Start dispatches for messages due by ``now``, as many as there is room for."""
        room = self._concurrency - len(self._inflight)
        if room <= 0:
            return
        # Messages in flight are still "accepted" until claimed: ask for enough to skip them.
        due = await self._queue.due(now, limit=room + len(self._inflight), batch_id=self._batch_id)
        for message in [m for m in due if m.id not in self._inflight][:room]:
            self._start(message)

    async def _until_next_due(self, now: datetime) -> float:
        """Seconds until the first message due after ``now`` (those due by then are started,
        or wait for room, which a finishing dispatch announces)."""
        moment = await self._queue.next_due_at(after=now, batch_id=self._batch_id)
        if moment is None:
            return self._poll_interval
        return max(0.0, min((moment - self._clock()).total_seconds(), self._poll_interval))

    def _start(self, message: DueMessage) -> None:
        def claimed() -> None:
            self._claimed.add(message.id)

        task = asyncio.create_task(
            self._dispatcher.dispatch(message, on_claimed=claimed),
            name=f"smsgate-dispatch-{message.id}",
        )
        self._inflight[message.id] = task
        task.add_done_callback(lambda done: self._finished(message.id, done))

    def _finished(self, message_id: str, task: asyncio.Task[Dispatched]) -> None:
        self._inflight.pop(message_id, None)
        self._claimed.discard(message_id)
        if not task.cancelled():
            if (error := task.exception()) is not None:
                # A store outage mid-dispatch: the row keeps its status, and is found again.
                log.error("dispatch_failed", message_id=message_id, error=type(error).__name__)
                self.outcomes[type(error).__name__] += 1
            else:
                self.outcomes[task.result().value] += 1
        self._wakeup.set()  # room for one more
