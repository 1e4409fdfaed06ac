"""The HTTP transports over real sockets: which failures may have reached the server.

This split decides between a safe retry and a possible double send, so it is tested against
real connections, not mocks, for both transports: aiohttp (the webhook deliverer's) and
pyreqwest (the Plivo call's). Refused, unresolvable and unusable URLs, untrusted TLS, a connect
that never completes and no free connection are NotSent; a timeout, a reset or a cut answer
once a connection existed is MaybeSent.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import pytest
import trustme

from smsgate.emulator import EmulatorServer
from smsgate.providers.http import (
    AiohttpTransport,
    HttpAnswer,
    HttpRequest,
    HttpTransport,
    MaybeSent,
    NotSent,
)
from smsgate.providers.reqwest_transport import ReqwestTransport
from tests.support.raw_http import ANSWER, not_accepting, raw_server, read_request, reset
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

Make = Callable[..., HttpTransport]


@pytest.fixture(params=["aiohttp", "pyreqwest"])
def make(request: pytest.FixtureRequest) -> Make:
    """Builds the transport under test; the options are those both take."""
    return AiohttpTransport if request.param == "aiohttp" else ReqwestTransport


def post(
    make: Make, url: str, timeout: float = 2.0, times: int = 1, **options: object
) -> HttpAnswer:
    """POST ``times`` times, one after the other, on one transport; the last answer."""

    async def go() -> HttpAnswer:
        transport = make(**options)
        try:
            request = HttpRequest("POST", url, {"Content-Type": "application/json"}, b"{}")
            answer = None
            for _ in range(times):
                answer = await transport.request(request, timeout=timeout)
            assert answer is not None
            return answer
        finally:
            await transport.aclose()

    return asyncio.run(go())


def send_url(emulator: EmulatorServer) -> str:
    return f"{emulator.base_url}/v1/Account/{emulator.auth_id}/Message/"


def test_an_answer_comes_back_with_status_headers_and_body(
    make: Make, emulator: EmulatorServer
) -> None:
    answer = post(make, send_url(emulator))
    assert answer.status == 401  # no credentials: the emulator answers like Plivo
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["content-type"] == answer.headers["Content-Type"]
    assert b"authentication" in answer.body


def test_a_refused_connection_sent_nothing(make: Make) -> None:
    with pytest.raises(NotSent):
        post(make, f"http://127.0.0.1:{free_port()}/v1/")


def test_a_host_that_does_not_resolve_sent_nothing(make: Make) -> None:
    with pytest.raises(NotSent):
        post(make, "http://no-such-host.invalid/v1/")


@pytest.mark.parametrize("url", ["http://", "http://[::1", "ftp://127.0.0.1/"])
def test_an_unusable_url_sent_nothing(make: Make, url: str) -> None:
    with pytest.raises(NotSent):
        post(make, url)


def test_a_connect_that_never_completes_sent_nothing(make: Make) -> None:
    with not_accepting() as url:
        started = time.monotonic()
        with pytest.raises(NotSent):
            post(make, url, timeout=5.0, connect_timeout=0.3)
        assert time.monotonic() - started < 3  # the connect deadline, not the request's


def test_no_free_connection_in_time_sent_nothing(make: Make) -> None:
    """At the cap, a request waits for a place; the wait is bounded, and nothing left."""

    def slow(conn: socket.socket) -> None:
        read_request(conn)
        time.sleep(1.5)
        conn.sendall(ANSWER)

    async def two_at_once(url: str) -> tuple[BaseException | HttpAnswer, ...]:
        transport = make(max_connections=1, connect_timeout=0.3)
        request = HttpRequest("POST", url, {}, b"{}")
        try:
            first = asyncio.ensure_future(transport.request(request, timeout=3.0))
            await asyncio.sleep(0.2)
            second = transport.request(request, timeout=3.0)
            return tuple(await asyncio.gather(first, second, return_exceptions=True))
        finally:
            await transport.aclose()

    with raw_server(slow) as server:
        first, second = asyncio.run(two_at_once(server.url))
    assert isinstance(first, HttpAnswer)
    assert isinstance(second, NotSent)
    assert len(server.accepted) == 1


def test_a_timeout_after_the_request_went_out_may_have_sent_it(
    make: Make, emulator: EmulatorServer
) -> None:
    emulator.set_faults(latency_ms=1500)
    with pytest.raises(MaybeSent, match="timed out"):
        post(make, send_url(emulator), timeout=0.3)


def test_a_connection_dropped_before_the_answer_may_have_sent_it(
    make: Make, emulator: EmulatorServer
) -> None:
    emulator.set_faults(drop="before_response")
    with pytest.raises(MaybeSent):
        post(make, send_url(emulator))


def reset_as_the_request_arrives(conn: socket.socket) -> None:
    # Not on accept: the reset could then beat the client's own connect, which is NotSent.
    conn.recv(1, socket.MSG_PEEK)
    reset(conn)


def reset_after_reading(conn: socket.socket) -> None:
    read_request(conn)
    reset(conn)


def closed_after_reading(conn: socket.socket) -> None:
    read_request(conn)
    conn.close()


@pytest.mark.parametrize(
    "behaviour", [reset_as_the_request_arrives, reset_after_reading, closed_after_reading]
)
def test_a_connection_lost_once_made_may_have_sent_it(
    make: Make, behaviour: Callable[[socket.socket], None]
) -> None:
    """Once connected, the request may sit in the server's buffer: never "not sent" (pyreqwest
    itself calls these ConnectError)."""
    with raw_server(behaviour) as server, pytest.raises(MaybeSent):
        post(make, server.url)


def test_an_answer_cut_short_may_have_sent_it(make: Make) -> None:
    """aiohttp also tells the status that came before the body failed: the webhook deliverer
    reports it. pyreqwest reads the answer whole before it gives anything back."""

    def cut(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b'HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\n{"mess')

    with raw_server(cut) as server, pytest.raises(MaybeSent) as raised:
        post(make, server.url)
    assert raised.value.status == (202 if make is AiohttpTransport else None)


def test_a_chunked_answer_is_read_whole(make: Make) -> None:
    def chunked(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'8\r\n{"messag\r\n9\r\ne": "ok"}\r\n0\r\n\r\n'
        )
        time.sleep(0.2)

    with raw_server(chunked) as server:
        assert post(make, server.url).body == b'{"message": "ok"}'


def test_an_answer_that_ends_with_the_connection_is_read_whole(make: Make) -> None:
    def until_close(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nConnection: close\r\n\r\n" + b"x" * 70_000)

    with raw_server(until_close) as server:
        assert post(make, server.url).body == b"x" * 70_000


def test_a_kept_alive_connection_the_server_closed_is_not_a_failure(make: Make) -> None:
    """The server closes an idle keep-alive connection: the next request gets a new one."""

    def one_answer_then_close(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(ANSWER)
        time.sleep(0.05)

    async def twice(url: str) -> HttpAnswer:
        transport = make()
        request = HttpRequest("POST", url, {}, b"{}")
        try:
            await transport.request(request, timeout=2.0)
            await asyncio.sleep(0.3)  # the server has closed it by now
            return await transport.request(request, timeout=2.0)
        finally:
            await transport.aclose()

    with raw_server(one_answer_then_close) as server:
        assert asyncio.run(twice(server.url)).status == 202
    assert len(server.accepted) == 2


def test_connections_are_kept_alive_between_requests(make: Make) -> None:
    def keep(conn: socket.socket) -> None:
        while read_request(conn):
            conn.sendall(ANSWER)

    with raw_server(keep) as server:
        post(make, server.url, times=5)
    assert len(server.accepted) == 1


def test_failure_messages_name_the_error_class_not_the_address(make: Make) -> None:
    """The clients' own messages hold the URL (and so the Plivo auth ID): not passed on."""
    port = free_port()
    with pytest.raises(NotSent) as raised:
        post(make, f"http://127.0.0.1:{port}/v1/Account/MASECRETACCOUNT00001/Message/")
    assert str(port) not in str(raised.value)
    assert "MASECRETACCOUNT" not in str(raised.value)


# TLS: real Plivo is https. The Plivo call's transport is pyreqwest (rustls).


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(authority: trustme.CA) -> Iterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)

    def keep(conn: socket.socket) -> None:
        while read_request(conn):
            conn.sendall(ANSWER)

    with raw_server(keep, tls=context) as server:
        yield server.url


def test_https_to_a_trusted_certificate_answers(authority: trustme.CA, tls_server: str) -> None:
    answer = post(ReqwestTransport, tls_server, extra_ca_pem=authority.cert_pem.bytes())
    assert answer.status == 202
    assert answer.body == b'{"message": "ok"}'


def test_https_to_an_untrusted_certificate_sent_nothing(tls_server: str) -> None:
    with pytest.raises(NotSent):
        post(ReqwestTransport, tls_server)
