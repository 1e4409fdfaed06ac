"""A webhook receiver for tests: an ASGI app that records what it gets and answers as told.

Each path has a script of answers (status codes, used in turn; the last one repeats) and an
optional delay, so a test can make one endpoint fail, another hang, and a third succeed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.types import Receive, Scope, Send

from tests.support.servers import serve_in_thread


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, *statuses: int, delay: float = 0.0) -> str:
        """Answer posts to ``path`` with these statuses in turn; the URL to register."""
        self.scripts[path] = list(statuses)
        self.delays[path] = delay
        return f"{self.url}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def wait_for(
        self, path: str, count: int, seconds: float = 10, where: Callable[[Received], bool] = bool
    ) -> list[Received]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = [r for r in self.at(path) if where(r)]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{path}: got {len(self.at(path))} posts, expected {count}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self.lock:
            self.received.append(Received(path, headers, body, time.monotonic()))
            script = self.scripts.get(path, [200])
            status = script.pop(0) if len(script) > 1 else script[0]
        delay = self.delays.get(path, 0.0)
        if delay:
            await asyncio.sleep(delay)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    with serve_in_thread(receiver) as url:
        receiver.url = url
        yield receiver
