"""The transport of the Plivo call: pyreqwest, a Python binding of Rust's reqwest (hyper, rustls).

Measured against aiohttp and the other async clients on the package index, it costs a third to
a half of aiohttp's CPU per request (docs/benchmarks.md), and the Plivo call is on every
send's hot path. The webhook deliverer stays on aiohttp (``http.AiohttpTransport``): it needs
a resolver that refuses private addresses, which reqwest's binding has no hook for.

What the port promises, ``NotSent`` or ``MaybeSent``, cannot be read from pyreqwest's error
classes: it raises ``ConnectError`` for a connection reset after the request was written, and
``ConnectTimeoutError`` for an answer that never came. The cause chain says it: only when
hyper's "client error (Connect)" is among the causes was no connection made. That text is
hyper's, so the version is pinned in pyproject.toml, and tests/adapters/test_http_transport.py
holds every case against real sockets: refused, unresolvable, untrusted TLS, connect timeout,
no free connection, reset before and after the request, no answer, a cut body.
"""

from __future__ import annotations

from datetime import timedelta

from pyreqwest.client import ClientBuilder
from pyreqwest.exceptions import (
    BuilderError,
    PoolTimeoutError,
    PyreqwestError,
    RequestError,
    RequestTimeoutError,
)

from smsgate.providers.http import HttpAnswer, HttpRequest, MaybeSent, NotSent

# hyper's words for "the connection could not be made": DNS, TCP connect, TLS handshake.
NOT_CONNECTED = "client error (Connect)"


class ReqwestTransport:
    """One pooled pyreqwest client.

    - ``max_connections``: requests in flight at once (a request waits for a place);
    - ``connect_timeout``: the most a connection, or a wait for a place, may take within each
      request's deadline;
    - ``extra_ca_pem``: certificates to trust besides the system's (a TLS-intercepting proxy,
      a test server).

    The answer is read whole before anything is given back, so a ``MaybeSent`` for a body cut
    short carries no status (the Plivo adapter never needs one).
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        connect_timeout: float = 5.0,
        extra_ca_pem: bytes | None = None,
    ) -> None:
        connect = timedelta(seconds=connect_timeout)
        builder = (
            ClientBuilder()
            .max_connections(max_connections)
            .connect_timeout(connect)
            .pool_timeout(connect)
            .follow_redirects(False)
            .default_cookie_store(False)
        )
        if extra_ca_pem is not None:
            builder = builder.add_root_certificate_pem(extra_ca_pem)
        self._client = builder.build()

    async def request(self, request: HttpRequest, *, timeout: float) -> HttpAnswer:
        try:
            prepared = (
                self._client.request(request.method, request.url)
                .headers(dict(request.headers))
                .body_bytes(request.body)
                .timeout(timedelta(seconds=timeout))
                .build()
            )
            response = await prepared.send()
            body = await response.bytes()
            return HttpAnswer(response.status, response.headers, bytes(body))
        except PoolTimeoutError as exc:  # no place came free: the request never left
            raise NotSent("timed out waiting for a connection") from exc
        except BuilderError as exc:  # a URL it will not use (another scheme)
            raise NotSent("unusable URL") from exc
        except RequestError as exc:
            timed_out = isinstance(exc, RequestTimeoutError)
            if _never_connected(exc):
                raise NotSent("timed out connecting" if timed_out else "could not connect") from exc
            raise MaybeSent("timed out" if timed_out else "connection lost") from exc
        except ValueError as exc:  # a URL that does not parse, refused before any request
            raise NotSent("unusable URL") from exc
        except PyreqwestError as exc:  # anything else, once the request may have left
            raise MaybeSent(type(exc).__name__) from exc

    async def aclose(self) -> None:
        await self._client.close()


def _never_connected(exc: RequestError) -> bool:
    # The messages are never passed on: the first names the URL, and with it the Plivo auth ID.
    causes = exc.details.get("causes") or []
    return any(cause["message"] == NOT_CONNECTED for cause in causes)
