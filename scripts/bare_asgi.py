"""The benchmark's yardstick: a bare ASGI app that does only the Plivo call.

Issue #2 gives reference figures measured on "a 2-core machine of this kind", among them this
app's (~2,970 req/s at 256 connections), "the practical ceiling for this job in Python". Machines
of "this kind" differ by 30% or more from one day to the next, so ``make bench`` runs this app
too, on the same core, against the same emulator, and reports smsgate's figures against the
ceiling measured on the machine at hand as well as against the absolute targets.

It does what the issue describes and nothing more: read the JSON body, call Plivo's Message API
with one pooled aiohttp client, and answer with Plivo's JSON. No validation, no storage, no logs.

Run: PLIVO_API_URL=... PLIVO_AUTH_ID=... PLIVO_AUTH_TOKEN=... PLIVO_SENDER_ID=...
     uvicorn --app-dir scripts bare_asgi:app --port 8000 --no-access-log
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

AUTH_ID = os.environ["PLIVO_AUTH_ID"]
URL = f"{os.environ['PLIVO_API_URL'].rstrip('/')}/v1/Account/{AUTH_ID}/Message/"
AUTH = aiohttp.BasicAuth(AUTH_ID, os.environ["PLIVO_AUTH_TOKEN"])
SENDER = os.environ["PLIVO_SENDER_ID"]
MAX_CONNECTIONS = int(os.environ.get("SMSGATE_PLIVO_MAX_CONNECTIONS", "100"))

_client: aiohttp.ClientSession | None = None


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    global _client
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
                _client = aiohttp.ClientSession(connector=connector, auth=AUTH)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _client is not None:
                    await _client.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http" or _client is None:
        return
    if scope["path"] == "/healthz":
        await _answer(send, 200, b'{"ok": true}')
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    request = json.loads(body)
    payload = {"src": SENDER, "dst": request["to"].lstrip("+"), "text": request["text"]}
    async with _client.post(URL, json=payload) as answer:
        await _answer(send, answer.status, await answer.read())


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
