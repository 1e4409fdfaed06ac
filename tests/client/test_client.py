"""``smsgate.Client`` against a real smsgate over HTTP, sending through the real Plivo adapter to
the emulator: every call's round trip, the typed errors and their codes, and the retries
(which answers are tried again, after how long, with the same Idempotency-Key; which never).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from smsgate import Client
from smsgate.client import (
    BadRequest,
    Batch,
    BatchAccepted,
    Conflict,
    Forbidden,
    Message,
    NotFound,
    RateLimited,
    ServerError,
    SmsgateError,
    TransportError,
    Unauthorized,
    Unprocessable,
)
from smsgate.config import Settings
from smsgate.emulator import EmulatorServer
from tests.client.conftest import OTHER, THIRD, TO, Wire, plivo_sends
from tests.conftest import SENDER, ServeApp
from tests.support.api_keys import create_key, rows
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


def test_send_then_get_then_list_every_page(serve: ServeApp, emulator: EmulatorServer) -> None:
    url = serve()
    with Client(url) as sms:
        sent = sms.send(TO, "Your code is 123456")
        assert isinstance(sent, Message)
        assert (sent.to, sent.sender, sent.text) == (TO, SENDER, "Your code is 123456")
        assert (sent.status, sent.provider, sent.encoding, sent.segments) == (
            "queued",  # Plivo took it
            "plivo",
            "GSM-7",
            1,
        )
        assert sent.provider_message_uuid in emulator.call(lambda: list(emulator.state.messages))
        assert sent.estimated_cost == Decimal("0.00350")  # the shipped price table's US rate
        assert sent.currency == "USD"  # its currency (#13, item 17)
        assert sent.amount is None
        assert sent.error is None
        assert sent.events is None
        assert sent.created_at.tzinfo is not None

        got = sms.get(sent.id)
        assert got.id == sent.id
        assert got.events is not None
        assert [e.status for e in got.events][-1] == "queued"
        assert all(e.at.tzinfo is not None and e.applied for e in got.events)

        others = [sms.send(OTHER, "hi"), sms.send(THIRD, "hi")]
        newest_first = [m.id for m in reversed([sent, *others])]
        assert [m.id for m in sms.list(limit=2)] == newest_first  # two pages and an empty one
        page = sms.list_page(limit=2)
        assert [m.id for m in page.messages] == newest_first[:2]
        assert page.next_cursor == newest_first[1]
        rest = sms.list_page(limit=2, cursor=page.next_cursor)
        assert [m.id for m in rest.messages] == newest_first[2:]
        assert rest.next_cursor is None
        assert [m.id for m in sms.list(to="+1 (415) 555-2672")] == [others[0].id]
        assert len(list(sms.list(status="queued", created_after=sent.created_at))) == 3
        assert list(sms.list(created_before=sent.created_at)) == []
        assert list(sms.list(status="failed")) == []
    assert len(plivo_sends(emulator)) == 3


def test_send_bulk_then_follow_and_cancel_the_batch(
    serve: ServeApp, emulator: EmulatorServer
) -> None:
    url = serve()
    send_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    with Client(url) as sms:
        queued = sms.send_bulk([TO, OTHER, "oops"], "Your order shipped", send_at, 3600)
        assert isinstance(queued, BatchAccepted)
        assert (queued.accepted, queued.refused) == (2, 1)
        assert queued.send_at == send_at
        assert queued.expires_at == send_at + timedelta(hours=1)
        assert [(m.index, m.to, m.status) for m in queued.messages] == [
            (0, TO, "accepted"),
            (1, OTHER, "accepted"),
        ]
        (refused,) = queued.errors
        assert (refused.index, refused.to, refused.code) == (2, "oops", "invalid_number_format")
        assert refused.message

        progress = sms.batch(queued.batch_id)
        assert isinstance(progress, Batch)
        assert (progress.id, progress.send_at, progress.validity) == (
            queued.batch_id,
            send_at,
            3600,
        )
        assert (progress.recipients, progress.invalid, progress.messages) == (3, 1, 2)
        assert progress.pending == 2
        assert progress.counts["accepted"] == 2
        assert progress.canceled is None
        assert progress.canceled_at is None

        first = queued.messages[0].id
        canceled = sms.cancel(first)
        assert (canceled.id, canceled.status) == (first, "canceled")
        assert sms.cancel(first).status == "canceled"  # again: nothing changes
        sent = sms.send(THIRD, "sent now")
        with pytest.raises(Conflict) as too_late:
            sms.cancel(sent.id)
        assert (too_late.value.code, too_late.value.status) == ("not_cancelable", 409)
        assert too_late.value.body["status"] == "queued"

        rest = sms.cancel_batch(queued.batch_id)
        assert (rest.canceled, rest.pending, rest.counts["canceled"]) == (1, 0, 2)
        assert rest.canceled_at is not None
        assert sms.get(queued.messages[1].id).status == "canceled"
    assert len(plivo_sends(emulator)) == 1


def test_errors_are_typed_and_carry_the_servers_code(serve: ServeApp) -> None:
    url = serve()
    with Client(url) as sms:
        with pytest.raises(BadRequest) as bad_number:
            sms.send("+1 415 555", "hi")
        error = bad_number.value
        assert (error.code, error.status, error.retry_after) == ("number_too_short", 400, None)
        assert error.message == error.body["error"]
        assert error.message
        assert error.request_id
        assert error.idempotency_key
        assert str(error).startswith("400 number_too_short: ")

        with pytest.raises(BadRequest, match="invalid_number_format"):
            sms.send("call me", "hi")
        with pytest.raises(BadRequest) as empty:
            sms.send_bulk([], "hi")
        assert empty.value.code == "empty_recipients"
        with pytest.raises(BadRequest) as nothing_valid:
            sms.send_bulk(["nope"], "hi")
        assert nothing_valid.value.code == "no_valid_recipients"
        assert [row["code"] for row in nothing_valid.value.body["errors"]] == [
            "invalid_number_format"
        ]
        with pytest.raises(BadRequest) as bad_page:
            sms.list_page(limit=500)
        assert bad_page.value.code == "invalid_query"

        for call, code in (
            (lambda: sms.get("01J0000000000000000000000X"), "message_not_found"),
            (lambda: sms.cancel("nope"), "message_not_found"),
            (lambda: sms.batch("nope"), "batch_not_found"),
            (lambda: sms.get("../batches/nope"), "not_found"),  # an id is one path segment
        ):
            with pytest.raises(NotFound) as missing:
                call()
            assert (missing.value.code, missing.value.status) == (code, 404)

        with pytest.raises(TypeError):
            sms.send_bulk(TO, "one number is not a list")
        with pytest.raises(ValueError, match="time zone"):
            sms.send_bulk([TO], "hi", send_at=datetime(2030, 1, 1))


def test_a_missing_or_wrong_key_is_401_and_a_read_only_key_may_not_send(
    serve: ServeApp, plivo_settings: Settings
) -> None:
    _, reader = create_key(plivo_settings.database_url, "dashboard", "read")
    url = serve()
    for key in (None, "sg_live_wrong"):
        with Client(url, key) as sms, pytest.raises(Unauthorized) as refused:
            sms.send(TO, "hi")
        assert (refused.value.code, refused.value.status) == ("unauthorized", 401)
    with Client(url, reader) as sms:
        with pytest.raises(Forbidden) as scope:
            sms.send(TO, "hi")
        assert (scope.value.code, scope.value.status) == ("insufficient_scope", 403)
        assert list(sms.list()) == []


def test_the_same_idempotency_key_gets_the_first_answer(
    serve: ServeApp, emulator: EmulatorServer
) -> None:
    url = serve()
    with Client(url) as sms:
        first = sms.send(TO, "Your order shipped", idempotency_key="order-1")
        assert sms.send(TO, "Your order shipped", idempotency_key="order-1").id == first.id
        with pytest.raises(Unprocessable) as reused:
            sms.send(TO, "Another text", idempotency_key="order-1")
        assert (reused.value.code, reused.value.status) == ("idempotency_key_reused", 422)
    assert len(plivo_sends(emulator)) == 1


def test_the_request_rate_limit_is_waited_out_and_retried_with_the_same_key(
    serve: ServeApp, plivo_settings: Settings, emulator: EmulatorServer
) -> None:
    url = serve(rate_limit="1/second", api_keys=(SecretStr("k1"),))
    wire = Wire()
    with wire.http_client() as http, Client(url, "k1", http_client=http) as sms:
        sms.send(TO, "one")
        started = time.monotonic()
        second = sms.send(OTHER, "two")
        waited = time.monotonic() - started
    assert second.status == "queued"
    assert wire.statuses == [201, 429, 201]
    assert 0.9 <= waited < 5
    first_key, refused_key, retried_key = wire.keys
    assert refused_key == retried_key
    assert first_key != refused_key
    stored = rows(plivo_settings.database_url, "SELECT to_number FROM messages")
    assert sorted(row["to_number"] for row in stored) == [TO, OTHER]
    assert len(plivo_sends(emulator)) == 2

    # With retries off, the 429 is raised with its Retry-After.
    with Client(url, "k1", max_attempts=1) as sms, pytest.raises(RateLimited) as limited:
        sms.send(THIRD, "three")
    error = limited.value
    assert (error.code, error.status, error.retry_after) == ("rate_limit_exceeded", 429, 1.0)


@pytest.mark.parametrize(("plivo", "answered"), [(503, 503), (429, 429)])
def test_plivo_unavailable_is_retried_after_a_wait_capped_by_max_retry_wait(
    serve: ServeApp, emulator: EmulatorServer, plivo: int, answered: int
) -> None:
    """smsgate answers 503 provider_unavailable (or 429 provider_rate_limited) once Plivo's
    refusals outlast its own retries; nothing was sent, so the client tries again with the same
    key, waiting 0.2 s rather than 5, and that retry sends the message the first try stored:
    one key, one stored message, one Plivo record."""
    url = serve()
    emulator.set_faults(status=plivo, times=4)  # smsgate tries Plivo up to 4 times a request
    wire = Wire()
    with wire.http_client() as http, Client(url, max_retry_wait=0.2, http_client=http) as sms:
        started = time.monotonic()
        message = sms.send(TO, "hi")
        assert time.monotonic() - started < 4.5
        stored = list(sms.list())
        shown = sms.get(message.id)
    assert message.status == "queued"
    assert wire.statuses[:2] == [answered, 201]
    assert len({key for key in wire.keys if key is not None}) == 1
    assert [m.id for m in stored] == [message.id]
    statuses = [event.status for event in shown.events or ()]
    assert statuses[:5] == ["accepted", "sending", "accepted", "sending", "queued"]
    taken = [r for r in plivo_sends(emulator) if r.status == 202]
    assert len(taken) == 1


def test_an_answer_that_may_mean_sent_is_never_retried(
    serve: ServeApp, emulator: EmulatorServer
) -> None:
    url = serve()
    wire = Wire()
    with wire.http_client() as http, Client(url, http_client=http) as sms:
        # Plivo takes the message but the connection drops before its answer: 504.
        emulator.set_faults(drop="before_response", times=1)
        with pytest.raises(ServerError) as timed_out:
            sms.send(TO, "hi")
        error = timed_out.value
        assert (error.code, error.status) == ("provider_timeout", 504)
        assert wire.statuses == [504]
        assert len(plivo_sends(emulator)) == 1
        assert error.message_id is not None
        assert error.idempotency_key is not None
        # Sending again with the error's key gets the same answer, and sends nothing.
        with pytest.raises(ServerError) as repeated:
            sms.send(TO, "hi", idempotency_key=error.idempotency_key)
        assert repeated.value.message_id == error.message_id
        assert len(plivo_sends(emulator)) == 1
        assert sms.get(error.message_id).status == "unknown"

        # Plivo answers 500: it may have taken the message; smsgate says 503 provider_error.
        emulator.set_faults(status=500, times=1)
        with pytest.raises(ServerError) as failed:
            sms.send(OTHER, "hi")
        assert (failed.value.code, failed.value.status) == ("provider_error", 503)
        assert wire.statuses == [504, 504, 200, 503]


def test_a_limit_counted_over_an_hour_is_raised_at_once(serve: ServeApp) -> None:
    url = serve(destination_limit="1/hour")
    wire = Wire()
    with wire.http_client() as http, Client(url, http_client=http) as sms:
        sms.send(TO, "hi")
        started = time.monotonic()
        with pytest.raises(RateLimited) as limited:
            sms.send(TO, "hi again")
        assert time.monotonic() - started < 1
    error = limited.value
    assert error.code == "destination_limit_exceeded"
    assert error.retry_after is not None
    assert error.retry_after > 3000
    assert wire.statuses == [201, 429]


def test_a_refused_connection_is_retried_then_raised() -> None:
    wire = Wire()
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with (
        wire.http_client() as http,
        Client(url, max_retry_wait=0.05, http_client=http) as sms,
        pytest.raises(TransportError) as refused,
    ):
        sms.send(TO, "hi")
    error = refused.value
    assert (error.code, error.status, error.maybe_sent) == ("connection_failed", None, False)
    assert isinstance(error, SmsgateError)
    assert len(wire.requests) == 3
    assert len(set(wire.keys)) == 1


def test_a_call_gives_up_at_its_timeout(serve: ServeApp, emulator: EmulatorServer) -> None:
    url = serve()
    emulator.set_faults(latency_ms=1500, times=1)
    with Client(url, timeout=0.5) as sms:
        started = time.monotonic()
        with pytest.raises(TransportError) as slow:
            sms.send(TO, "hi")
        assert time.monotonic() - started < 1.2
    assert (slow.value.code, slow.value.maybe_sent) == ("timeout", True)


def test_a_message_names_its_sender_or_pool_and_the_reply_says_which(
    serve: ServeApp, emulator: EmulatorServer
) -> None:
    url = serve()
    for sender in ({"address": "+14155550100", "pools": ["alerts"]}, {"address": "12345"}):
        assert httpx.post(f"{url}/api/v1/senders", json=sender, timeout=10).status_code == 201
    with Client(url) as sms:
        pooled = sms.send(TO, "hi", pool="alerts")
        assert (pooled.sender, pooled.pool) == ("+14155550100", "alerts")
        named = sms.send(OTHER, "hi", sender="12345")
        assert (named.sender, named.pool) == ("12345", None)
        queued = sms.send_bulk([THIRD], "hi", pool="alerts")
        assert queued.accepted == 1
        with pytest.raises(BadRequest) as unknown:
            sms.send(TO, "hi", sender="+19999999999")
        assert unknown.value.code == "unknown_sender"
        with pytest.raises(ValueError, match="not both"):
            sms.send(TO, "hi", sender="12345", pool="alerts")
    bodies = [r.body for r in plivo_sends(emulator) if isinstance(r.body, dict)]
    assert [body["src"] for body in bodies[:2]] == ["+14155550100", "12345"]
