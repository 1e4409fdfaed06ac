"""API keys in the database: created, found by digest on every request, listed, revoked.

Nothing is cached: a revoked key is refused by the very next request, in every process. The
lookup is one indexed read of a small table. ``last_used_at`` is written at most once a
minute per key, so busy keys do not turn every request into a write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from smsgate.db.ids import new_id
from smsgate.db.store import Clock, guarded, utc_now
from smsgate.db.tables import ApiKeyRow
from smsgate.domain.access import Scope, format_scopes, parse_scopes
from smsgate.domain.api_keys import generate_key, key_digest, shown_prefix

TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class StoredKey:
    id: str
    name: str
    prefix: str
    scopes: frozenset[Scope]
    test: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": sorted(scope.value for scope in self.scopes),
            "mode": "test" if self.test else "live",
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


class ApiKeyStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock = utc_now) -> None:
        self._sessions = sessions
        self._clock = clock

    @guarded
    async def create(
        self, name: str, scopes: frozenset[Scope], *, test: bool
    ) -> tuple[StoredKey, str]:
        """Store a new key; the key itself is returned here and never again."""
        key = generate_key(test=test)
        row = ApiKeyRow(
            id=new_id(),
            name=name,
            prefix=shown_prefix(key),
            key_hash=key_digest(key),
            scopes=format_scopes(scopes),
            test=test,
            created_at=self._clock(),
            last_used_at=None,
            revoked_at=None,
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return _stored(row), key

    @guarded
    async def find(self, digest: str) -> StoredKey | None:
        """The key with this SHA-256 digest (hex), revoked or not."""
        async with self._sessions() as session:
            row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == digest))
            return _stored(row) if row is not None else None

    @guarded
    async def touch(self, key: StoredKey) -> None:
        """Note that ``key`` was just used, unless that was noted less than a minute ago."""
        now = self._clock()
        if key.last_used_at is not None and now - key.last_used_at < TOUCH_EVERY:
            return
        async with self._sessions.begin() as session:
            await session.execute(
                update(ApiKeyRow).where(ApiKeyRow.id == key.id).values(last_used_at=now)
            )

    @guarded
    async def all(self) -> list[StoredKey]:
        """Every key, the newest first; revoked ones too (they stay, for the record)."""
        async with self._sessions() as session:
            rows = await session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id.desc()))
            return [_stored(row) for row in rows]

    @guarded
    async def revoke(self, handle: str) -> StoredKey | None:
        """Revoke the key with this id or shown prefix; None if there is no such key.

        Revoking a revoked key changes nothing and returns it as it is.
        """
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(ApiKeyRow).where(or_(ApiKeyRow.id == handle, ApiKeyRow.prefix == handle))
            )
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = self._clock()
            return _stored(row)

    @guarded
    async def exist(self) -> bool:
        """Whether any key was ever created. Revoked keys count: revoking the last key must
        not open the API to anyone on this machine."""
        async with self._sessions() as session:
            return bool(await session.scalar(select(func.count()).select_from(ApiKeyRow)))


def _stored(row: ApiKeyRow) -> StoredKey:
    return StoredKey(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=parse_scopes(row.scopes),
        test=row.test,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
