"""Rows with their own text and timing, queued by the Enqueuer on real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from smsgate.db.batches import StoredBatch
from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.queue import QueueStore
from smsgate.db.rows import Message
from smsgate.db.store import MessageStore
from smsgate.domain.errors import DomainError
from smsgate.services.outlets import Outlet, Outlets
from smsgate.services.queueing import BatchRefused, Enqueuer, Row
from tests.support.fakes import RecordingProvider

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Rig:
    enqueuer: Enqueuer
    messages: MessageStore
    announced: list[tuple[StoredBatch, datetime]]

    async def message(self, message_id: str) -> Message:
        message = await self.messages.get(message_id)
        assert message is not None
        return message


@pytest.fixture
async def rig(migrated: str) -> AsyncIterator[Rig]:
    engine = make_engine(migrated)
    messages = MessageStore(make_sessions(engine))
    announced: list[tuple[StoredBatch, datetime]] = []
    plivo = RecordingProvider()
    plivo.name = "plivo"
    enqueuer = Enqueuer(
        QueueStore(engine),
        Outlets.single(Outlet(plivo, None)),
        sender_id="+14155550199",
        announce=lambda batch, due: announced.append((batch, due)),
        clock=lambda: NOW,
    )
    try:
        yield Rig(enqueuer, messages, announced)
    finally:
        await messages.close()
        await engine.dispose()


def close_to(moment: datetime | None, expected: datetime) -> bool:
    return moment is not None and abs(moment - expected) < timedelta(milliseconds=1)


async def test_each_row_is_stored_with_its_own_text_and_timing_or_the_batchs(rig: Rig) -> None:
    in_an_hour = NOW + timedelta(hours=1)
    report = await rig.enqueuer.submit_rows(
        [
            Row("+14155550001", "batch timing", line=2),
            Row("+14155550002", "own send_at", send_at=in_an_hour, line=3),
            Row("+14155550003", "own validity", validity_s=60, line=4),
            Row("+14155550004", "own both", send_at=in_an_hour, validity_s=30, line=5),
        ],
        send_at=NOW + timedelta(minutes=5),
        validity_s=600,
    )
    assert report.errors == []
    assert [(p.index, p.line) for p in report.recipients] == [(0, 2), (1, 3), (2, 4), (3, 5)]
    stored = [await rig.message(i) for i in report.batch.message_ids]
    assert [m.text for m in stored] == ["batch timing", "own send_at", "own validity", "own both"]
    five_minutes = NOW + timedelta(minutes=5)
    expected = [
        (five_minutes, five_minutes + timedelta(seconds=600)),
        (in_an_hour, in_an_hour + timedelta(seconds=600)),
        (five_minutes, five_minutes + timedelta(seconds=60)),
        (in_an_hour, in_an_hour + timedelta(seconds=30)),
    ]
    for message, (due_at, expires_at) in zip(stored, expected, strict=True):
        assert close_to(message.due_at, due_at), message
        assert close_to(message.expires_at, expires_at), message
    # The engine hears of the batch once it is stored, with its first due time.
    assert [(batch.id, due) for batch, due in rig.announced] == [(report.batch.id, five_minutes)]


async def test_a_rows_timing_is_checked_for_that_row_alone(rig: Rig) -> None:
    report = await rig.enqueuer.submit_rows(
        [
            Row("+14155550001", "fine"),
            Row("+14155550002", "no zone", send_at=datetime(2026, 6, 2, 9)),
            Row("+14155550003", "too far", send_at=NOW + timedelta(days=31)),
            Row("+14155550004", "too short", validity_s=1),
            Row("+14155550005", " "),
            Row("+14155550006", "x" * 1601),
            Row("+14155550007", "", problem=DomainError("unreadable", code="invalid_row")),
        ]
    )
    assert [(e.index, e.code) for e in report.errors] == [
        (1, "invalid_send_at"),
        (2, "invalid_send_at"),
        (3, "invalid_validity"),
        (4, "empty_field"),
        (5, "text_too_long"),
        (6, "invalid_row"),
    ]
    assert "row's send_at" in report.errors[0].error
    assert len(report.batch.message_ids) == 1


async def test_a_number_refused_for_its_text_does_not_count_as_already_in_the_batch(
    rig: Rig,
) -> None:
    report = await rig.enqueuer.submit_rows(
        [Row("+14155550001", ""), Row("+14155550001", "the one to send")]
    )
    assert [e.code for e in report.errors] == ["empty_field"]
    (message_id,) = report.batch.message_ids
    assert (await rig.message(message_id)).text == "the one to send"


async def test_a_bad_batch_wide_timing_refuses_the_whole_batch(rig: Rig) -> None:
    rows = [Row("+14155550001", "hi")]
    with pytest.raises(DomainError) as refused:
        await rig.enqueuer.submit_rows(rows, validity_s=1)
    assert refused.value.code == "invalid_validity"
    with pytest.raises(BatchRefused) as nothing:
        await rig.enqueuer.submit_rows([Row("nope", "hi", line=2)])
    assert nothing.value.code == "no_valid_recipients"
    assert [row.as_json()["row"] for row in nothing.value.rows] == [2]
    assert rig.announced == []


async def test_a_list_of_numbers_still_shares_one_text_and_one_timing(rig: Rig) -> None:
    report = await rig.enqueuer.submit(
        ["+14155550001", "+14155550002", "nope"],
        "same",
        send_at=NOW + timedelta(minutes=1),
        validity_s=60,
    )
    for message_id in report.batch.message_ids:
        message = await rig.message(message_id)
        assert message.text == "same"
        assert close_to(message.due_at, NOW + timedelta(minutes=1))
        assert close_to(message.expires_at, NOW + timedelta(minutes=2))
    assert [p.line for p in report.recipients] == [None, None]
    assert list(report.errors[0].as_json()) == ["index", "to", "code", "error"]  # no "row"
