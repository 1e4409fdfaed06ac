"""Copy every row of one smsgate database into another: ``smsgate db copy --to URL``.

It is how a smsgate moves from SQLite to PostgreSQL (any supported pair works). The target is
migrated to the newest schema first, and must hold no data: the copy adds rows, it never
merges or overwrites them. Every table of the schema is copied, taken from the SQLAlchemy
metadata (so a table added later cannot be forgotten) in foreign-key order, in chunks read as
they stream, through the tables' own column types (times stay aware, JSON stays JSON). All of
it is written in one transaction on the target: a copy that fails leaves the target empty.

Afterwards PostgreSQL's sequences behind the auto-increment ids are moved past the copied
ids, or the next insert would collide with a copied row; then the row counts of both sides
are compared, table by table, before the transaction commits. A source written to during
the copy (a ``serve`` still running) shows as a mismatch and nothing is kept: stop smsgate,
copy, then point SMSGATE_DATABASE_URL at the target.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Table, func, insert, null, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smsgate.db.engine import is_sqlite, make_engine
from smsgate.db.migrate import upgrade
from smsgate.db.tables import Base

CHUNK = 1000  # rows per read and per INSERT: well under SQLite's and asyncpg's parameter caps

Progress = Callable[[str, int], None]
"""Told after each chunk: the table's name and how many rows were just copied."""


@dataclass(frozen=True, slots=True)
class CopiedTable:
    name: str
    rows: int  # in the source, copied, and counted in the target: the three agree


class CopyRefused(Exception):
    """The copy cannot start, or did not add up and was rolled back; the message says why."""


def tables() -> list[Table]:
    """Every table of the schema, each after the tables its foreign keys point at."""
    return list(Base.metadata.sorted_tables)


def copy_database(
    source_url: str,
    target_url: str,
    *,
    chunk: int = CHUNK,
    progress: Progress | None = None,
    counted: Callable[[dict[str, int]], None] | None = None,
) -> list[CopiedTable]:
    """Migrate both databases to head, then copy every row of ``source_url`` into
    ``target_url``; raises CopyRefused (nothing copied) when it cannot.

    ``counted`` hears the source's row counts before the copy starts (for a progress bar).
    """
    if same_database(source_url, target_url):
        raise CopyRefused("the target is the source database itself")
    if is_sqlite(source_url) and not _sqlite_file(source_url).exists():
        raise CopyRefused(f"the source database {_sqlite_file(source_url)} does not exist")
    # Alembic runs its own event loop, so migrations come before ours.
    upgrade(source_url)
    upgrade(target_url)
    return asyncio.run(_copy(source_url, target_url, chunk, progress, counted))


async def _copy(
    source_url: str,
    target_url: str,
    chunk: int,
    progress: Progress | None,
    counted: Callable[[dict[str, int]], None] | None,
) -> list[CopiedTable]:
    source, target = make_engine(source_url), make_engine(target_url)
    try:
        held = {name: n for name, n in (await _counts(target)).items() if n}
        if held:
            listed = ", ".join(f"{n:,} {name}" for name, n in held.items())
            raise CopyRefused(
                f"the target already holds data ({listed}); copy into an empty database"
            )
        before = await _counts(source)
        if counted is not None:
            counted(before)
        async with target.begin() as writing:
            copied = {}
            for table in tables():
                copied[table.name] = await _copy_table(source, writing, table, chunk, progress)
            if writing.dialect.name == "postgresql":
                await _move_sequences(writing)
            written = await _counts_on(writing)
            after = await _counts(source)
            problems = [
                f"{name}: {before[name]:,} in the source, {copied[name]:,} copied, "
                f"{written[name]:,} in the target"
                + (f", {after[name]:,} in the source now" if after[name] != before[name] else "")
                for name in before
                if len({before[name], copied[name], written[name], after[name]}) > 1
            ]
            if problems:
                # Leaving the block by an exception rolls the whole copy back.
                raise CopyRefused(
                    "the row counts do not match, so nothing was kept ("
                    + "; ".join(problems)
                    + "). Was smsgate still running on the source? Stop it and copy again"
                )
        return [CopiedTable(name, written[name]) for name in before]
    finally:
        await source.dispose()
        await target.dispose()


async def _copy_table(
    source: AsyncEngine,
    writing: AsyncConnection,
    table: Table,
    chunk: int,
    progress: Progress | None,
) -> int:
    order = list(table.primary_key.columns) or list(table.columns)
    # Where the Python value None is stored as JSON's null unless told otherwise: a NULL in
    # the source stays NULL in the target.
    json_columns = [
        column.name
        for column in table.columns
        if isinstance(column.type, JSON) and not column.type.none_as_null
    ]
    copied = 0
    async with source.connect() as reading:
        result = await reading.stream(
            select(table).order_by(*order).execution_options(yield_per=chunk)
        )
        async for part in result.partitions(chunk):
            rows = [dict(row._mapping) for row in part]
            await _insert(writing, table, rows, json_columns)
            copied += len(rows)
            if progress is not None:
                progress(table.name, len(rows))
    return copied


async def _insert(
    writing: AsyncConnection, table: Table, rows: list[dict[str, Any]], json_columns: list[str]
) -> None:
    """One INSERT per shape of rows: those whose JSON columns are NULL get SQL's NULL."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        nulls = tuple(name for name in json_columns if row[name] is None)
        for name in nulls:
            del row[name]
        shapes.setdefault(nulls, []).append(row)
    for nulls, same in shapes.items():
        statement = insert(table)
        if nulls:
            statement = statement.values({name: null() for name in nulls})
        await writing.execute(statement, same)


async def _move_sequences(writing: AsyncConnection) -> None:
    """Make each auto-increment id continue after the largest copied one."""
    for table in tables():
        column = table.autoincrement_column
        if column is None:
            continue
        await writing.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "  # noqa: S608
                f'COALESCE(MAX("{column.name}"), 0) + 1, false) FROM "{table.name}"'
            ),
            {"table": table.name, "column": column.name},
        )


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        return await _counts_on(connection)


async def _counts_on(connection: AsyncConnection) -> dict[str, int]:
    counts = {}
    for table in tables():
        counted = await connection.scalar(select(func.count()).select_from(table))
        counts[table.name] = int(counted or 0)
    return counts


def same_database(one: str, other: str) -> bool:
    """Whether two URLs name the same database (a SQLite file by its resolved path)."""
    if is_sqlite(one) and is_sqlite(other):
        return _sqlite_file(one) == _sqlite_file(other)
    first, second = make_url(one), make_url(other)
    keys = ("host", "port", "database")
    return first.get_backend_name() == second.get_backend_name() and all(
        getattr(first, key) == getattr(second, key) for key in keys
    )


def _sqlite_file(url: str) -> Path:
    return Path(make_url(url).database or "").resolve()
