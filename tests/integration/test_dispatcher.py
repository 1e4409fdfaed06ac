"""One queued hand-off at a time, on real SQLite and PostgreSQL, with a recording provider."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from smsgate.db.batches import NewBatch, QueuedMessage
from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.queue import DueMessage, QueueStore
from smsgate.db.store import MessageStore
from smsgate.domain.message import MessageStatus as S
from smsgate.domain.retry import RetryPlan
from smsgate.limits.pacing import SenderPacing
from smsgate.providers.base import (
    Accepted,
    Ambiguous,
    CredentialsRefused,
    RateLimited,
    Rejected,
    Transient,
)
from smsgate.services.dispatch import Dispatched, Dispatcher
from smsgate.services.outlets import Outlet, Outlets
from tests.support.fakes import RecordingProvider

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@dataclass
class Rig:
    provider: RecordingProvider
    store: MessageStore
    queue: QueueStore
    pacing: SenderPacing
    dispatcher: Dispatcher
    now: list[datetime]

    async def queued(self, *, expires_in: timedelta | None = None) -> DueMessage:
        created = self.now[0]
        expires_at = created + expires_in if expires_in is not None else None
        await self.queue.add_batch(
            NewBatch(
                messages=[QueuedMessage("+14155552671", "hi", "GSM-7", 1, None)],
                provider="fake",
                sender="+14155550199",
                due_at=created,
                expires_at=expires_at,
                recipients=1,
            )
        )
        (message,) = await self.queue.due(created, limit=1)
        return message

    async def status(self, message_id: str) -> S:
        message = await self.store.get(message_id)
        assert message is not None
        return message.status


@pytest.fixture
async def rig(migrated: str) -> AsyncIterator[Rig]:
    engine = make_engine(migrated)
    store = MessageStore(make_sessions(engine))
    queue = QueueStore(engine)
    provider = RecordingProvider()
    pacing = SenderPacing(rate=None)
    now = [datetime.now(UTC)]
    dispatcher = Dispatcher(
        Outlets.single(Outlet(provider, "https://sms.example.com/status")),
        store,
        queue,
        pacing,
        retry=RetryPlan(max_attempts=3, max_age=timedelta(hours=1)),
        clock=lambda: now[0],
        rng=random.Random(7),
    )
    try:
        yield Rig(provider, store, queue, pacing, dispatcher, now)
    finally:
        await store.close()
        await engine.dispose()


async def test_an_accepted_hand_off_stores_plivos_uuid(rig: Rig) -> None:
    message = await rig.queued()
    rig.provider.results.append(Accepted(message_uuids=("uuid-1",), api_id="a"))
    assert await rig.dispatcher.dispatch(message) is Dispatched.HANDED_OVER
    stored = await rig.store.get(message.id)
    assert stored is not None
    assert (stored.status, stored.provider_message_uuid, stored.attempts) == (S.QUEUED, "uuid-1", 1)
    (sms,) = rig.provider.sent
    assert (sms.to, sms.text, sms.status_url) == (
        "+14155552671",
        "hi",
        "https://sms.example.com/status",
    )


async def test_a_second_dispatch_of_the_same_message_sends_nothing(rig: Rig) -> None:
    message = await rig.queued()
    assert await rig.dispatcher.dispatch(message) is Dispatched.HANDED_OVER
    assert await rig.dispatcher.dispatch(message) is Dispatched.SKIPPED  # a duplicate delivery
    assert len(rig.provider.sent) == 1


@pytest.mark.parametrize(
    "failure",
    [
        Transient(error="Plivo unreachable", attempts=3),
        Transient(error="HTTP 503", status=503, attempts=3),
        CredentialsRefused(error="Authentication failed"),
    ],
    ids=["unreachable", "503", "credentials refused"],
)
async def test_a_failure_that_sent_nothing_is_retried_later(rig: Rig, failure: object) -> None:
    message = await rig.queued()
    rig.provider.results.append(failure)  # type: ignore[arg-type]
    assert await rig.dispatcher.dispatch(message) is Dispatched.RETRY
    stored = await rig.store.get(message.id)
    assert stored is not None
    assert (stored.status, stored.attempts) == (S.ACCEPTED, 1)
    assert stored.due_at is not None
    assert rig.now[0] <= stored.due_at <= rig.now[0] + timedelta(seconds=2)
    assert stored.events[-1].source == "retry"


async def test_a_rate_limit_holds_the_sender_back_and_retries_no_sooner(rig: Rig) -> None:
    message = await rig.queued()
    rig.provider.results.append(RateLimited(error="slow down", retry_after=30))
    assert await rig.dispatcher.dispatch(message) is Dispatched.RETRY
    stored = await rig.store.get(message.id)
    assert stored is not None
    assert stored.due_at == rig.now[0] + timedelta(seconds=30)


async def test_after_the_last_attempt_the_message_fails_with_the_reason(rig: Rig) -> None:
    message = await rig.queued()
    for _ in range(3):
        rig.provider.results.append(Transient(error="Plivo unreachable", attempts=1))
    outcomes = []
    for _ in range(3):
        rig.now[0] += timedelta(minutes=1)
        (due,) = await rig.queue.due(rig.now[0], limit=1)
        outcomes.append(await rig.dispatcher.dispatch(due))
    assert outcomes == [Dispatched.RETRY, Dispatched.RETRY, Dispatched.GAVE_UP]
    stored = await rig.store.get(message.id)
    assert stored is not None
    assert (stored.status, stored.attempts) == (S.FAILED, 3)
    assert stored.error_reason is not None
    assert stored.error_reason.startswith("gave up after 3 attempt(s); nothing was sent")


@pytest.mark.parametrize(
    ("result", "status"),
    [
        (Ambiguous(error="timed out"), S.UNKNOWN),
        (Transient(error="HTTP 500", status=500, may_have_been_sent=True), S.UNKNOWN),
        (Rejected(status=400, error="invalid dst"), S.REJECTED),
    ],
    ids=["timeout", "500", "rejected"],
)
async def test_a_failure_that_may_have_sent_or_is_final_is_never_retried(
    rig: Rig, result: object, status: S
) -> None:
    message = await rig.queued()
    rig.provider.results.append(result)  # type: ignore[arg-type]
    assert await rig.dispatcher.dispatch(message) is Dispatched.HANDED_OVER
    assert await rig.status(message.id) is status
    assert await rig.queue.due(rig.now[0] + timedelta(days=1), limit=10) == []


async def test_an_expired_message_is_never_handed_over(rig: Rig) -> None:
    message = await rig.queued(expires_in=timedelta(seconds=10))
    rig.now[0] += timedelta(seconds=10)
    assert await rig.dispatcher.dispatch(message) is Dispatched.EXPIRED
    assert await rig.status(message.id) is S.EXPIRED
    assert rig.provider.sent == []


async def test_a_canceled_message_is_skipped(rig: Rig) -> None:
    message = await rig.queued()
    await rig.store.record(message.id, S.CANCELED, source="api")
    assert await rig.dispatcher.dispatch(message) is Dispatched.SKIPPED
    assert rig.provider.sent == []


async def test_a_dispatch_no_longer_wanted_claims_nothing(rig: Rig) -> None:
    message = await rig.queued()
    outcome = await rig.dispatcher.dispatch(message, still_wanted=lambda: False)
    assert outcome is Dispatched.SKIPPED
    assert rig.provider.sent == []
    assert await rig.status(message.id) is S.ACCEPTED


async def test_a_message_scheduled_for_later_ages_from_its_time_not_its_creation(
    rig: Rig,
) -> None:
    message = await rig.queued()
    # Accepted two hours ago for now: the retry plan's hour counts from now, not then.
    old = replace(message, created_at=rig.now[0] - timedelta(hours=2), scheduled_at=rig.now[0])
    rig.provider.results.append(Transient(error="Plivo unreachable", attempts=1))
    assert await rig.dispatcher.dispatch(old) is Dispatched.RETRY


async def test_a_number_that_opted_out_after_its_message_was_queued_is_never_sent(
    rig: Rig, migrated: str
) -> None:
    """A STOP before a scheduled message falls due: the claim finds the number on the list,
    in its own transaction, and the message is rejected, nothing sent."""
    from smsgate.db.opt_outs import OptOutSource, OptOutStore
    from smsgate.db.rows import OPTED_OUT

    message = await rig.queued()
    engine = make_engine(migrated)
    try:
        await OptOutStore(make_sessions(engine)).add("+14155552671", OptOutSource.KEYWORD)
    finally:
        await engine.dispose()
    assert await rig.dispatcher.dispatch(message) is Dispatched.SKIPPED
    assert rig.provider.sent == []
    stored = await rig.store.get(message.id)
    assert stored is not None
    assert (stored.status, stored.error_reason, stored.attempts) == (S.REJECTED, OPTED_OUT, 0)
    assert stored.events[-1].detail == {"reason": OPTED_OUT}
