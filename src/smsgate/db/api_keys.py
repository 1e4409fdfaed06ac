"""API keys in the database: created, found by digest on every request, listed, revoked.

Nothing is cached: a revoked key is refused by the very next request, in every process. The
lookup is one indexed read of a small table; on SQLite it goes straight to the driver, on the
event loop's thread, because SQLAlchemy's connection and result handling cost forty times the
read itself (measured: 0.17-0.38 ms of CPU against 8 us, docs/benchmarks.md), more than half
of what a whole send costs. ``last_used_at`` is written at most once a minute per key, so busy
keys do not turn every request into a write.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from smsgate.db.common import guarded
from smsgate.db.errors import StoreUnavailable
from smsgate.db.ids import new_id
from smsgate.db.tables import ApiKeyRow
from smsgate.domain.access import Scope, format_scopes, parse_scopes
from smsgate.domain.api_keys import generate_key, is_whole_key, key_digest, shown_prefix
from smsgate.domain.clock import Clock, utc_now

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


_COLUMNS = ("id", "name", "prefix", "scopes", "test", "created_at", "last_used_at", "revoked_at")
_FIND = select(*(getattr(ApiKeyRow, name) for name in _COLUMNS)).where(
    ApiKeyRow.key_hash == bindparam("digest")
)
_FIND_SQLITE = f"SELECT {', '.join(_COLUMNS)} FROM api_keys WHERE key_hash = ?"  # noqa: S608


class ApiKeyStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock = utc_now,
        *,
        database_url: str | None = None,
    ) -> None:
        """``database_url``: a SQLite URL gives lookups their own direct connection."""
        self._sessions = sessions
        self._clock = clock
        self._sqlite: sqlite3.Connection | None = None  # opened at the first lookup
        self._sqlite_uri = _read_only_sqlite(database_url) if database_url else None

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
        if self._sqlite_uri is not None:
            return self._find_in_sqlite(digest)
        async with self._sessions() as session:
            row = (await session.execute(_FIND, {"digest": digest})).first()
            return _from_columns(tuple(row)) if row is not None else None

    def _find_in_sqlite(self, digest: str) -> StoredKey | None:
        try:
            if self._sqlite is None:
                assert self._sqlite_uri is not None
                self._sqlite = sqlite3.connect(
                    self._sqlite_uri, uri=True, timeout=5, check_same_thread=False
                )
            row = self._sqlite.execute(_FIND_SQLITE, (digest,)).fetchone()
        except sqlite3.Error as exc:
            self.close()
            raise StoreUnavailable(f"api key lookup failed ({type(exc).__name__})") from None
        if row is None:
            return None
        return _from_columns(tuple(row), text_times=True)

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None

    @guarded
    async def active(self, key_id: str) -> bool:
        """Whether the key with this id exists and is not revoked."""
        async with self._sessions() as session:
            row = await session.get(ApiKeyRow, key_id)
            return row is not None and row.revoked_at is None

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

    async def revoke_by_handle(self, handle: str) -> StoredKey | None:
        """Revoke the key a person names: by its id, its shown prefix, or the whole key (a
        leaked one, say), which is found by its digest. None if no key matches."""
        if not is_whole_key(handle):
            return await self.revoke(handle)
        found = await self.find(key_digest(handle))
        return await self.revoke(found.id) if found is not None else None

    @guarded
    async def exist(self) -> bool:
        """Whether any key was ever created. Revoked keys count: revoking the last key must
        not open the API to anyone on this machine."""
        async with self._sessions() as session:
            return bool(await session.scalar(select(func.count()).select_from(ApiKeyRow)))


def _read_only_sqlite(database_url: str) -> str | None:
    """A read-only URI for the SQLite file of ``database_url`` (WAL lets it read while others
    write); None for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return f"file:{quote(url.database)}?mode=ro"


def _from_columns(row: tuple[Any, ...], *, text_times: bool = False) -> StoredKey:
    """A key from ``_COLUMNS``' values; SQLite's driver gives times as naive UTC text."""
    values = dict(zip(_COLUMNS, row, strict=True))
    for name in ("created_at", "last_used_at", "revoked_at"):
        value = values[name]
        if text_times and isinstance(value, str):
            values[name] = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return StoredKey(
        id=values["id"],
        name=values["name"],
        prefix=values["prefix"],
        scopes=parse_scopes(values["scopes"]),
        test=bool(values["test"]),
        created_at=values["created_at"],
        last_used_at=values["last_used_at"],
        revoked_at=values["revoked_at"],
    )


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
