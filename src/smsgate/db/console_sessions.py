"""Sessions of the web console: a random token in an HttpOnly cookie, its digest here.

Signing in with an API key makes a session that acts with that key's scopes and mode; the
key is not kept, only its id, so revoking the key ends its sessions at their next request.
Each session has its own CSRF token, which every change the console makes must send back.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from smsgate.db.common import guarded
from smsgate.db.tables import ConsoleSessionRow
from smsgate.domain.access import Principal, format_scopes, parse_scopes
from smsgate.domain.clock import Clock, utc_now

LIFETIME = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    principal: Principal
    csrf: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessionStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock = utc_now) -> None:
        self._sessions = sessions
        self._clock = clock

    @guarded
    async def start(self, principal: Principal) -> tuple[str, ConsoleSession]:
        """A new session for ``principal``: its cookie token (shown once) and the session."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = ConsoleSession(principal, secrets.token_urlsafe(32), now + LIFETIME)
        async with self._sessions.begin() as db:
            db.add(
                ConsoleSessionRow(
                    token_hash=_digest(token),
                    principal_id=principal.id,
                    name=principal.name,
                    scopes=format_scopes(principal.scopes),
                    test=principal.test,
                    csrf=session.csrf,
                    created_at=now,
                    expires_at=session.expires_at,
                )
            )
        return token, session

    @guarded
    async def find(self, token: str) -> ConsoleSession | None:
        """The live session of ``token``; None when unknown or expired."""
        async with self._sessions() as db:
            row = await db.get(ConsoleSessionRow, _digest(token))
        if row is None or row.expires_at <= self._clock():
            return None
        principal = Principal(row.principal_id, row.name, parse_scopes(row.scopes), row.test)
        return ConsoleSession(principal, row.csrf, row.expires_at)

    @guarded
    async def end(self, token: str) -> None:
        async with self._sessions.begin() as db:
            await db.execute(
                delete(ConsoleSessionRow).where(ConsoleSessionRow.token_hash == _digest(token))
            )

    @guarded
    async def purge(self) -> int:
        """Forget expired sessions; how many."""
        async with self._sessions.begin() as db:
            result = await db.execute(
                delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at <= self._clock())
            )
        return int(getattr(result, "rowcount", 0) or 0)
