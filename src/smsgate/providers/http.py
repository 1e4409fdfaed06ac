"""The small HTTP port smsgate posts through, and its aiohttp implementation.

The Plivo adapter and the webhook deliverer only need "POST these bytes, give me status,
headers and body", plus one fact no generic client error carries: whether the request may have
reached the server. That fact decides between a safe retry and a possible double send, so the
transport answers it explicitly:

    TransportError
     ├── NotSent        nothing reached the server (connection refused, connect timeout)
     └── MaybeSent      the request may have arrived (timeout or disconnect after connecting)

Two implementations: the Plivo call goes through pyreqwest (``reqwest_transport``), which
measured cheapest per request (docs/benchmarks.md); the webhook deliverer through aiohttp
(``AiohttpTransport`` below), for its resolver hook. Tests swap in ``MockTransport``, a handler
function in place of a network.

Posting to the user's webhooks takes a few options the Plivo adapter does not: a resolver
that refuses private addresses (SSRF), a drained rather than read answer, no separate connect
deadline, and aiohttp's own cookie jar and DNS cache, as the deliverer's session always had.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from smsgate.domain.addresses import is_public_address


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
    """The request may have reached the server; its outcome is unknown.

    ``status`` is the answer's status when it had arrived before the body failed.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HttpTransport(Protocol):
    async def request(self, request: HttpRequest, *, timeout: float) -> HttpAnswer: ...

    async def aclose(self) -> None: ...


class PrivateAddress(OSError):
    """The URL's host resolves to an address smsgate will not post to (SSRF)."""


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing every host with a non-public address among its answers."""

    def __init__(self) -> None:
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._resolver.resolve(host, port, family)
        if not answers or any(not is_public_address(a["host"]) for a in answers):
            raise PrivateAddress(f"{host} resolves to an address that is not public")
        return answers

    async def close(self) -> None:
        await self._resolver.close()


class AiohttpTransport:
    """One pooled aiohttp session; create it inside the running event loop.

    - ``connect_timeout``: the most a connection may take, within each request's deadline;
      None leaves the whole deadline to it.
    - ``public_only``: connect only to hosts whose every address is public (``GuardedResolver``).
    - ``drain``: read at most this many bytes of an answer, in one read, rather than all of it
      (what the receiver says is not kept, and a long answer must not hold the post).
    - ``cookies``: keep the cookies servers set, and send them back (aiohttp's jar).
    - ``dns_cache_ttl``: seconds a host's resolved addresses are reused.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        connect_timeout: float | None = 5.0,
        public_only: bool = False,
        drain: int | None = None,
        cookies: bool = False,
        dns_cache_ttl: int = 300,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._drain = drain
        options: dict[str, Any] = {"limit": max_connections, "ttl_dns_cache": dns_cache_ttl}
        if public_only:
            options["resolver"] = GuardedResolver()
        # auto_decompress stays on; cookies are meaningless for an API client: by default no jar.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(**options),
            cookie_jar=aiohttp.CookieJar() if cookies else aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )

    async def request(self, request: HttpRequest, *, timeout: float) -> HttpAnswer:
        connect = None if self._connect_timeout is None else min(timeout, self._connect_timeout)
        limits = aiohttp.ClientTimeout(total=timeout, connect=connect)
        status: int | None = None
        try:
            async with self._session.request(
                request.method,
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=limits,
                allow_redirects=False,
            ) as response:
                status = response.status
                if self._drain is None:
                    body = await response.read()
                else:
                    body = await response.content.read(self._drain)
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
            raise MaybeSent(_describe(exc), status=status) from exc

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
