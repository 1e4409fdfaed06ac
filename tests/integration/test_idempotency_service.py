"""The idempotency service on a real database: cancellations, failures, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from smsgate.api.answers import ANSWERS, Answer
from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.errors import StoreUnavailable
from smsgate.db.idempotency import IdempotencyStore
from smsgate.services.idempotency import Idempotency

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def store(migrated: str) -> AsyncIterator[IdempotencyStore]:
    engine = make_engine(migrated)
    try:
        yield IdempotencyStore(make_sessions(engine))
    finally:
        await engine.dispose()


class Maker:
    """Counts how often the answer is made: each call stands for one send to Plivo."""

    def __init__(self, answer: Answer, delay: float = 0.0) -> None:
        self.calls = 0
        self.answer = answer
        self.delay = delay

    async def __call__(self) -> Answer:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.answer


SENT = Answer(201, {"id": "m1", "status": "queued"}, message_id="m1")


async def test_a_caller_who_leaves_mid_send_does_not_free_the_key(
    store: IdempotencyStore,
) -> None:
    """The send finishes without its caller; the retry gets its answer and sends nothing."""
    service = Idempotency(store, ttl=timedelta(hours=1), wait=5)
    make = Maker(SENT, delay=0.2)
    first = asyncio.ensure_future(service.run("", "k", "hash", make, ANSWERS))
    await asyncio.sleep(0.05)
    first.cancel()
    again = await service.run("", "k", "hash", make, ANSWERS)
    assert make.calls == 1
    assert (again.status, again.body) == (201, SENT.body)


async def test_an_answer_that_could_not_be_stored_is_still_returned(
    store: IdempotencyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = Idempotency(store, ttl=timedelta(hours=1), wait=0.3)

    async def broken(*_: object) -> None:
        raise StoreUnavailable("OperationalError")

    monkeypatch.setattr(store, "complete", broken)
    make = Maker(SENT)
    assert await service.run("", "k2", "hash", make, ANSWERS) == SENT
    with pytest.raises(Exception, match="still being processed"):
        await service.run("", "k2", "hash", make, ANSWERS)  # never a second send
    assert make.calls == 1


async def test_nothing_sent_try_again_answers_are_not_kept(store: IdempotencyStore) -> None:
    """A 503 'try again later' must not be repeated for a day: the retry sends."""
    service = Idempotency(store, ttl=timedelta(hours=1), wait=1)
    busy = Maker(Answer(503, {"code": "provider_unavailable"}))
    await service.run("", "k3", "hash", busy, ANSWERS)
    await service.run("", "k3", "hash", busy, ANSWERS)
    assert busy.calls == 2


async def test_a_claim_still_running_never_expires_however_short_the_ttl(
    store: IdempotencyStore,
) -> None:
    service = Idempotency(store, ttl=timedelta(microseconds=1), wait=2)
    make = Maker(SENT, delay=0.3)
    answers = await asyncio.gather(
        *(service.run("", "k4", "hash", make, ANSWERS) for _ in range(5))
    )
    assert make.calls == 1
    assert {a.status for a in answers} == {201}


async def test_purging_deletes_answered_expired_keys_and_keeps_running_ones(
    store: IdempotencyStore,
) -> None:
    service = Idempotency(store, ttl=timedelta(microseconds=1), wait=2)
    await service.run("", "answered", "hash", Maker(SENT), ANSWERS)
    assert await store.claim("", "running", "hash", timedelta(microseconds=1))
    assert await store.purge() == 1
    assert await store.read("", "answered") is None
    assert await store.read("", "running") is not None
