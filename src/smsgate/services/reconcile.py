"""Reconcile hand-offs cut off mid-send: ask Plivo what it took before doing anything else.

A message is ``sending`` from its claim until the provider's answer is stored. If the process
died in between, the row stays ``sending``, and nobody knows from our side whether Plivo took
it. Once it has been ``sending`` for longer than any send can last, the reconciler looks in
the provider's own records (Plivo's message list, reference §3) for messages to that number
taken around the time of the claim, leaving out those that belong to other messages of ours:

- exactly one: that is this message; it takes Plivo's UUID and state (say ``queued``);
- none: Plivo never got it. A queued message is queued again (sending it now is its first
  hand-off); an inline one, whose caller got no answer, is marked ``failed``, nothing sent;
- several: which is this one cannot be told; it is ``unknown``, for a person to decide;
- the records cannot be read (Plivo down): left for the next round, and ``unknown`` once it
  is too old to keep waiting.

A provider without records (the sandbox) settles such messages as ``unknown``.

Each round also settles the sends held for an ``Idempotency-Key`` retry that never came
(``services/sending.py``): once the key is gone they are ``expired``, nothing sent.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from smsgate.db.queue import QueueStore, StaleHandOff
from smsgate.db.rows import Outcome
from smsgate.db.store import MessageStore
from smsgate.domain.clock import utc_now
from smsgate.domain.message import MessageStatus
from smsgate.logs import get_logger
from smsgate.providers.base import LookupUnavailable, SentLookup

log = get_logger("smsgate.reconcile")

# Around the claim, how far to look: the request leaves just after it, and Plivo stamps the
# message when it takes it, within the send's deadline; clocks may differ by a little.
CLOCK_SLACK = timedelta(seconds=10)
GIVE_UP_AFTER = timedelta(hours=1)


class Reconciler:
    def __init__(
        self,
        store: MessageStore,
        queue: QueueStore,
        lookup: SentLookup | None,
        *,
        deadline: timedelta,
        reschedule: Callable[[str, datetime], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
        provider: str | None = None,
    ) -> None:
        self._store = store
        self._queue = queue
        self._lookup = lookup
        # The name of the provider ``lookup`` reads; a message stored for another (a test
        # key's, for the sandbox) was never on its way there.
        self._provider = provider
        self._deadline = deadline
        self._reschedule = reschedule
        self._clock = clock

    async def run(self, stale_before: datetime, limit: int = 1000) -> Counter[str]:
        """Reconcile every hand-off ``sending`` since before ``stale_before``; count outcomes.

        One process at a time (a database lock): two reconcilers reading the same stale row
        could otherwise both queue it again, the second undoing a new claim.
        """
        outcomes: Counter[str] = Counter()
        async with self._queue.exclusive("smsgate-reconcile") as mine:
            if not mine:
                return outcomes
            stale = await self._queue.stale_sending(stale_before, limit)
            # Two cut-off hand-offs to one number: the records cannot tell them apart.
            per_number = Counter(h.to for h in stale if not self._elsewhere(h))
            lookups_work = True
            for hand_off in stale:
                try:
                    if self._elsewhere(hand_off):
                        why = f"it was for the {hand_off.provider}, which sends nothing"
                        outcome = await self._not_sent(hand_off, why)
                    elif per_number[hand_off.to] > 1:
                        outcome = await self._settle(
                            hand_off, "another hand-off to this number was cut off too"
                        )
                    elif not lookups_work:
                        outcome = "postponed"
                    else:
                        outcome = await self._one(hand_off)
                        lookups_work = outcome != "postponed"
                except Exception as exc:  # one bad row must not stop the others
                    log.error("reconcile_failed", message_id=hand_off.id, error=type(exc).__name__)
                    outcome = "failed"
                outcomes[outcome] += 1
            outcomes["expired"] += await self._expire_lapsed_holds(limit)
        outcomes = +outcomes  # only what happened
        if outcomes:
            log.warning("hand_offs_reconciled", **outcomes)
        return outcomes

    async def run_forever(self, *, interval: float, stale_after: timedelta) -> None:
        """Reconcile every ``interval`` seconds; keeps going whatever one round meets."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run(self._clock() - stale_after)
            except Exception as exc:  # the database down, say: the next round tries again
                log.error("reconcile_round_failed", error=type(exc).__name__)

    async def _expire_lapsed_holds(self, limit: int) -> int:
        expired = 0
        for message_id in await self._queue.lapsed_holds(self._clock(), limit):
            decision = await self._store.record(
                message_id,
                MessageStatus.EXPIRED,
                source="reconciler",
                detail={"reason": "its Idempotency-Key was not retried in time; nothing was sent"},
                expected=MessageStatus.ACCEPTED,  # unless its retry claimed it just now
                keep_refused=False,
            )
            expired += decision is not None and decision.applied
        return expired

    def _elsewhere(self, stale: StaleHandOff) -> bool:
        """Whether it was on its way to another provider than the one looked up (the sandbox,
        for a test key): nothing can have reached Plivo then."""
        return self._provider is not None and stale.provider not in ("", self._provider)

    async def _one(self, stale: StaleHandOff) -> str:
        if self._lookup is None:
            return await self._settle(stale, "the provider keeps no records to check against")
        since = stale.claimed_at - CLOCK_SLACK
        until = stale.claimed_at + self._deadline + CLOCK_SLACK
        try:
            records = await self._lookup.find_sent(stale.to, since, until)
        except LookupUnavailable as exc:
            if self._clock() - stale.claimed_at > GIVE_UP_AFTER:
                return await self._settle(stale, "the provider's records stayed unreadable")
            # The kind only: the message can carry Plivo's own words, which may hold numbers.
            log.warning("reconcile_postponed", message_id=stale.id, error=type(exc).__name__)
            return "postponed"
        theirs = [
            r for r in records if await self._store.find_by_provider_uuid(r.message_uuid) is None
        ]
        if len(theirs) == 1:
            (record,) = theirs
            status = record.status or MessageStatus.QUEUED
            await self._record(
                stale,
                status,
                {"reason": "found in the provider's records", "provider_state": record.state},
                Outcome(provider_message_uuid=record.message_uuid),
            )
            return "found"
        if len(theirs) > 1:
            reason = (
                f"the provider took {len(theirs)} messages to this number around the hand-off; "
                "which one is this cannot be told"
            )
            return await self._settle(stale, reason)
        return await self._not_sent(stale, "the provider has no record of it")

    async def _not_sent(self, stale: StaleHandOff, why: str) -> str:
        """Nothing reached a provider: queue it again, or fail an inline send."""
        if stale.queued:
            now = self._clock()
            reason = f"{why}: the hand-off never arrived; queued again"
            if await self._queue.release(stale.id, now, reason, claimed_at=stale.claimed_at):
                if self._reschedule is not None:
                    self._reschedule(stale.id, now)
                return "requeued"
            return "changed"
        reason = f"the send was interrupted before the provider took it ({why}); nothing was sent"
        await self._record(
            stale, MessageStatus.FAILED, {"reason": reason}, Outcome(error_reason=reason)
        )
        return "not_sent"

    async def _settle(self, stale: StaleHandOff, why: str) -> str:
        reason = f"the hand-off was interrupted and may have been sent: {why}"
        await self._record(
            stale, MessageStatus.UNKNOWN, {"reason": reason}, Outcome(error_reason=reason)
        )
        return "unknown"

    async def _record(
        self, stale: StaleHandOff, status: MessageStatus, detail: dict[str, Any], outcome: Outcome
    ) -> None:
        await self._store.record(
            stale.id,
            status,
            source="reconciler",
            outcome=outcome,
            detail=detail,
            expected=MessageStatus.SENDING,
        )
