"""Who may call /api: the checks every API request passes before any work is done.

1. **No other website** but those listed in ``SMSGATE_CORS_ORIGINS``. A page on another site
   can make a browser POST to smsgate (a plain HTML form needs no JavaScript and no CORS).
   Browsers mark such requests with ``Sec-Fetch-Site`` and ``Origin``; anything not
   same-origin is refused (403), unless its origin is listed (and it still needs a key).
2. **Only this machine's name, when open.** Without API keys smsgate only listens on loopback,
   but DNS rebinding lets a foreign page reach loopback under its own host name; so an open
   smsgate answers only requests addressed to localhost, 127.0.0.1 or [::1] (403).
3. **A bearer key, when keys are set** (401). Keys are compared as SHA-256 digests in constant
   time, so neither the time taken nor the key's length says anything about the keys.

Clients that are not browsers (curl, servers, the CLI) send neither ``Origin`` nor
``Sec-Fetch-Site`` and are unaffected by 1. It is ASGI middleware rather than a route
dependency so that no /api route can be added without it.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from smsgate.api.responses import error_response
from smsgate.net import is_loopback

PROTECTED_PREFIX = "/api/"
# Plivo calls these with its own Host and no API key; their signatures guard them instead.
SIGNED_PREFIX = "/api/v1/webhooks/plivo/"
_SAME_ORIGIN = (b"same-origin", b"none")


class ApiGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: tuple[bytes, ...],
        local_only: bool,
        cors_origins: frozenset[bytes] = frozenset(),
    ) -> None:
        self.app = app
        self.digests = tuple(hashlib.sha256(key).digest() for key in keys)
        self.local_only = local_only
        self.cors_origins = cors_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if path.startswith(PROTECTED_PREFIX) and not path.startswith(SIGNED_PREFIX):
            refusal = self.refusal(dict(scope["headers"]))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, headers: dict[bytes, bytes]) -> ASGIApp | None:
        host = headers.get(b"host", b"")
        fetch_site = headers.get(b"sec-fetch-site")
        origin = headers.get(b"origin")
        listed = origin is not None and origin in self.cors_origins
        if not listed and (
            (fetch_site is not None and fetch_site not in _SAME_ORIGIN)
            or (origin is not None and _authority(origin) != host)
        ):
            return error_response(
                403,
                "cross_site_request",
                "Requests started by another website are refused; call the API from a "
                "server, or from smsgate's own page.",
            )
        if self.local_only and not is_loopback(_hostname(host)):
            return error_response(
                403,
                "host_not_allowed",
                "Without API keys, smsgate only answers requests addressed to this machine "
                "(localhost, 127.0.0.1 or [::1]). Set SMSGATE_API_KEYS to serve other names.",
            )
        if self.digests:
            return self.key_refusal(headers.get(b"authorization", b""))
        return None

    def key_refusal(self, header: bytes) -> ASGIApp | None:
        scheme, _, presented = header.partition(b" ")
        presented = presented.strip()
        if scheme.lower() != b"bearer" or not presented:
            problem = "A valid API key is required: send 'Authorization: Bearer <key>'."
        else:
            digest = hashlib.sha256(presented).digest()
            matched = False
            for known in self.digests:  # every key, always: timing says nothing of which
                matched |= hmac.compare_digest(digest, known)
            if matched:
                return None
            problem = "The API key is not valid."
        return error_response(401, "unauthorized", problem, {"WWW-Authenticate": "Bearer"})


def _authority(origin: bytes) -> bytes:
    """``http://host:port`` -> ``host:port``; an opaque ``null`` origin matches no host."""
    _, separator, authority = origin.partition(b"://")
    return authority.rstrip(b"/") if separator else b"\x00"


def _hostname(host: bytes) -> str:
    """The name in a Host header, without the port: ``[::1]:8000`` -> ``::1``."""
    text = host.decode("latin-1")
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text
