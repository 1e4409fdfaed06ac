"""``smsgate.AsyncClient`` against a real smsgate over HTTP: the same calls, errors and retries
as ``Client`` (``test_client.py``), awaited. Both drive one shared core, so these cover the
asynchronous I/O rather than every rule again."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from smsgate import AsyncClient
from smsgate.client import BadRequest, NotFound, RateLimited, ServerError, TransportError
from smsgate.emulator import EmulatorServer
from tests.client.conftest import OTHER, THIRD, TO, Wire, plivo_sends
from tests.conftest import ServeApp
from tests.support.servers import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_send_get_list_bulk_batch_and_cancel(
    serve: ServeApp, emulator: EmulatorServer
) -> None:
    url = serve()
    async with AsyncClient(url) as sms:
        sent = await sms.send(TO, "Your code is 123456")
        assert (sent.to, sent.status, sent.segments) == (TO, "queued", 1)
        got = await sms.get(sent.id)
        assert got.events is not None
        assert got.events[-1].status == "queued"
        other = await sms.send(OTHER, "hi")
        assert [m.id async for m in sms.list(limit=1)] == [other.id, sent.id]
        page = await sms.list_page(to=TO)
        assert [m.id for m in page.messages] == [sent.id]
        assert page.next_cursor is None

        send_at = datetime.now(UTC) + timedelta(hours=1)
        queued = await sms.send_bulk([THIRD, "oops"], "Later", send_at=send_at)
        assert (queued.accepted, queued.refused, queued.expires_at) == (1, 1, None)
        assert queued.errors[0].code == "invalid_number_format"
        progress = await sms.batch(queued.batch_id)
        assert (progress.recipients, progress.pending, progress.counts["accepted"]) == (2, 1, 1)
        canceled = await sms.cancel(queued.messages[0].id)
        assert canceled.status == "canceled"
        after = await sms.cancel_batch(queued.batch_id)
        assert (after.canceled, after.counts["canceled"]) == (0, 1)

        with pytest.raises(NotFound) as missing:
            await sms.batch("nope")
        assert missing.value.code == "batch_not_found"
        with pytest.raises(BadRequest) as bad:
            await sms.send("+1 415 555", "hi")
        assert (bad.value.code, bad.value.status) == ("number_too_short", 400)
    assert len(plivo_sends(emulator)) == 2


async def test_the_rate_limit_is_waited_out_with_the_same_key(serve: ServeApp) -> None:
    url = serve(rate_limit="1/second", api_keys=(SecretStr("k1"),))
    wire = Wire()
    async with (
        wire.async_http_client() as http,
        AsyncClient(url, "k1", http_client=http) as sms,
    ):
        await sms.send(TO, "one")
        started = time.monotonic()
        second = await sms.send(OTHER, "two")
        assert time.monotonic() - started >= 0.9
    assert second.status == "queued"
    assert wire.statuses == [201, 429, 201]
    assert wire.keys[1] == wire.keys[2] != wire.keys[0]
    async with AsyncClient(url, "k1", max_attempts=1) as sms:
        with pytest.raises(RateLimited) as limited:
            await sms.send(THIRD, "three")
    assert (limited.value.code, limited.value.retry_after) == ("rate_limit_exceeded", 1.0)


async def test_plivo_unavailable_is_retried_but_a_timeout_is_not(
    serve: ServeApp, emulator: EmulatorServer
) -> None:
    url = serve()
    wire = Wire()
    async with (
        wire.async_http_client() as http,
        AsyncClient(url, max_retry_wait=0.2, http_client=http) as sms,
    ):
        emulator.set_faults(status=503, times=4)
        assert (await sms.send(TO, "hi")).status == "queued"
        assert wire.statuses == [503, 201]
        emulator.set_faults(drop="before_response", times=1)
        with pytest.raises(ServerError) as timed_out:
            await sms.send(OTHER, "hi")
        assert timed_out.value.code == "provider_timeout"
        assert wire.statuses == [503, 201, 504]


async def test_a_refused_connection_is_a_transport_error() -> None:
    wire = Wire()
    async with (
        wire.async_http_client() as http,
        AsyncClient(
            f"http://127.0.0.1:{free_port()}", max_retry_wait=0.05, http_client=http
        ) as sms,
    ):
        with pytest.raises(TransportError) as refused:
            await sms.get("01J0000000000000000000000X")
    assert (refused.value.code, refused.value.maybe_sent) == ("connection_failed", False)
    assert len(wire.requests) == 3
