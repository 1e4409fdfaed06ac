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


def test_a_status_change_names_its_sender_and_pool_when_it_has_them() -> None:
    event = NewEvent("evt_01J", "message.status_changed", AT, change(sender="12345", pool="alerts"))
    assert DOCUMENTS.webhook_event(event).endswith(
        '"batch_id":null,"from":"12345","pool":"alerts"}}'
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


PRICED = Documents(meaning, currency="USD")  # as bootstrap builds it, from the price table


def test_a_message_names_the_price_tables_currency_beside_its_money() -> None:
    """Issue #13, item 17: money had no currency anywhere."""
    document = PRICED.message(message(amount=Decimal("0.00350")))
    assert document["estimated_cost"] == "0.0035"
    assert document["amount"] == "0.00350"
    assert document["currency"] == "USD"
    charged_only = PRICED.message(message(estimated_cost=None, amount=Decimal("0.00350")))
    assert charged_only["currency"] == "USD"  # Plivo bills in the table's currency


@pytest.mark.parametrize(
    ("documents", "estimated"),
    [(PRICED, None), (DOCUMENTS, Decimal("0.0035"))],
    ids=["nothing priced or charged", "no price table"],
)
def test_the_currency_is_null_when_there_is_no_money_or_no_table_to_name_it(
    documents: Documents, estimated: Decimal | None
) -> None:
    document = documents.message(message(estimated_cost=estimated))
    assert "currency" in document
    assert document["currency"] is None


def test_the_csv_row_ends_with_the_currency_and_its_other_columns_keep_their_places() -> None:
    assert CSV_COLUMNS[-1] == "currency"
    assert CSV_COLUMNS.index("estimated_cost") == 12
    assert CSV_COLUMNS.index("updated_at") == 14
    row = PRICED.csv_row(message())
    by_column = dict(zip(CSV_COLUMNS, row, strict=True))
    assert by_column["estimated_cost"] == "0.0035"
    assert by_column["currency"] == "USD"
    unpriced = PRICED.csv_row(message(estimated_cost=None))
    assert dict(zip(CSV_COLUMNS, unpriced, strict=True))["currency"] == ""


def test_a_status_change_names_the_currency_when_smsgate_has_a_price_table() -> None:
    event = NewEvent("evt_01J", "message.status_changed", AT, change())
    body = PRICED.webhook_event(event)
    assert '"amount":"0.00700","currency":"USD","batch_id":null}}' in body
    nothing = NewEvent("evt_3", "message.status_changed", AT, change(estimated_cost=None))
    assert json.loads(PRICED.webhook_event(nothing))["data"]["currency"] == "USD"  # charged
    unpriced = change(estimated_cost=None, amount=None)
    data = json.loads(PRICED.webhook_event(NewEvent("evt_4", "x", AT, unpriced)))["data"]
    assert data["currency"] is None
    # Without a table the body is byte for byte what it was (the first test above).
    assert "currency" not in DOCUMENTS.webhook_event(event)
