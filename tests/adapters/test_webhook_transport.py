"""The aiohttp transport's options for posting to the user's webhooks, over real sockets: the
resolver that refuses private addresses, the drained answer, and the status of an answer
whose body was cut off."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from smsgate.providers.http import (
    AiohttpTransport,
    HttpAnswer,
    HttpRequest,
    MaybeSent,
    NotSent,
    PrivateAddress,
)

pytestmark = pytest.mark.integration

Reply = Callable[[asyncio.StreamWriter], Awaitable[None]]


def post_to(reply: Reply, *, host: str = "127.0.0.1", **options: object) -> HttpAnswer:
    """Post once to a raw server that answers with ``reply``, through a transport built with
    ``options``."""

    async def go() -> HttpAnswer:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(2)  # the body, b"{}"
                await reply(writer)
            finally:
                writer.close()  # also when cancelled mid-stall, so no socket outlives the test

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport = AiohttpTransport(**options)  # type: ignore[arg-type]
        try:
            request = HttpRequest("POST", f"http://{host}:{port}/hook", {}, b"{}")
            return await transport.request(request, timeout=1.0)
        finally:
            await transport.aclose()
            server.close()

    return asyncio.run(go())


async def ok(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    await writer.drain()


async def first_chunk_then_hang(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
    await writer.drain()
    await asyncio.sleep(2)


async def cut_off(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 503 Busy\r\nContent-Length: 100\r\n\r\nshort")
    await writer.drain()


def test_public_only_refuses_a_name_that_resolves_to_loopback_before_connecting() -> None:
    with pytest.raises(NotSent) as refused:
        post_to(ok, host="localhost", public_only=True)
    assert isinstance(refused.value.__cause__.__cause__, PrivateAddress)  # type: ignore[union-attr]


def test_the_same_name_is_reached_without_the_guard() -> None:
    assert post_to(ok, host="localhost").status == 200


def test_a_drained_answer_is_one_read_so_a_receiver_that_stalls_mid_body_still_answers() -> None:
    answer = post_to(first_chunk_then_hang, drain=64 * 1024)
    assert answer.status == 200
    assert 0 < len(answer.body) <= 1000


def test_an_answer_read_whole_waits_out_the_stall_and_keeps_the_status_it_had() -> None:
    with pytest.raises(MaybeSent) as stalled:
        post_to(first_chunk_then_hang)
    assert stalled.value.status == 200


def test_a_body_cut_off_is_maybe_sent_with_the_status_that_arrived() -> None:
    with pytest.raises(MaybeSent) as cut:
        post_to(cut_off)
    assert cut.value.status == 503
