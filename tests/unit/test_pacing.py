"""The pacing schedule: evenly spaced slots per sender, held back by a 429."""

from __future__ import annotations

import pytest

from smsgate.domain.pacing import Pacer


def test_slots_are_spaced_one_over_the_rate_apart_however_many_ask_at_once() -> None:
    pacer = Pacer(rate=5)
    waits = [pacer.reserve(now=100.0) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])


def test_an_idle_sender_gets_its_slot_at_once_and_builds_no_burst() -> None:
    pacer = Pacer(rate=2)
    assert pacer.reserve(now=0.0) == 0.0
    # Ten idle seconds do not bank ten seconds of slots: the next two are still spaced.
    assert pacer.reserve(now=10.0) == 0.0
    assert pacer.reserve(now=10.0) == pytest.approx(0.5)


def test_hold_until_pushes_every_later_slot_back() -> None:
    pacer = Pacer(rate=10)
    pacer.reserve(now=0.0)
    pacer.hold_until(5.0)  # Plivo said Retry-After: 5
    assert pacer.reserve(now=1.0) == pytest.approx(4.0)
    assert pacer.reserve(now=1.0) == pytest.approx(4.1)


def test_an_earlier_hold_never_brings_slots_forward() -> None:
    pacer = Pacer(rate=1)
    for _ in range(3):
        pacer.reserve(now=0.0)  # slots at 0, 1, 2; the next is at 3
    pacer.hold_until(1.0)
    assert pacer.reserve(now=0.0) == pytest.approx(3.0)


def test_without_a_rate_nothing_waits() -> None:
    pacer = Pacer(rate=None)
    assert [pacer.reserve(now=0.0) for _ in range(1000)] == [0.0] * 1000


@pytest.mark.parametrize("rate", [0, -1])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(rate=rate)
