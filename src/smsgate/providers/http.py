"""The small HTTP port the Plivo adapter talks through, and its aiohttp implementation.

The adapter only needs "POST these bytes, give me status, headers and body", plus one fact no
generic client error carries: whether the request may have reached the server. That fact decides
between a safe retry and a possible double send, so the transport answers it explicitly:

    TransportError
     ├── NotSent        nothing reached the server (connection refused, connect timeout)
     └── MaybeSent      the request may have arrived (timeout or disconnect after connecting)

aiohttp is used because it measured fastest for this job (docs/benchmarks.md): one pooled
session per process. Tests swap in ``MockTransport``, a handler function in place of a network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    # Out of the repr: the headers carry credentials and the body a message.
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """The exchange failed without an HTTP answer."""


class NotSent(TransportError):
    """Nothing reached the server, so sending again cannot duplicate anything."""


class MaybeSent(TransportError):
    """The request may have reached the server; its outcome is unknown."""


class HttpTransport(Protocol):
    async def request(self, request: HttpRequest, *, timeout: float) -> HttpAnswer: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """One pooled aiohttp session; create it inside the running event loop."""

    def __init__(self, *, max_connections: int = 100, connect_timeout: float = 5.0) -> None:
        self._connect_timeout = connect_timeout
        connector = aiohttp.TCPConnector(limit=max_connections, ttl_dns_cache=300)
        # auto_decompress stays on; cookies are meaningless for an API client, so skip the jar.
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )

    async def request(self, request: HttpRequest, *, timeout: float) -> HttpAnswer:
        limits = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, self._connect_timeout))
        try:
            async with self._session.request(
                request.method,
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=limits,
                allow_redirects=False,
            ) as response:
                body = await response.read()
                return HttpAnswer(response.status, response.headers, body)
        except (
            aiohttp.ClientConnectorError,
            aiohttp.ConnectionTimeoutError,
            aiohttp.InvalidURL,
            aiohttp.NonHttpUrlClientError,
        ) as exc:
            # Raised before a connection existed (refused, DNS, TLS handshake, pool wait, a URL
            # that cannot be used).
            raise NotSent(_describe(exc)) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Everything else happens once the request could be on the wire.
            raise MaybeSent(_describe(exc)) from exc

    async def aclose(self) -> None:
        await self._session.close()


def _describe(exc: BaseException) -> str:
    # The class alone: aiohttp's messages carry the URL, and with it the Plivo auth ID.
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return type(exc).__name__


Handler = Callable[[HttpRequest], Awaitable[HttpAnswer] | HttpAnswer]


class MockTransport:
    """A transport whose answers come from a function: raise NotSent/MaybeSent to fail.

    It records every request it is given, so tests assert on exactly what went out.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[HttpRequest] = []
        self.timeouts: list[float] = []
        self.closed = False

    async def request(self, request: HttpRequest, *, timeout: float) -> HttpAnswer:
        self.requests.append(request)
        self.timeouts.append(timeout)
        answer = self._handler(request)
        if isinstance(answer, HttpAnswer):
            return answer
        return await answer

    async def aclose(self) -> None:
        self.closed = True
