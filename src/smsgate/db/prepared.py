"""Statements compiled once and run on the database driver itself: group commit's hot writes.

Under load every send writes a message, its events and its outcome. Through SQLAlchemy's
execution each statement pays for building an execution context, processing its parameters
row by row, a cursor result and a transaction object, more than SQLite itself spends writing
the rows (measured: docs/benchmarks.md). Here the same Core statements are compiled once, for
the engine's dialect, and run on the driver's connection (sqlite3, asyncpg) with their
parameters converted by SQLAlchemy's own bind processors, so a row is stored exactly as
SQLAlchemy would store it. Everything else, and group commit's write-by-write fallback, keeps
to SQLAlchemy.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from operator import itemgetter
from typing import Any, Protocol

from sqlalchemy import ARRAY, ColumnElement, String, any_, bindparam, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from smsgate.db.engine import InlineSqliteConnection


class WriteFault(Exception):
    """A write the database refused (a constraint, a bad value): others may still succeed."""


class DatabaseDown(Exception):
    """The database itself failed (connection lost, locked, down)."""


class Prepared:
    """One statement in the dialect's SQL, with how to turn a row of values into its
    positional parameters: taken by one ``itemgetter``, then converted where a column's type
    has a bind processor (a time, money or JSON), so the per-row work is that and no more."""

    __slots__ = ("_convert", "_fixed", "_take", "sql")

    def __init__(
        self,
        sql: str,
        keys: Sequence[str],
        processors: Sequence[Callable[[Any], Any] | None],
        fixed: Mapping[str, Any],
    ) -> None:
        self.sql = sql
        # Rows give every key but the values bound in the statement itself (a literal in a
        # subquery, say), which are put in at their places.
        given = [key for key in keys if key not in fixed]
        if not given:
            self._take: Callable[[Mapping[str, Any]], tuple[Any, ...]] = lambda row: ()
        elif len(given) == 1:
            only = given[0]
            self._take = lambda row: (row[only],)
        else:
            self._take = itemgetter(*given)
        self._fixed = tuple((at, fixed[key]) for at, key in enumerate(keys) if key in fixed)
        self._convert = tuple((at, p) for at, p in enumerate(processors) if p is not None)

    def parameters(self, row: Mapping[str, Any]) -> Sequence[Any]:
        values = self._take(row)
        if not self._fixed and not self._convert:
            return values
        listed = list(values)
        for at, value in self._fixed:
            listed.insert(at, value)
        try:
            for at, process in self._convert:
                listed[at] = process(listed[at])
        except (ValueError, TypeError) as exc:  # a value its column cannot take (a naive time)
            raise WriteFault(type(exc).__name__) from exc
        return listed


def prepare(
    statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None
) -> Prepared:
    compiled = statement.compile(
        dialect=dialect, column_keys=list(column_keys) if column_keys is not None else None
    )
    assert isinstance(compiled, SQLCompiler)  # a statement compiles to SQL, never to DDL
    keys = tuple(compiled.positiontup or ())
    processors = tuple(
        compiled.binds[key].type.dialect_impl(dialect).bind_processor(dialect) for key in keys
    )
    fixed = {
        key: bind.value
        for key, bind in compiled.binds.items()
        if bind.value is not None and not bind.required
    }
    return Prepared(str(compiled), keys, processors, fixed)


def one_of(column: ColumnElement[Any], name: str, dialect: Dialect) -> ColumnElement[bool]:
    """``column`` is one of a list given as the single parameter ``name``: one statement,
    prepared once, whatever the list's length (an ``IN (?, ?, ...)`` would be a new statement
    for every length). Its value is made by ``list_value``."""
    if dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(String)))
    values = func.json_each(bindparam(name, type_=String)).table_valued("value")
    return column.in_(select(values.c.value).scalar_subquery())


def list_value(values: Sequence[object], dialect: Dialect) -> object:
    """A list, as ``one_of``'s parameter wants it on ``dialect``."""
    return list(values) if dialect.name == "postgresql" else json.dumps(list(values))


class Transaction(Protocol):
    # Whether ``run_many`` tells the rows it changed: sqlite3 sums them over an executemany,
    # asyncpg reports none.
    counts_rows: bool

    async def run_many(self, statement: Prepared, rows: Sequence[Mapping[str, Any]]) -> int | None:
        """Run ``statement`` once per row; the rows it changed, where the driver says."""

    async def fetch(self, statement: Prepared, row: Mapping[str, Any]) -> list[tuple[Any, ...]]: ...


class _SqliteTransaction:
    """On sqlite3 directly: smsgate's SQLite connection runs its calls on the loop's thread
    anyway (``db.engine.InlineSqliteConnection``)."""

    counts_rows = True

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def run_many(self, statement: Prepared, rows: Sequence[Mapping[str, Any]]) -> int | None:
        cursor = self._connection.executemany(
            statement.sql, [statement.parameters(row) for row in rows]
        )
        return cursor.rowcount  # sqlite3 sums it over the rows of an executemany

    async def fetch(self, statement: Prepared, row: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self._connection.execute(statement.sql, statement.parameters(row)).fetchall()


class _AsyncpgTransaction:
    counts_rows = False

    def __init__(self, connection: Any) -> None:
        self._connection = connection  # an asyncpg.Connection

    async def run_many(self, statement: Prepared, rows: Sequence[Mapping[str, Any]]) -> int | None:
        await self._connection.executemany(
            statement.sql, [statement.parameters(row) for row in rows]
        )
        return None  # asyncpg's executemany reports no row counts

    async def fetch(self, statement: Prepared, row: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        records = await self._connection.fetch(statement.sql, *statement.parameters(row))
        return [tuple(record) for record in records]


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[Transaction]:
    """A transaction on a pooled connection's driver, committed when the block ends.

    Raises ``WriteFault`` when the database refused a write, ``DatabaseDown`` when it failed.
    """
    connection = engine.connect()
    try:
        await connection.start()
        driver = (await connection.get_raw_connection()).driver_connection
    except (SQLAlchemyError, OSError) as exc:  # no connection was made: none to close
        raise DatabaseDown(type(exc.__cause__ or exc).__name__) from exc
    try:
        if isinstance(driver, InlineSqliteConnection):
            async with _on_sqlite(driver.sqlite3_connection) as tx:
                yield tx
        elif engine.dialect.name == "postgresql":
            async with _on_asyncpg(connection, driver) as tx:
                yield tx
        else:
            raise DatabaseDown(f"no prepared writes for the {engine.dialect.name} driver")
    finally:
        await connection.close()


@asynccontextmanager
async def _on_sqlite(connection: sqlite3.Connection) -> AsyncIterator[Transaction]:
    try:
        connection.execute("BEGIN")
        try:
            yield _SqliteTransaction(connection)
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
    except (
        sqlite3.IntegrityError,
        sqlite3.DataError,
        sqlite3.ProgrammingError,
        sqlite3.InterfaceError,
    ) as exc:
        raise WriteFault(type(exc).__name__) from exc
    except (sqlite3.Error, OSError) as exc:
        raise DatabaseDown(type(exc).__name__) from exc


@asynccontextmanager
async def _on_asyncpg(connection: AsyncConnection, driver: Any) -> AsyncIterator[Transaction]:
    import asyncpg  # only where PostgreSQL is configured

    faults = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)
    # What a connection the server dropped raises, depending on when it notices.
    broken = (
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.exceptions.InternalClientError,
        OSError,
    )
    try:
        transaction = driver.transaction()
        await transaction.start()
        try:
            yield _AsyncpgTransaction(driver)
        except BaseException:
            if not driver.is_closed():
                # A failed rollback means a broken connection: what the body raised says more.
                with suppress(Exception):
                    await transaction.rollback()
            raise
        await transaction.commit()
    except faults as exc:  # asyncpg's DataError is an InterfaceError too: checked first
        raise WriteFault(type(exc).__name__) from exc
    except broken as exc:
        await connection.invalidate()  # not back to the pool: the next checkout reconnects
        raise DatabaseDown(type(exc).__name__) from exc
    except asyncpg.PostgresError as exc:  # a serialization failure, a deadlock, a timeout
        raise DatabaseDown(type(exc).__name__) from exc
