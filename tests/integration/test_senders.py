"""The sender registry and the choice of a pool's sender, on real SQLite and PostgreSQL.

Pacing runs in memory on a fake clock, so the rule "local, then sticky, then least busy" is
seen slot by slot; the sticky senders live in the database, so a new directory (a restarted
worker) and another process's changes are seen as a worker would see them.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.db.batches import NewBatch, QueuedMessage
from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.queue import QueueStore
from smsgate.db.senders import SenderExists, SenderStore
from smsgate.db.store import MessageStore
from smsgate.domain.message import MessageStatus as S
from smsgate.domain.retry import RetryPlan
from smsgate.domain.senders import SenderKind
from smsgate.limits.pacing import SenderPacing
from smsgate.providers.base import RateLimited
from smsgate.services.dispatch import Dispatched, Dispatcher
from smsgate.services.outlets import Outlet, Outlets
from smsgate.services.senders import SenderDirectory
from tests.support.fakes import RecordingProvider

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

POWERPACK = "0e9d5d3e-8f6a-4f1b-9c51-1b2c3d4e5f60"
DEFAULT = "+14155550199"  # PLIVO_SENDER_ID


@dataclass
class Rig:
    engine: AsyncEngine
    clock: list[float]
    pacing: SenderPacing
    directory: SenderDirectory

    def another_process(self) -> SenderDirectory:
        """A directory of its own on the same database: a restarted or second worker."""
        return SenderDirectory(
            SenderStore(self.engine),
            SenderPacing(rate=None, clock=lambda: self.clock[0]),
            default_sender=DEFAULT,
            default_mps=None,
            check_every=0,
        )

    async def choose(self, to: str, pool: str = "default", region: str | None = "US") -> str:
        choice = await self.directory.choose(pool, to, region, pace_prefix="", wait=False)
        assert choice is not None
        return choice.sender.address


@pytest.fixture
async def rig(migrated: str) -> AsyncIterator[Rig]:
    engine = make_engine(migrated)
    clock = [1000.0]
    pacing = SenderPacing(rate=None, clock=lambda: clock[0])
    directory = SenderDirectory(
        SenderStore(engine), pacing, default_sender=DEFAULT, default_mps=None
    )
    try:
        yield Rig(engine, clock, pacing, directory)
    finally:
        await engine.dispose()


async def test_the_registry_round_trips_and_each_change_moves_its_revision(rig: Rig) -> None:
    store = SenderStore(rig.engine)
    before = await store.revision()
    first = await rig.directory.add("+1 415 555 0100", pools=["default", "alerts"])
    short = await rig.directory.add("12345", countries=["us"], mps=50)
    pack = await rig.directory.add(POWERPACK, mps=12.5, pools=["bulk"])
    assert await store.revision() == before + 3
    revision, senders = await store.load()
    assert revision == before + 3
    assert [(s.address, s.kind, s.mps, s.pools) for s in senders] == [
        ("+14155550100", SenderKind.LONG_CODE, 1.0, ("default", "alerts")),
        ("12345", SenderKind.SHORT_CODE, 50.0, ("default",)),
        (POWERPACK, SenderKind.POWERPACK, 12.5, ("bulk",)),
    ]
    assert senders[1].countries == frozenset({"US"})
    assert senders[0].created_at is not None
    assert senders[0].home == "US"
    with pytest.raises(SenderExists) as exists:
        await rig.directory.add("+14155550100")
    assert exists.value.existing.id == first.id
    changed = await rig.directory.update(short.id, mps=80, pools=["alerts"])
    assert changed is not None
    assert (changed.mps, changed.pools) == (80.0, ("alerts",))
    assert [s.id for s in rig.directory.registry.pool("alerts")] == [first.id, short.id]
    assert await rig.directory.remove(pack.address) is not None
    assert await rig.directory.remove(pack.id) is None
    assert rig.directory.registry.pool("bulk") == []
    assert await store.revision() == before + 5


async def test_a_pool_spreads_new_recipients_over_its_least_busy_senders(rig: Rig) -> None:
    for address in ("+14155550100", "+14155550101", "+14155550102"):
        await rig.directory.add(address)
    chosen = [await rig.choose(f"+1415555{n:04d}") for n in range(30)]
    assert {chosen.count(a) for a in set(chosen)} == {10}  # ten each: a slot each, in turn


async def test_a_recipient_keeps_its_sender_across_a_restart_until_it_leaves_the_pool(
    rig: Rig,
) -> None:
    for address in ("+14155550100", "+14155550101"):
        await rig.directory.add(address)
    first = await rig.choose("+14155552671")
    # However busy its sender gets, the recipient keeps it...
    assert [await rig.choose("+14155552671") for _ in range(5)] == [first] * 5
    # ...and a worker started after this one stopped reads the same from the database.
    await rig.directory.aclose()
    restarted = rig.another_process()
    await restarted.refresh()
    choice = await restarted.choose("default", "+14155552671", "US", pace_prefix="", wait=False)
    assert choice is not None
    assert choice.sender.address == first
    # Removed from the pool: the recipient moves at once, and sticks to its new sender.
    await rig.directory.update(first, pools=["elsewhere"])
    moved = await rig.choose("+14155552671")
    assert moved != first
    assert await rig.choose("+14155552671") == moved


async def test_a_local_sender_wins_over_the_sticky_one_and_ids_keep_out_of_the_us(
    rig: Rig,
) -> None:
    await rig.directory.add("+14155550100")
    await rig.directory.add("Acme", countries=["GB"])
    assert await rig.choose("+447400123456", region="GB") == "Acme"
    assert await rig.choose("+14155552671") == "+14155550100"
    await rig.directory.add("+16135550100")  # a Canadian number joins the default pool
    assert await rig.choose("+16135552671", region="CA") == "+16135550100"
    french = await rig.directory.choose("default", "+33612345678", "FR", pace_prefix="", wait=False)
    assert french is not None
    assert french.sender.address != "Acme"


async def test_another_process_sees_a_removal_at_its_next_refresh(rig: Rig) -> None:
    kept = await rig.directory.add("+14155550100")
    gone = await rig.directory.add("+14155550101")
    worker = rig.another_process()
    await worker.refresh()
    await rig.directory.remove(gone.id)
    await worker.maybe_refresh()  # check_every=0: every call looks
    for n in range(10):
        choice = await worker.choose(
            "default", f"+1415555{n:04d}", "US", pace_prefix="", wait=False
        )
        assert choice is not None
        assert choice.sender.id == kept.id


async def test_routing_refuses_what_no_sender_may_send(rig: Rig) -> None:
    from smsgate.domain.errors import DomainError
    from smsgate.domain.phone import parse_phone_number

    us = parse_phone_number("+14155552671")
    # Nothing registered: the default sender, as before the registry.
    route = rig.directory.route(None, None, us)
    assert (route.sender, route.pool) == (DEFAULT, None)
    assert rig.directory.route(DEFAULT, None, us).sender == DEFAULT
    await rig.directory.add("Acme")
    cases: list[tuple[object, object, str]] = [
        ("Acme", None, "sender_not_allowed"),
        ("+19999999999", None, "unknown_sender"),
    ]
    cases += [(None, "nope", "unknown_pool"), (None, None, "sender_not_allowed")]
    cases += [("Acme", "default", "invalid_request"), (7, None, "invalid_field_type")]
    for from_, pool, code in cases:
        with pytest.raises(DomainError) as refused:
            rig.directory.route(from_, pool, us)
        assert refused.value.code == code, (from_, pool)
    gb = parse_phone_number("+447400123456")
    assert rig.directory.route(None, None, gb).pool == "default"


async def test_a_queued_message_of_a_pool_goes_from_the_sender_its_claim_stored(
    rig: Rig, migrated: str
) -> None:
    await rig.directory.add("+14155550100")
    await rig.directory.add("+14155550101")
    store = MessageStore(make_sessions(rig.engine))
    queue = QueueStore(rig.engine)
    provider = RecordingProvider(RateLimited(error="slow down", retry_after=30))
    now = [datetime.now(UTC)]
    dispatcher = Dispatcher(
        Outlets.single(Outlet(provider, None)),
        store,
        queue,
        rig.pacing,
        retry=RetryPlan(max_attempts=5, max_age=timedelta(hours=1)),
        clock=lambda: now[0],
        rng=random.Random(3),
        senders=rig.directory,
    )
    try:
        await queue.add_batch(
            NewBatch(
                messages=[
                    QueuedMessage(f"+1415555267{n}", "hi", "GSM-7", 1, None, pool="default")
                    for n in range(3)
                ],
                provider="fake",
                sender=DEFAULT,
                due_at=now[0],
                expires_at=None,
                recipients=3,
            )
        )
        due = await queue.due(now[0], limit=10)
        assert [m.sender for m in due] == [None, None, None]  # chosen at the hand-off
        # The first hand-off is rate-limited: only its sender is held back.
        assert await dispatcher.dispatch(due[0]) is Dispatched.RETRY
        limited = provider.sent[0].sender
        assert limited is not None
        for message in due[1:]:
            assert await dispatcher.dispatch(message) is Dispatched.HANDED_OVER
        others = [sms.sender.address for sms in provider.sent[1:] if sms.sender is not None]
        assert len(others) == 2
        assert limited.address not in others
        for message, sms in zip(due[1:], provider.sent[1:], strict=True):
            stored = await store.get(message.id)
            assert stored is not None
            assert sms.sender is not None
            assert (stored.status, stored.sender, stored.pool) == (
                S.QUEUED,
                sms.sender.address,
                "default",
            )
    finally:
        await store.close()


async def test_a_message_whose_pool_emptied_fails_and_sends_nothing(rig: Rig) -> None:
    sender = await rig.directory.add("+14155550100", pools=["alerts"])
    store = MessageStore(make_sessions(rig.engine))
    queue = QueueStore(rig.engine)
    provider = RecordingProvider()
    dispatcher = Dispatcher(
        Outlets.single(Outlet(provider, None)), store, queue, rig.pacing, senders=rig.directory
    )
    try:
        now = datetime.now(UTC)
        await queue.add_batch(
            NewBatch(
                messages=[QueuedMessage("+14155552671", "hi", "GSM-7", 1, None, pool="alerts")],
                provider="fake",
                sender=DEFAULT,
                due_at=now,
                expires_at=None,
                recipients=1,
            )
        )
        (message,) = await queue.due(now, limit=1)
        await rig.directory.remove(sender.id)
        assert await dispatcher.dispatch(message) is Dispatched.GAVE_UP
        stored = await store.get(message.id)
        assert stored is not None
        assert stored.status is S.FAILED
        assert "nothing was sent" in (stored.error_reason or "")
        assert provider.sent == []
    finally:
        await store.close()


class CountingStore(SenderStore):
    """The real store, counting the sticky reads it is asked for."""

    reads = 0

    async def sticky(self, pool: str, to: str) -> str | None:
        self.reads += 1
        return await super().sticky(pool, to)


async def test_sticky_choices_are_written_behind_and_read_once(rig: Rig) -> None:
    import asyncio

    from smsgate.services.sticky_senders import StickySenders

    sender = await rig.directory.add("+14155550100")
    store = CountingStore(rig.engine)
    sticky = StickySenders(store, flush_every=0.05)
    assert await sticky.get("default", "+14155552671") is None
    assert store.reads == 1
    sticky.set("default", "+14155552671", sender.id)
    assert await SenderStore(rig.engine).sticky("default", "+14155552671") is None  # not yet
    await asyncio.sleep(0.3)
    assert await SenderStore(rig.engine).sticky("default", "+14155552671") == sender.id
    # Known in this process: no read; read with a queued message: no read either.
    assert await sticky.get("default", "+14155552671") == sender.id
    assert await sticky.get("default", "+14155552672", None) is None
    assert store.reads == 1
    # What is still pending when the process stops is written then.
    sticky.set("default", "+14155552673", sender.id)
    await sticky.aclose()
    assert await SenderStore(rig.engine).sticky("default", "+14155552673") == sender.id


async def test_two_registrations_of_one_address_at_once_make_one_sender(rig: Rig) -> None:
    import asyncio

    other = rig.another_process()
    results = await asyncio.gather(
        rig.directory.add("+14155550100"), other.add("+14155550100"), return_exceptions=True
    )
    added = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, SenderExists)]
    assert (len(added), len(refused)) == (1, 1), results
    assert refused[0].existing.address == "+14155550100"
    _, senders = await SenderStore(rig.engine).load()
    assert [s.address for s in senders] == ["+14155550100"]
