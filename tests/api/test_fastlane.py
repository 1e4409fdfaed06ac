"""The fast lane at the ASGI level: what it answers, and what it does when the caller leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.types import ASGIApp, Message, Scope

from smsgate.api.app import create_app
from tests.conftest import SettingsFactory
from tests.support.fakes import RecordingProvider


def http_scope(method: str = "POST", path: str = "/api/send-sms") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


def run(app: ASGIApp, scope: Scope, incoming: list[Message]) -> list[Message]:
    """One request through ``app``, inside its lifespan, as a server would run it."""
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        async with lifespan(app):
            await app(scope, receive, send)

    asyncio.run(main())
    return sent


@asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()

    async def serve_lifespan() -> None:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, to_app.get, from_app.put)

    task = asyncio.create_task(serve_lifespan())
    await to_app.put({"type": "lifespan.startup"})
    assert (await from_app.get())["type"] == "lifespan.startup.complete"
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        assert (await from_app.get())["type"] == "lifespan.shutdown.complete"
        await task


def test_a_caller_who_leaves_before_sending_its_body_gets_nothing_and_nothing_is_sent(
    make_settings: SettingsFactory,
) -> None:
    provider = RecordingProvider()
    app = create_app(make_settings(), provider=provider)
    sent = run(app, http_scope(), [{"type": "http.disconnect"}])
    assert sent == []
    assert provider.sent == []


def test_a_body_in_several_chunks_is_read_whole(make_settings: SettingsFactory) -> None:
    provider = RecordingProvider()
    app = create_app(make_settings(), provider=provider)
    chunks = [b'{"to": "+1415', b'5552671", "te', b'xt": "hi"}']
    incoming: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ]
    sent = run(app, http_scope(), incoming)
    assert sent[0]["status"] == 200
    assert [s.to for s in provider.sent] == ["+14155552671"]
