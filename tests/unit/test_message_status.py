"""Tests of the message status state machine (smsgate.domain.message).

The expected moves are written out here by hand rather than read from the module's rank
table, so a slip in that table shows up as a failing pair instead of being copied.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.message import (
    TERMINAL,
    MessageStatus,
    Transition,
    can_transition,
    decide,
    is_terminal,
)
from smsgate.providers.plivo.callbacks import PROVIDER_STATUSES, from_provider_status

S = MessageStatus

# Every status, and the statuses it may move to. Repeats are not moves, so no status lists
# itself; the six ends list nothing.
ALLOWED: dict[MessageStatus, set[MessageStatus]] = {
    S.ACCEPTED: {
        S.SENDING,
        S.UNKNOWN,
        S.QUEUED,
        S.SENT,
        S.DELIVERED,
        S.UNDELIVERED,
        S.FAILED,
        S.REJECTED,
        S.EXPIRED,
        S.CANCELED,
    },
    S.SENDING: {
        S.UNKNOWN,
        S.QUEUED,
        S.SENT,
        S.DELIVERED,
        S.UNDELIVERED,
        S.FAILED,
        S.REJECTED,
    },
    S.UNKNOWN: {S.QUEUED, S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED},
    S.QUEUED: {S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED},
    S.SENT: {S.DELIVERED, S.UNDELIVERED, S.FAILED},
    S.DELIVERED: set(),
    S.UNDELIVERED: set(),
    S.FAILED: set(),
    S.REJECTED: set(),
    S.EXPIRED: set(),
    S.CANCELED: set(),
}

# How far along each status is; the ends off the main track count as last.
RANK = {
    S.ACCEPTED: 0,
    S.SENDING: 1,
    S.UNKNOWN: 2,
    S.QUEUED: 3,
    S.SENT: 4,
    S.DELIVERED: 5,
    S.UNDELIVERED: 5,
    S.FAILED: 5,
    S.REJECTED: 5,
    S.EXPIRED: 5,
    S.CANCELED: 5,
}

ENDS = {S.DELIVERED, S.UNDELIVERED, S.FAILED, S.REJECTED, S.EXPIRED, S.CANCELED}

PAIRS = [
    pytest.param(
        current,
        new,
        new in ALLOWED[current],
        id=f"{current} to {new} is {'allowed' if new in ALLOWED[current] else 'refused'}",
    )
    for current in MessageStatus
    for new in MessageStatus
]


def test_the_expected_table_covers_every_status() -> None:
    """The hand-written table names every status, so no pair goes unchecked."""
    assert set(ALLOWED) == set(MessageStatus) == set(RANK)


@pytest.mark.parametrize(("current", "new", "allowed"), PAIRS)
def test_can_transition_allows_exactly_the_expected_moves(
    current: MessageStatus, new: MessageStatus, allowed: bool
) -> None:
    """can_transition agrees with the hand-written table for every pair of statuses."""
    assert can_transition(current, new) is allowed


@pytest.mark.parametrize(("current", "new", "allowed"), PAIRS)
def test_decide_applies_the_expected_moves_and_keeps_the_status_otherwise(
    current: MessageStatus, new: MessageStatus, allowed: bool
) -> None:
    """decide reports what was asked, and applies it only when the table allows it."""
    decision = decide(current, new)
    assert decision == Transition(old=current, new=new, applied=allowed)
    assert decision.status == (new if allowed else current)


@pytest.mark.parametrize("status", list(MessageStatus), ids=str)
def test_a_repeated_status_is_a_no_op_not_an_error(status: MessageStatus) -> None:
    """A duplicate callback or repeated request leaves the status as it is, quietly."""
    assert decide(status, status) == Transition(old=status, new=status, applied=False)


@pytest.mark.parametrize(
    ("status", "terminal"),
    [pytest.param(status, status in ENDS, id=str(status)) for status in MessageStatus],
)
def test_exactly_the_six_ends_are_terminal(status: MessageStatus, terminal: bool) -> None:
    """is_terminal and TERMINAL name the three Plivo outcomes and the three off-track ends."""
    assert is_terminal(status) is terminal
    assert (status in TERMINAL) is terminal


@given(st.lists(st.sampled_from(MessageStatus), max_size=30))
def test_no_sequence_of_reports_moves_a_message_back_or_out_of_an_end(
    reports: list[MessageStatus],
) -> None:
    """Whatever order callbacks arrive in, the rank never falls and an end never changes."""
    status = S.ACCEPTED
    for report in reports:
        decision = decide(status, report)
        assert decision.old == status
        after = decision.status
        assert RANK[after] >= RANK[status]
        if status in ENDS:
            assert after == status
        status = after


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("queued", S.QUEUED, id="queued"),
        pytest.param("sent", S.SENT, id="sent"),
        pytest.param("delivered", S.DELIVERED, id="delivered"),
        pytest.param("undelivered", S.UNDELIVERED, id="undelivered"),
        pytest.param("failed", S.FAILED, id="failed"),
        pytest.param("rejected", S.REJECTED, id="rejected from older docs"),
        pytest.param("DELIVERED", S.DELIVERED, id="upper case"),
        pytest.param("Undelivered", S.UNDELIVERED, id="capitalised"),
        pytest.param("read", None, id="read is WhatsApp only"),
        pytest.param("received", None, id="inbound received is not ours"),
        pytest.param("accepted", None, id="our own accepted is not a Plivo status"),
        pytest.param("unknown", None, id="our own unknown is not a Plivo status"),
        pytest.param("", None, id="empty"),
    ],
)
def test_plivo_callback_statuses_map_to_ours(value: str, expected: MessageStatus | None) -> None:
    """from_provider_status reads Plivo's Status in any case and gives None for others."""
    assert from_provider_status(value) == expected


def test_every_plivo_status_maps_to_the_status_of_the_same_name() -> None:
    """PROVIDER_STATUSES holds Plivo's six SMS statuses, each to its namesake."""
    assert dict(PROVIDER_STATUSES) == {
        "queued": S.QUEUED,
        "sent": S.SENT,
        "delivered": S.DELIVERED,
        "undelivered": S.UNDELIVERED,
        "failed": S.FAILED,
        "rejected": S.REJECTED,
    }
