"""Who is using the web console: a signed-in session, or the open caller of a keyless smsgate.

The session cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page
sends it) and Secure when smsgate is reached over https. A session acts with its key's scopes
and mode, and ends when the key is revoked. The console's pages send changes to the JSON API
with the session's CSRF token in ``X-CSRF-Token``, which ``ApiGuard`` checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import cookie_parser

from smsgate.db.console_sessions import ConsoleSession

if TYPE_CHECKING:
    from smsgate.bootstrap import Services

COOKIE = "smsgate_session"


def session_token(headers: dict[bytes, bytes]) -> str | None:
    cookies = cookie_parser(headers.get(b"cookie", b"").decode("latin-1"))
    token = cookies.get(COOKIE)
    return token if token and len(token) < 100 else None


async def console_session(services: Services, headers: dict[bytes, bytes]) -> ConsoleSession | None:
    """The live session the request's cookie names, if its key may still act."""
    token = session_token(headers)
    if token is None:
        return None
    session = await services.console_sessions.find(token)
    if session is None or not await services.authenticator.still_valid(session.principal):
        return None
    return session
