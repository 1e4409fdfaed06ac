"""The embedded dispatch engine: queued messages sent from inside ``smsgate serve``.

Without a broker, ``serve`` runs this loop on its own event loop. It asks the database for
accepted messages that are due, dispatches up to ``concurrency`` at a time, and sleeps until
the next one falls due, a new batch wakes it, or ``poll_interval`` passes (so rows written by
another process are found too). Because it reads the database, it picks up where it left off
after a restart: nothing it was told about lives only in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from smsgate.db.errors import StoreUnavailable
from smsgate.db.queue import DueMessage, QueueStore
from smsgate.db.store import utc_now
from smsgate.logs import get_logger
from smsgate.services.dispatch import Dispatched, Dispatcher

log = get_logger("smsgate.dispatch")


class InProcessDispatcher:
    def __init__(
        self,
        dispatcher: Dispatcher,
        queue: QueueStore,
        *,
        concurrency: int = 50,
        poll_interval: float = 1.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._dispatcher = dispatcher
        self._queue = queue
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # In flight by message id; those past their claim must be left to finish.
        self._inflight: dict[str, asyncio.Task[Dispatched]] = {}
        self._claimed: set[str] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(
                self._run(), name="smsgate-dispatcher", context=contextvars.Context()
            )

    def wake(self) -> None:
        """New messages may be due: look now rather than at the next poll."""
        self._wakeup.set()

    async def stop(self, grace: float) -> None:
        """Stop taking messages; let claimed hand-offs finish (up to ``grace`` seconds).

        Dispatches still waiting for a pacing slot hold no claim: they are dropped, and the
        messages stay ``accepted`` for the next start.
        """
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await finish_claimed(self._inflight, self._claimed, grace)

    async def _run(self) -> None:
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
        due = await self._queue.due(now, limit=room + len(self._inflight))
        for message in [m for m in due if m.id not in self._inflight][:room]:
            self._start(message)

    async def _until_next_due(self, now: datetime) -> float:
        """Seconds until the first message due after ``now`` (those due by then are started,
        or wait for room, which a finishing dispatch announces)."""
        moment = await self._queue.next_due_at(after=now)
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
        if not task.cancelled() and (error := task.exception()) is not None:
            # A store outage mid-dispatch: the row keeps its status, and is found again.
            log.error("dispatch_failed", message_id=message_id, error=type(error).__name__)
        self._wakeup.set()  # room for one more


async def finish_claimed(
    inflight: Mapping[str, asyncio.Task[Any]], claimed: Collection[str], grace: float
) -> None:
    """Stop dispatches: cancel those not holding a claim (their messages stay accepted), and
    give the claimed ones, which may be talking to the provider, ``grace`` seconds."""
    for message_id, task in list(inflight.items()):
        if message_id not in claimed:
            task.cancel()
    pending = list(inflight.values())
    if pending:
        _, late = await asyncio.wait(pending, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
