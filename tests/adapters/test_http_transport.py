"""The aiohttp transport over real sockets: which failures may have reached the server.

This split decides between a safe retry and a possible double send, so it is tested against
real connections, not mocks: refused and unusable URLs are NotSent; a timeout or a dropped
connection after the request went out is MaybeSent.
"""

from __future__ import annotations

import asyncio

import pytest

from smsgate.emulator import EmulatorServer
from smsgate.providers.http import AiohttpTransport, HttpAnswer, HttpRequest, MaybeSent, NotSent
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


def post(url: str, timeout: float = 2.0) -> HttpAnswer:
    async def go() -> HttpAnswer:
        transport = AiohttpTransport()
        try:
            request = HttpRequest("POST", url, {"Content-Type": "application/json"}, b"{}")
            return await transport.request(request, timeout=timeout)
        finally:
            await transport.aclose()

    return asyncio.run(go())


def send_url(emulator: EmulatorServer) -> str:
    return f"{emulator.base_url}/v1/Account/{emulator.auth_id}/Message/"


def test_an_answer_comes_back_with_status_headers_and_body(emulator: EmulatorServer) -> None:
    answer = post(send_url(emulator))
    assert answer.status == 401  # no credentials: the emulator answers like Plivo
    assert answer.headers["Content-Type"].startswith("application/json")
    assert b"authentication" in answer.body


def test_a_refused_connection_sent_nothing() -> None:
    with pytest.raises(NotSent):
        post(f"http://127.0.0.1:{free_port()}/v1/")


@pytest.mark.parametrize("url", ["http://", "http://[::1", "ftp://127.0.0.1/"])
def test_an_unusable_url_sent_nothing(url: str) -> None:
    with pytest.raises(NotSent):
        post(url)


def test_a_timeout_after_the_request_went_out_may_have_sent_it(emulator: EmulatorServer) -> None:
    emulator.set_faults(latency_ms=1500)
    with pytest.raises(MaybeSent, match="timed out"):
        post(send_url(emulator), timeout=0.3)


def test_a_connection_dropped_before_the_answer_may_have_sent_it(
    emulator: EmulatorServer,
) -> None:
    emulator.set_faults(drop="before_response")
    with pytest.raises(MaybeSent):
        post(send_url(emulator))


def test_failure_messages_name_the_error_class_not_the_address() -> None:
    """aiohttp's own messages hold the URL (and so the Plivo auth ID): they are not passed on."""
    port = free_port()
    with pytest.raises(NotSent) as raised:
        post(f"http://127.0.0.1:{port}/v1/Account/MASECRETACCOUNT00001/Message/")
    assert str(port) not in str(raised.value)
    assert "MASECRETACCOUNT" not in str(raised.value)
