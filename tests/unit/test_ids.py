"""Message ids sort in the order they were made, even many in one millisecond."""

from __future__ import annotations

from ulid import ULID

from smsgate.db.ids import new_id


def test_ids_made_in_a_burst_are_strictly_increasing_and_unique() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 26 for i in ids)


def test_ids_are_ulids_carrying_their_creation_time() -> None:
    first, second = ULID.from_str(new_id()), ULID.from_str(new_id())
    assert 0 <= second.milliseconds - first.milliseconds < 1000
