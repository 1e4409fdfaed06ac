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
    """Counts how often the answer is made: each call stands for one send to Plivo. Answers
    ``answers`` in turn (the last one from then on), and writes down which held message each
    call was asked to send again."""

    def __init__(self, *answers: Answer, delay: float = 0.0) -> None:
        self.calls = 0
        self.answers = list(answers)
        self.delay = delay
        self.held: list[str | None] = []

    async def __call__(self, held: str | None) -> Answer:
        self.calls += 1
        self.held.append(held)
        await asyncio.sleep(self.delay)
        return self.answers[min(self.calls, len(self.answers)) - 1]


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


# Plivo answered 429 to the first try: the message m1 is stored and waits for the retry.
HELD = Answer(429, {"code": "provider_rate_limited", "id": "m1"}, message_id="m1", held=True)


async def test_a_held_key_sends_its_message_again_then_repeats_the_answer(
    store: IdempotencyStore,
) -> None:
    service = Idempotency(store, ttl=timedelta(hours=1), wait=1)
    make = Maker(HELD, SENT)
    assert (await service.run("", "held", "hash", make, ANSWERS)).status == 429
    assert (await service.run("", "held", "hash", make, ANSWERS)).status == 201
    assert (await service.run("", "held", "hash", make, ANSWERS)).status == 201
    # The retry sent the first try's message, not a new one; the third was a repeat.
    assert make.held == [None, "m1"]


async def test_concurrent_retries_of_a_held_key_send_its_message_once(
    store: IdempotencyStore,
) -> None:
    service = Idempotency(store, ttl=timedelta(hours=1), wait=2)
    await service.run("", "race", "hash", Maker(HELD), ANSWERS)
    make = Maker(SENT, delay=0.2)
    answers = await asyncio.gather(
        *(service.run("", "race", "hash", make, ANSWERS) for _ in range(5))
    )
    assert make.held == ["m1"]
    assert {a.status for a in answers} == {201}


async def test_a_held_key_with_another_body_is_still_refused(store: IdempotencyStore) -> None:
    service = Idempotency(store, ttl=timedelta(hours=1), wait=1)
    await service.run("", "other", "hash", Maker(HELD), ANSWERS)
    with pytest.raises(Exception, match="different request"):
        await service.run("", "other", "another", Maker(SENT), ANSWERS)


async def test_an_expired_held_key_starts_afresh_and_is_purged(store: IdempotencyStore) -> None:
    service = Idempotency(store, ttl=timedelta(microseconds=1), wait=1)
    await service.run("", "gone", "hash", Maker(HELD), ANSWERS)
    await service.run("", "lapsed", "hash", Maker(HELD), ANSWERS)
    make = Maker(SENT)
    await service.run("", "gone", "hash", make, ANSWERS)
    assert make.held == [None]  # the held message expires on its own (the reconciler)
    assert await store.purge() == 2  # "lapsed", held, and "gone", answered
