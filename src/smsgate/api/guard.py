"""Who may call /api: the checks every API request passes before any work is done.

1. **No other website** but those listed in ``SMSGATE_CORS_ORIGINS``. A page on another site
   can make a browser POST to smsgate (a plain HTML form needs no JavaScript and no CORS).
   Browsers mark such requests with ``Sec-Fetch-Site`` and ``Origin``; anything not
   same-origin is refused (403), unless its origin is listed (and it still needs a key).
2. **Only this machine's name, when open.** Without API keys smsgate only listens on loopback,
   but DNS rebinding lets a foreign page reach loopback under its own host name; so an open
   smsgate answers only requests addressed to localhost, 127.0.0.1 or [::1] (403).
3. **A bearer key, once there are keys** (401), **with the route's scope** (403): see
   ``services.access`` for the keys and ``required_scope`` below for the scopes.
4. **The caller's request rate** (429, ``services.limits``).

The caller found is left in the ASGI scope (``principal_of``) for the routes: it decides
which provider a message goes to (test keys: the sandbox), whose limits count, and whose
idempotency keys a key is looked up among.

Clients that are not browsers (curl, servers, the CLI) send neither ``Origin`` nor
``Sec-Fetch-Site`` and are unaffected by 1. It is ASGI middleware rather than a route
dependency so that no /api route can be added without it: a route it does not know needs
the ``admin`` scope.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from smsgate.api.console_auth import console_session
from smsgate.api.errors import problem_for
from smsgate.api.responses import error_response
from smsgate.domain.access import OPEN, Principal
from smsgate.domain.access import Scope as KeyScope
from smsgate.domain.addresses import is_loopback
from smsgate.services.access import Unauthorized

if TYPE_CHECKING:
    from smsgate.bootstrap import Runtime

PROTECTED_PREFIX = "/api/"
# Plivo calls these with its own Host and no API key; their signatures guard them instead.
# Exactly these paths: anything else under the prefix is guarded like any /api path (the
# webhook endpoint routes, /api/v1/webhooks/{endpoint_id}/..., would match an id "plivo").
SIGNED_PREFIX = "/api/v1/webhooks/plivo/"
SIGNED_PATHS = frozenset({SIGNED_PREFIX + "status", SIGNED_PREFIX + "inbound"})
PRINCIPAL = "smsgate.principal"
_SAME_ORIGIN = (b"same-origin", b"none")
_READING = frozenset({"GET", "HEAD"})


def required_scope(method: str, path: str) -> KeyScope:
    """The scope a request needs: sending and canceling, reading, or anything else (admin)."""
    reading = method in _READING
    if path in ("/api/send-sms", "/api/v1/numbers/check"):
        return KeyScope.SEND
    if path == "/api/v1/messages.csv" and reading:
        return KeyScope.READ
    if _within(path, "/api/v1/messages") or _within(path, "/api/v1/batches"):
        return KeyScope.READ if reading else KeyScope.SEND
    if _within(path, "/api/v1/opt-outs") and reading:
        return KeyScope.READ
    return KeyScope.ADMIN  # opt-out changes, keys, and any route added later


def _within(path: str, collection: str) -> bool:
    """``path`` is the collection or below it: /api/v1/batches/x, never /api/v1/batches-x
    (a route added later beside a collection is not the collection's)."""
    return path == collection or path.startswith(collection + "/")


def principal_of(scope: Scope) -> Principal:
    """The caller the guard let in (the open caller when smsgate has no keys)."""
    principal = scope.get(PRINCIPAL)
    return principal if isinstance(principal, Principal) else OPEN


class ApiGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        runtime: Runtime,
        loopback: bool,
        cors_origins: frozenset[bytes] = frozenset(),
    ) -> None:
        self.app = app
        self.runtime = runtime
        # Serving on loopback: an open smsgate answers only this machine's names. Off for
        # `serve --insecure-no-auth` on another address.
        self.loopback = loopback
        self.cors_origins = cors_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if path.startswith(PROTECTED_PREFIX) and path not in SIGNED_PATHS:
            headers = dict(scope["headers"])
            refusal = self.cross_site_refusal(headers)
            if refusal is None:
                try:
                    scope[PRINCIPAL] = await self.admit(scope["method"], path, headers)
                except Exception as exc:
                    refusal = _answer(exc)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def cross_site_refusal(self, headers: dict[bytes, bytes]) -> ASGIApp | None:
        if is_cross_site(headers, self.cors_origins):
            return error_response(
                403,
                "cross_site_request",
                "Requests started by another website are refused; call the API from a "
                "server, or from smsgate's own page.",
            )
        return None

    async def admit(self, method: str, path: str, headers: dict[bytes, bytes]) -> Principal:
        """The caller, authenticated, allowed the route and within its request rate."""
        services = self.runtime.services
        if await services.authenticator.keys_required():
            authorization = headers.get(b"authorization")
            session = None
            if authorization is None:
                session = await console_session(services, headers)
            if session is not None:
                # The console's own page: its cookie, and for a change the session's CSRF
                # token in a header, which no other site can read or send.
                if method not in _READING and not hmac.compare_digest(
                    headers.get(b"x-csrf-token", b""), session.csrf.encode()
                ):
                    raise _Forbidden(
                        "csrf_failed",
                        "This change lacks the console's CSRF token; reload the page.",
                    )
                principal = session.principal
            else:
                principal = await services.authenticator.authenticate(authorization or b"")
            needed = required_scope(method, path)
            if not principal.allows(needed):
                raise _Forbidden(
                    "insufficient_scope",
                    f"This API key lacks the '{needed.value}' scope this request needs.",
                )
        else:
            if self.loopback and not is_loopback(hostname(headers.get(b"host", b""))):
                raise _Forbidden(
                    "host_not_allowed",
                    "Without API keys, smsgate only answers requests addressed to this "
                    "machine (localhost, 127.0.0.1 or [::1]). Create a key (smsgate keys "
                    "create) or set SMSGATE_API_KEYS to serve other names.",
                )
            principal = OPEN
            session = None
        if session is not None and method in _READING:
            # The console's own reads (its pages follow statuses every few seconds, in every
            # open tab) would spend the request budget the key's programs rely on. What the
            # console sends still counts, and every limit on messages applies to it.
            return principal
        await services.limits.check_request(principal)
        return principal


class _Forbidden(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _answer(exc: Exception) -> ASGIApp:
    if isinstance(exc, Unauthorized):
        return error_response(401, "unauthorized", exc.message, {"WWW-Authenticate": "Bearer"})
    if isinstance(exc, _Forbidden):
        return error_response(403, exc.code, exc.message)
    problem = problem_for(exc)
    if problem is None:
        raise exc
    return problem.response()


def is_cross_site(headers: dict[bytes, bytes], allowed: frozenset[bytes] = frozenset()) -> bool:
    """Whether a browser marked the request as started by another site (not one ``allowed``)."""
    host = headers.get(b"host", b"")
    fetch_site = headers.get(b"sec-fetch-site")
    origin = headers.get(b"origin")
    if origin is not None and origin in allowed:
        return False
    if fetch_site is not None:
        # Browsers that send it send it on every request, and no page can forge it. Origin
        # alone could mislead: a form posted from a page with no-referrer says "null".
        return fetch_site not in _SAME_ORIGIN
    return origin is not None and _authority(origin) != host


def _authority(origin: bytes) -> bytes:
    """``http://host:port`` -> ``host:port``; an opaque ``null`` origin matches no host."""
    _, separator, authority = origin.partition(b"://")
    return authority.rstrip(b"/") if separator else b"\x00"


def hostname(host: bytes) -> str:
    """The name in a Host header, without the port: ``[::1]:8000`` -> ``::1``."""
    text = host.decode("latin-1")
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text
