"""Senders as the domain reads them: kinds, rates, where they may send, and the choosing rule."""

from __future__ import annotations

import asyncio

import pytest

from smsgate.domain.errors import DomainError
from smsgate.domain.pacing import Pacer, earliest
from smsgate.domain.senders import (
    ALPHANUMERIC_REFUSED,
    DEFAULT_MPS,
    Sender,
    SenderAddress,
    SenderKind,
    SenderNotAllowed,
    SenderRegistry,
    kind_of,
    new_sender,
    prefer,
)
from smsgate.limits.pacing import SenderPacing

K = SenderKind
POWERPACK = "0e9d5d3e-8f6a-4f1b-9c51-1b2c3d4e5f60"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("+14155550100", K.LONG_CODE),
        ("+1 (415) 555-0100", K.LONG_CODE),
        ("14155550100", K.LONG_CODE),  # Plivo takes numbers without their "+"
        ("+18005550100", K.TOLL_FREE),
        ("+447400123456", K.LONG_CODE),
        ("12345", K.SHORT_CODE),
        ("87654321", K.SHORT_CODE),
        ("Acme", K.ALPHANUMERIC),
        ("Acme Shop 1", K.ALPHANUMERIC),
        (POWERPACK, K.POWERPACK),
        (POWERPACK.upper(), K.POWERPACK),
        ("Acme Shop 12", None),  # 12 characters: one too many
        ("12", None),
        ("+1234567890123456", None),
        ("ac-me", None),
        ("", None),
        ("   ", None),
    ],
)
def test_a_senders_kind_is_read_from_its_address(address: str, kind: SenderKind | None) -> None:
    assert kind_of(address) is kind


def test_each_kind_but_a_powerpack_has_a_documented_default_rate() -> None:
    assert new_sender("a", "+14155550100").mps == 1.0
    assert new_sender("b", "+18005550100").mps == DEFAULT_MPS[K.TOLL_FREE] == 25.0
    assert new_sender("c", "12345").mps == 100.0
    assert new_sender("d", "Acme").mps == 5.0
    with pytest.raises(DomainError) as refused:
        new_sender("e", POWERPACK)
    assert refused.value.code == "mps_required"
    assert new_sender("e", POWERPACK, mps=30).mps == 30.0


def test_a_number_is_stored_compact_with_its_plus_and_knows_its_country() -> None:
    sender = new_sender("a", "1 (415) 555-0100")
    assert (sender.address, sender.kind, sender.home) == ("+14155550100", K.LONG_CODE, "US")
    assert new_sender("b", "12345", countries=["us"]).home is None


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"address": "not a sender!"}, "invalid_sender"),
        ({"address": 14155550100}, "invalid_sender"),
        ({"kind": "short_code"}, "invalid_sender_kind"),
        ({"kind": "satellite"}, "invalid_sender_kind"),
        ({"kind": 3}, "invalid_sender_kind"),
        ({"mps": 0}, "invalid_mps"),
        ({"mps": -1}, "invalid_mps"),
        ({"mps": True}, "invalid_mps"),
        ({"mps": float("nan")}, "invalid_mps"),
        ({"mps": 10_001}, "invalid_mps"),
        ({"mps": "5"}, "invalid_mps"),
        ({"countries": ["XX"]}, "invalid_country"),
        ({"countries": "US"}, "invalid_field_type"),
        ({"pools": ["Bad Name"]}, "invalid_pool"),
        ({"pools": "default"}, "invalid_field_type"),
        ({"pools": [""]}, "invalid_pool"),
    ],
)
def test_a_malformed_sender_is_refused_with_its_code(changes: dict[str, object], code: str) -> None:
    fields: dict[str, object] = {"address": "+14155550100", **changes}
    address = fields.pop("address")
    with pytest.raises(DomainError) as refused:
        new_sender("a", address, **fields)  # type: ignore[arg-type]
    assert refused.value.code == code


def test_a_number_may_be_declared_toll_free_whatever_libphonenumber_reads() -> None:
    assert new_sender("a", "+14155550100", kind="toll_free").kind is K.TOLL_FREE


@pytest.mark.parametrize("country", sorted(ALPHANUMERIC_REFUSED))
def test_an_alphanumeric_id_never_sends_where_carriers_refuse_ids(country: str) -> None:
    with pytest.raises(SenderNotAllowed):
        new_sender("a", "Acme", countries=[country])
    anywhere = new_sender("a", "Acme")
    assert not anywhere.may_send_to(country)
    assert anywhere.may_send_to("GB")
    assert anywhere.refusal(country).code == "sender_not_allowed"
    assert new_sender("b", "+14155550100").may_send_to(country)


def test_a_sender_with_countries_sends_only_there() -> None:
    sender = new_sender("a", "12345", countries=["US"])
    assert sender.may_send_to("US")
    assert not sender.may_send_to("CA")
    assert not sender.may_send_to(None)
    assert "sends only to US" in sender.refusal("CA").message


def _pool() -> list[Sender]:
    return [
        new_sender("us1", "+14155550100"),
        new_sender("us2", "+14155550101"),
        new_sender("ca1", "+16135550100"),
        new_sender("gb-id", "Acme", countries=["GB"]),
    ]


def test_a_local_sender_is_preferred_to_any_other() -> None:
    pool = _pool()
    assert [s.id for s in prefer(pool, "CA")] == ["ca1"]
    assert [s.id for s in prefer(pool, "US")] == ["us1", "us2"]
    assert [s.id for s in prefer(pool, "GB")] == ["gb-id"]
    # No local sender: every sender that may send there.
    assert [s.id for s in prefer(pool, "FR")] == ["us1", "us2", "ca1"]


def test_the_sticky_sender_is_kept_when_it_is_still_a_local_one() -> None:
    pool = _pool()
    assert [s.id for s in prefer(pool, "US", sticky="us2")] == ["us2"]
    # A sticky sender that is not local where a local one exists gives way: geo comes first.
    assert [s.id for s in prefer(pool, "CA", sticky="us1")] == ["ca1"]
    # One that left the pool is forgotten: its recipient moves.
    assert [s.id for s in prefer(pool, "US", sticky="gone")] == ["us1", "us2"]


def test_no_sender_may_send_where_every_one_is_refused() -> None:
    ids = [new_sender("a", "Acme"), new_sender("b", "12345", countries=["GB"])]
    assert prefer(ids, "US") == []


def test_the_least_busy_sender_is_the_one_whose_next_slot_is_first() -> None:
    slow, fast = Pacer(rate=1), Pacer(rate=4)
    picks = []
    for _ in range(10):
        index = earliest([slow, fast], now=0.0)
        picks.append(index)
        [slow, fast][index].reserve(0.0)
    # Over the first two seconds the fast sender takes four slots for each of the slow one's.
    assert picks.count(1) == 8
    assert picks.count(0) == 2
    assert earliest([Pacer(rate=1), Pacer(rate=1)], now=5.0) == 0  # a tie: the first


@pytest.mark.anyio
async def test_in_memory_pacing_spreads_a_burst_over_a_pool_at_each_senders_rate() -> None:
    clock = [0.0]
    pacing = SenderPacing(rate=None, clock=lambda: clock[0])
    pool = [("+14155550100", 1.0), ("+14155550101", 1.0), ("+14155550102", 1.0)]
    chosen = [(await pacing.wait_first(pool, wait=False))[0] for _ in range(300)]
    # Three numbers at one a second each: a hundred each, taken in turn.
    assert [chosen.count(index) for index in range(3)] == [100, 100, 100]
    assert chosen[:6] == [0, 1, 2, 0, 1, 2]
    # Their schedules are the senders' own: a single-sender wait sees the slots taken.
    pacing_wait = SenderPacing(rate=None, clock=lambda: clock[0])
    await pacing_wait.wait_first(pool[:1], wait=False)
    index, waited = await pacing_wait.wait_first(pool[:1], wait=False)
    assert (index, waited) == (0, True)


@pytest.mark.anyio
async def test_a_429_holds_back_only_the_sender_it_came_for() -> None:
    clock = [0.0]
    pacing = SenderPacing(rate=None, clock=lambda: clock[0])
    pool = [("+14155550100", 1.0), ("+14155550101", 1.0)]
    pacing.hold("+14155550100", 30.0)
    chosen = [(await pacing.wait_first(pool, wait=False))[0] for _ in range(20)]
    assert chosen == [1] * 20  # the other number's next slot stays sooner for 20 s


def test_the_registry_finds_a_sender_by_id_or_by_address_as_written() -> None:
    registry = SenderRegistry(tuple(_pool()))
    assert registry.find("us1") is not None
    found = registry.find("1 415 555 0101")
    assert found is not None
    assert found.id == "us2"
    assert registry.find("+19999999999") is None
    assert [s.id for s in registry.pool("default")] == ["us1", "us2", "ca1", "gb-id"]
    assert registry.pool("marketing") == []
    assert SenderRegistry().pool("default") == []


def test_a_stored_address_tells_the_provider_whether_it_is_a_powerpack() -> None:
    assert SenderAddress.of(POWERPACK).powerpack
    assert not SenderAddress.of("+1 415 555 0100").powerpack
    assert SenderAddress.of("+1 415 555 0100").address == "+14155550100"


@pytest.mark.anyio
async def test_a_slot_taken_before_a_429_is_taken_again_on_another_sender() -> None:
    pacing = SenderPacing(rate=None)
    pool = [("+14155550100", 20.0), ("+14155550101", 20.0)]
    # Four slots taken on each number, 50 ms apart: the last ones are 150 ms away.
    taken = [(await pacing.wait_first(pool, wait=False))[0] for _ in range(8)]
    assert taken == [0, 1] * 4
    waiting = asyncio.ensure_future(pacing.wait_first(pool))
    await asyncio.sleep(0)
    pacing.hold("+14155550100", 5.0)  # Plivo: slow down, that number
    index, waited = await asyncio.wait_for(waiting, 2)
    # Whichever slot it had, it goes out from the number that was not held.
    assert (index, waited) == (1, True)
