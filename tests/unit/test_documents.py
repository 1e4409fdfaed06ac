"""The public documents keep their exact shape: the webhook event body byte for byte, and
money as each document has always shown it (``str`` in a message, five decimals in an event)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from smsgate.db.rows import Message
from smsgate.db.webhook_rows import NewEvent, StatusChange
from smsgate.domain.message import MessageStatus
from smsgate.services.documents import CSV_COLUMNS, Documents

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def meaning(code: str) -> str | None:
    return {"30": "Spam detected"}.get(code, f"Unknown code {code}")


DOCUMENTS = Documents(meaning)


def change(**fields: object) -> StatusChange:
    values: dict[str, object] = {
        "message_id": "01JMSG",
        "to": "+14155550123",
        "status": "undelivered",
        "sequence": 42,
        "error_code": "30",
        "error_reason": "Carrier said no",
        "segments": 2,
        "estimated_cost": Decimal("0.0070"),
        "amount": Decimal("0.007"),
        "batch_id": None,
    }
    values.update(fields)
    return StatusChange(**values)  # type: ignore[arg-type]


def test_a_status_change_renders_as_the_exact_compact_body_receivers_verify() -> None:
    event = NewEvent("evt_01J", "message.status_changed", AT, change())
    assert DOCUMENTS.webhook_event(event) == (
        '{"id":"evt_01J","type":"message.status_changed",'
        '"occurred_at":"2026-06-01T12:00:00+00:00","data":{"id":"01JMSG","to":"+14155550123",'
        '"status":"undelivered","sequence":42,"error":{"code":"30","meaning":"Spam detected",'
        '"reason":"Carrier said no"},"segments":2,"estimated_cost":"0.00700",'
        '"amount":"0.00700","batch_id":null}}'
    )


@pytest.mark.parametrize(
    ("code", "reason", "error"),
    [
        (None, None, None),
        ("", None, {"code": "", "meaning": None, "reason": None}),
        (None, "Timed out", {"code": None, "meaning": None, "reason": "Timed out"}),
    ],
    ids=["no error", "an empty code has no meaning", "a reason alone"],
)
def test_an_events_error_is_shown_only_when_there_is_one(
    code: str | None, reason: str | None, error: object
) -> None:
    event = NewEvent(
        "evt_1", "message.status_changed", AT, change(error_code=code, error_reason=reason)
    )
    assert json.loads(DOCUMENTS.webhook_event(event))["data"]["error"] == error


def test_outbox_data_is_posted_as_it_was_stored_with_text_left_unescaped() -> None:
    event = NewEvent("evt_2", "message.inbound", AT, {"text": "Grüße", "from": "+1415"})
    body = DOCUMENTS.webhook_event(event)
    assert body.endswith('"data":{"text":"Grüße","from":"+1415"}}')


def message(**fields: object) -> Message:
    values: dict[str, object] = {
        "id": "01JMSG",
        "to": "+14155550123",
        "sender": None,
        "text": "hi",
        "encoding": "GSM-7",
        "segments": 1,
        "estimated_cost": Decimal("0.0035"),
        "status": MessageStatus.FAILED,
        "provider": "plivo",
        "provider_message_uuid": None,
        "error_code": None,
        "error_reason": "no route",
        "attempts": 1,
        "units": None,
        "amount": None,
        "created_at": AT,
        "updated_at": AT,
    }
    values.update(fields)
    return Message(**values)  # type: ignore[arg-type]


def test_a_message_shows_money_as_stored_and_an_error_without_a_code_has_no_meaning() -> None:
    document = DOCUMENTS.message(message())
    assert document["estimated_cost"] == "0.0035"  # str(), not five decimals
    assert document["amount"] is None
    assert document["error"] == {"code": None, "meaning": None, "reason": "no route"}
    assert "events" not in document


def test_the_csv_row_follows_its_columns_with_the_codes_meaning() -> None:
    row = DOCUMENTS.csv_row(message(error_code="30", amount=Decimal("0.00350")))
    by_column = dict(zip(CSV_COLUMNS, row, strict=True))
    assert by_column["error_meaning"] == "Spam detected"
    assert by_column["amount"] == "0.00350"
    assert by_column["units"] == ""
