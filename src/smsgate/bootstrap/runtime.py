"""``Runtime``: what ``build_services`` built, opened together, run, and closed together.

``Runtime.background_jobs`` is the one list of what runs beside the requests (``serve``) or the
broker's messages (``smsgate worker``); ``stop`` gives claimed hand-offs the one send grace.
"""

from __future__ import annotations

import asyncio
import contextvars
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from smsgate.bootstrap.services import Services, build_services
from smsgate.config import Settings
from smsgate.db.errors import StoreUnavailable
from smsgate.db.store import MessageStore
from smsgate.engines import Job
from smsgate.logs import get_logger
from smsgate.providers.base import SmsProvider
from smsgate.services.limits import Limits, LimitsUnavailable

if TYPE_CHECKING:  # the broker engine imports Dramatiq: only a worker needs it
    from smsgate.engines.broker import Sweep

log = get_logger("smsgate.bootstrap")


@dataclass(frozen=True, slots=True)
class JobTimes:
    """How often the reconciler looks for cut-off hand-offs, and how old they must be
    (``serve``: every 30 s; ``smsgate worker``: its --sweep-interval)."""

    reconcile_every: float
    # A send lasts at most its deadline: anything "sending" for much longer was cut off.
    stale_after: timedelta

    @classmethod
    def of(cls, settings: Settings, reconcile_every: float = 30.0) -> JobTimes:
        return cls(reconcile_every, timedelta(seconds=settings.stale_after))


class Runtime:
    """Everything a running smsgate uses, opened together and closed together."""

    def __init__(
        self,
        settings: Settings,
        injected_provider: SmsProvider | None = None,
        *,
        worker: Sweep | None = None,
    ) -> None:
        self.settings = settings
        self.injected_provider = injected_provider  # tests pass a fake; else from settings
        self._worker = worker  # a worker's sweep; None: serve (or a command)
        self._stack: AsyncExitStack | None = None
        self._services: Services | None = None
        self._jobs: list[asyncio.Task[None]] = []

    async def open(self) -> Services:
        stack = AsyncExitStack()
        try:
            services = build_services(
                self.settings, stack, provider=self.injected_provider, worker=self._worker
            )
            await seed_limits(services.limits, services.store)
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._services = stack, services
        return services

    def background_jobs(self, *, serving: bool, times: JobTimes) -> list[Job]:
        """What runs beside the requests or the broker's messages: the one list.

        Where the engine dispatches (``serve`` without a broker, or a worker), this process
        also looks after its hand-offs (the reconciler), delivers webhooks and applies
        retention; ``serve`` with a broker leaves those to the workers.
        """
        services = self.services
        jobs: list[Job] = []
        if serving:
            jobs.append(services.idempotency.purge_forever())
        if services.engine.dispatches_here:
            jobs.append(
                services.reconciler.run_forever(
                    interval=times.reconcile_every, stale_after=times.stale_after
                )
            )
            jobs.append(services.deliverer.run_forever())
            # Hourly, under a database lock: one process at a time does it.
            jobs.append(services.retention.run_forever())
        jobs.extend(services.engine.jobs())
        return jobs

    def start_jobs(self, *, serving: bool, times: JobTimes) -> None:
        """Start the background jobs as tasks of this loop, outside any request's context."""
        for job in self.background_jobs(serving=serving, times=times):
            self._jobs.append(asyncio.create_task(job, context=contextvars.Context()))

    async def stop(self) -> None:
        """Stop queued sending (claimed hand-offs finish within the grace), then the jobs."""
        if self._services is not None:
            await self._services.engine.stop(grace=self.settings.send_grace)
        for task in self._jobs:
            task.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        self._jobs.clear()

    async def close(self) -> None:
        """Close what ``open`` opened, in the reverse order (after ``stop``, if jobs ran)."""
        await self.stop()
        stack, self._stack = self._stack, None
        self._services = None
        if stack is not None:
            await stack.aclose()

    @property
    def opened(self) -> bool:
        return self._services is not None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the runtime is opened by the app's lifespan; it has not run")
        return self._services


async def seed_limits(limits: Limits, store: MessageStore) -> None:
    """Start today's totals from the database, so a restart does not reset the day."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        counts, spend = await store.usage_since(midnight)
        await limits.seed({key: n for key, n in counts.items() if key is not None}, spend)
    except (StoreUnavailable, LimitsUnavailable):
        # Requests will fail (closed) on their own if these stay down; serving starts anyway.
        log.warning("limits_not_seeded")
