"""Queued, bulk and scheduled sending over real HTTP, through the Plivo adapter to the emulator.

The app runs under uvicorn with its in-process dispatcher; the emulator records every send,
so "sent exactly once" and "sent on time" are read from what Plivo would have received.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from smsgate.api.app import create_app
from smsgate.config import Settings
from smsgate.emulator import EmulatorServer
from tests.conftest import ServeApp
from tests.support.queued import batch_counts, sends, wait_for
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration

SERVE = ServeApp


def numbers(count: int, start: int = 1000) -> list[str]:
    return [f"+1415555{n:04d}" for n in range(start, start + count)]


def post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/messages", json=body, timeout=30)


def test_a_batch_is_answered_202_then_every_number_is_sent_exactly_once(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve(sender_mps=0)
    recipients = numbers(300)
    response = post(
        url, {"to": [*recipients, "+1 415", recipients[0]], "text": "Your order shipped"}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["accepted"], body["refused"]) == (300, 2)
    assert [e["code"] for e in body["errors"]] == ["number_too_short", "duplicate_recipient"]
    assert [e["index"] for e in body["errors"]] == [300, 301]
    wait_for(lambda: len(sends(emulator)) >= 300, 30)
    wait_for(lambda: "accepted" not in batch_counts(url, body["batch_id"]), 10)
    sent_to = Counter(r.body["dst"] for r in sends(emulator))  # type: ignore[index]
    assert sent_to == Counter(recipients)
    counts = batch_counts(url, body["batch_id"])
    assert sum(counts.values()) == 300
    assert set(counts) <= {"queued", "sent", "delivered"}


def test_a_scheduled_message_goes_out_on_time(serve: SERVE, emulator: EmulatorServer) -> None:
    url = serve()
    send_at = datetime.now(UTC) + timedelta(seconds=2)
    response = post(url, {"to": "+14155552671", "text": "Reminder", "send_at": send_at.isoformat()})
    assert response.status_code == 202, response.text
    assert response.json()["messages"][0]["status"] == "accepted"
    time.sleep(1.0)
    assert sends(emulator) == []  # not early
    wait_for(lambda: len(sends(emulator)) == 1, 5)
    (sent,) = sends(emulator)
    assert abs(sent.time - send_at.timestamp()) < 1.0


def test_canceling_a_scheduled_batch_stops_it_and_counts_what_it_stopped(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve()
    # Far enough ahead that a slow machine cancels before it is due; then waited out.
    due = datetime.now(UTC) + timedelta(seconds=4)
    body = post(url, {"to": numbers(5), "text": "Sale!", "send_at": due.isoformat()}).json()
    canceled = httpx.post(f"{url}/api/v1/batches/{body['batch_id']}/cancel", timeout=10)
    assert canceled.status_code == 200
    assert canceled.json()["canceled"] == 5
    assert canceled.json()["counts"]["canceled"] == 5
    assert canceled.json()["canceled_at"] is not None
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 1.5)
    assert sends(emulator) == []
    again = httpx.post(f"{url}/api/v1/batches/{body['batch_id']}/cancel", timeout=10)
    assert again.json()["canceled"] == 0


def test_a_message_already_handed_over_cannot_be_canceled(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve()
    body = post(url, {"to": "+14155552671", "text": "hi", "mode": "queued"}).json()
    message_id = body["messages"][0]["id"]
    wait_for(lambda: len(sends(emulator)) == 1, 5)
    wait_for(
        lambda: httpx.get(f"{url}/api/v1/messages/{message_id}").json()["status"] != "sending", 5
    )
    answer = httpx.post(f"{url}/api/v1/messages/{message_id}/cancel", timeout=10)
    assert answer.status_code == 409
    assert answer.json()["code"] == "not_cancelable"
    missing = httpx.post(f"{url}/api/v1/messages/01NOSUCHMESSAGE00000000000/cancel")
    assert (missing.status_code, missing.json()["code"]) == (404, "message_not_found")


def test_messages_past_their_validity_expire_unsent(serve: SERVE, emulator: EmulatorServer) -> None:
    # One send every 2 s: the fourth slot comes 6 s after the first, past a validity of 5 s.
    url = serve(sender_mps=0.5)
    body = post(url, {"to": numbers(4), "text": "Flash sale", "validity": 5}).json()
    assert body["expires_at"] is not None
    wait_for(lambda: "accepted" not in batch_counts(url, body["batch_id"]), 15)
    wait_for(lambda: "sending" not in batch_counts(url, body["batch_id"]), 5)
    counts = batch_counts(url, body["batch_id"])
    assert counts.get("expired") == 1
    assert len(sends(emulator)) == 3


def test_plivo_unavailable_is_retried_until_it_takes_the_message(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve()
    # The adapter's own retries (within one deadline) fail too; the dispatcher retries later.
    emulator.set_faults(status=503, times=4)
    body = post(url, {"to": "+14155552671", "text": "hi", "mode": "queued"}).json()
    message_id = body["messages"][0]["id"]
    wait_for(
        lambda: (
            httpx.get(f"{url}/api/v1/messages/{message_id}").json()["status"]
            in {"queued", "sent", "delivered"}
        ),
        20,
    )
    message = httpx.get(f"{url}/api/v1/messages/{message_id}").json()
    assert message["attempts"] >= 2
    assert "retry" in [e["source"] for e in message["events"]]
    assert len(sends(emulator)) == 1  # the 503s sent nothing; one message went out


def test_pacing_holds_the_configured_rate(serve: SERVE, emulator: EmulatorServer) -> None:
    rate = 10.0
    url = serve(sender_mps=rate)
    post(url, {"to": numbers(201), "text": "paced"})
    wait_for(lambda: len(sends(emulator)) >= 201, 40)
    times = sorted(r.time for r in sends(emulator))
    measured = (len(times) - 1) / (times[-1] - times[0])  # 200 intervals, about 20 s
    assert abs(measured - rate) / rate < 0.05, measured


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"to": [], "text": "hi"}, "empty_recipients"),
        ({"to": ["nope", "+1"], "text": "hi"}, "no_valid_recipients"),
        ({"to": "+14155552671", "text": "hi", "send_at": "tomorrow"}, "invalid_send_at"),
        ({"to": "+14155552671", "text": "hi", "send_at": "2030-01-01T00:00:00"}, "invalid_send_at"),
        (
            {"to": "+14155552671", "text": "hi", "send_at": "2099-01-01T00:00:00Z"},
            "invalid_send_at",
        ),
        ({"to": ["+14155552671"], "text": "hi", "mode": "now"}, "invalid_mode"),
        ({"to": "+14155552671", "text": "hi", "mode": "later"}, "invalid_mode"),
        ({"to": "+14155552671", "text": "hi", "mode": "queued", "validity": 1}, "invalid_validity"),
        ({"to": "+14155552671", "text": "hi", "validity": 60}, "invalid_validity"),
        (
            {"to": "+14155552671", "text": "hi", "mode": "queued", "validity": "60"},
            "invalid_field_type",
        ),
        (
            {"to": "+14155552671", "text": "hi", "mode": "queued", "validity": True},
            "invalid_field_type",
        ),
        ({"to": {"n": 1}, "text": "hi"}, "invalid_field_type"),
        ({"to": ["+14155552671"], "text": "x" * 2000}, "text_too_long"),
        ({"to": ["+14155552671"], "text": "hi", "priority": 1}, "unknown_field"),
    ],
)
def test_a_batch_request_that_cannot_be_queued_is_refused_and_stores_nothing(
    serve: SERVE, emulator: EmulatorServer, body: dict[str, Any], code: str
) -> None:
    url = serve()
    response = post(url, body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    assert response.json()["success"] is False
    listed = httpx.get(f"{url}/api/v1/messages").json()["data"]
    assert listed == []


def test_no_valid_recipients_lists_each_rows_problem(serve: SERVE) -> None:
    url = serve()
    response = post(url, {"to": ["nope", 7], "text": "hi"})
    assert [e["code"] for e in response.json()["errors"]] == [
        "invalid_number_format",
        "invalid_field_type",
    ]


def test_too_many_recipients_are_refused_and_the_larger_body_cap_holds(serve: SERVE) -> None:
    url = serve()
    too_many = post(url, {"to": numbers(10_001), "text": "hi"})
    assert (too_many.status_code, too_many.json()["code"]) == (400, "too_many_recipients")
    huge = httpx.post(
        f"{url}/api/v1/messages",
        content=b'{"to": "' + b"1" * (2 * 1024 * 1024) + b'", "text": "hi"}',
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert (huge.status_code, huge.json()["code"]) == (413, "body_too_large")
    assert "1024 KiB" in huge.json()["error"]


def test_opted_out_numbers_are_reported_and_stored_rejected(serve: SERVE) -> None:
    url = serve()
    httpx.post(f"{url}/api/v1/opt-outs", json={"number": "+14155550001"}, timeout=10)
    body = post(url, {"to": ["+14155550000", "+14155550001"], "text": "hi"}).json()
    assert [m["status"] for m in body["messages"]] == ["accepted", "rejected"]
    assert body["errors"] == [
        {
            "index": 1,
            "to": "+14155550001",
            "code": "recipient_opted_out",
            "error": "The recipient opted out (replied STOP); it is stored as rejected.",
        }
    ]


def test_a_repeated_idempotency_key_returns_the_first_batch(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve()
    request = {"to": numbers(3), "text": "once"}
    headers = {"Idempotency-Key": "batch-1"}
    first = httpx.post(f"{url}/api/v1/messages", json=request, headers=headers, timeout=10)
    second = httpx.post(f"{url}/api/v1/messages", json=request, headers=headers, timeout=10)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    wait_for(lambda: len(sends(emulator)) >= 3, 10)
    time.sleep(0.3)
    assert len(sends(emulator)) == 3


def test_a_restarted_server_sends_what_was_queued_before(
    emulator: EmulatorServer, plivo_settings: Settings
) -> None:
    """The in-process dispatcher reads the database: nothing it was told lives only in memory."""
    send_at = datetime.now(UTC) + timedelta(seconds=2)
    with serve_in_thread(create_app(plivo_settings)) as first:
        body = post(first, {"to": numbers(3), "text": "later", "send_at": send_at.isoformat()})
        assert body.json()["accepted"] == 3
    time.sleep(max(0.0, (send_at - datetime.now(UTC)).total_seconds()) + 0.5)
    assert sends(emulator) == []  # due now, and nobody running to send it
    with serve_in_thread(create_app(plivo_settings)) as second:
        wait_for(lambda: len(sends(emulator)) == 3, 10)
        wait_for(lambda: "accepted" not in batch_counts(second, body.json()["batch_id"]), 5)


def test_plivo_rate_limiting_slows_the_sender_and_fails_nothing(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve(sender_mps=0)
    emulator.set_faults(status=429, retry_after=1, times=6)
    body = post(url, {"to": numbers(3), "text": "hi"}).json()
    handed_over = {"queued", "sent", "delivered"}
    wait_for(lambda: set(batch_counts(url, body["batch_id"])) <= handed_over, 20)
    assert len(sends(emulator)) == 3
    message = httpx.get(f"{url}/api/v1/messages/{body['messages'][0]['id']}", timeout=5).json()
    assert "retry" in [event["source"] for event in message["events"]]
