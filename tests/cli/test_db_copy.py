"""``smsgate db copy --to URL``: SQLite to PostgreSQL for real, every table and every value.

The rows are made from the schema itself (every table of the metadata, every column by its
type, foreign keys pointing at the parent rows), so a table added later is copied by these
tests too, and one the copy forgets fails them.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    Numeric,
    String,
    Table,
    func,
    insert,
    select,
)

from smsgate.db.copy import CopyRefused, copy_database, tables
from smsgate.db.engine import make_engine
from smsgate.db.migrate import upgrade
from smsgate.db.types import UtcDateTime
from tests.cli.test_cli import environment, smsgate
from tests.support.databases import fresh_postgres_database

ROWS = 3  # per table; the last one has every nullable column NULL


def value_for(table: Table, column: Column[Any], i: int) -> Any:
    if column.nullable and i == ROWS - 1 and not column.primary_key:
        return None
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC) + timedelta(hours=i)
    if isinstance(kind, Boolean):
        return i % 2 == 0
    if isinstance(kind, JSON):
        return {"n": i, "text": "Grüße 👋", "list": [1, None]}
    if isinstance(kind, Numeric) and not isinstance(kind, Float):
        return Decimal("0.00350") + i
    if isinstance(kind, Float):
        return 1.25 + i
    if isinstance(kind, Integer):
        return 200 + i
    if isinstance(kind, String):  # Text too
        text = f"{i}-{table.name}.{column.name}"
        return text[: kind.length] if kind.length else text
    raise AssertionError(f"no sample value for {table.name}.{column.name} ({kind!r})")


def sample_rows() -> dict[str, list[dict[str, Any]]]:
    """ROWS rows for every table, parents first; auto-increment ids left to the database."""
    made: dict[str, list[dict[str, Any]]] = {}
    for table in tables():
        rows = []
        for i in range(ROWS):
            row: dict[str, Any] = {}
            for column in table.columns:
                if column is table.autoincrement_column:
                    continue
                parent = next(iter(column.foreign_keys), None)
                if parent is not None:
                    row[column.name] = made[parent.column.table.name][i][parent.column.name]
                else:
                    row[column.name] = value_for(table, column, i)
            rows.append(row)
        made[table.name] = rows
    return made


async def fill(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            for table in tables():
                await connection.execute(insert(table), rows[table.name])
    finally:
        await engine.dispose()


async def everything(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            found = {}
            for table in tables():
                query = select(table).order_by(*table.primary_key.columns)
                found[table.name] = [dict(r._mapping) for r in await connection.execute(query)]
            return found
    finally:
        await engine.dispose()


@pytest.fixture
def source(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    upgrade(url)
    asyncio.run(fill(url, sample_rows()))
    return url


@pytest.mark.postgres
def test_copies_every_table_and_value_to_postgresql_then_refuses_a_second_copy(
    source: str, tmp_path: Path
) -> None:
    with fresh_postgres_database() as target:
        done = smsgate(
            "db", "copy", "--to", target, env=environment(SMSGATE_DATABASE_URL=source), cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        assert f"Copied {len(tables()) * ROWS:,} rows" in done.stdout
        for table in tables():
            assert f"  {table.name} " in done.stdout
        assert "Row counts match" in done.stdout

        copied, original = asyncio.run(everything(target)), asyncio.run(everything(source))
        assert copied == original  # times (aware, to the microsecond), money, JSON, NULLs
        assert all(len(rows) == ROWS for rows in copied.values())

        with pytest.raises(CopyRefused, match=r"already holds data \(3 api_keys, "):
            copy_database(source, target)
        assert asyncio.run(everything(target)) == copied  # no row added twice
        asyncio.run(check_nulls_and_sequences(target))


async def check_nulls_and_sequences(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            for table in tables():
                for column in table.columns:
                    if column.nullable and isinstance(column.type, JSON):
                        # A NULL stays SQL's NULL, not JSON's null.
                        query = select(func.count()).where(column.is_(None))
                        assert await connection.scalar(query) == 1, column
                if table.autoincrement_column is None:
                    continue
                # A new row takes the next id: the sequence was moved past the copied ones.
                largest = await connection.scalar(select(func.max(table.autoincrement_column)))
                row = sample_rows()[table.name][0]
                new_id = await connection.scalar(
                    insert(table).values(row).returning(table.autoincrement_column)
                )
                assert new_id == (largest or 0) + 1, table.name
    finally:
        await engine.dispose()


@pytest.mark.postgres
def test_a_source_written_during_the_copy_leaves_the_target_empty(source: str) -> None:
    path = source.removeprefix("sqlite:///")
    wrote: list[str] = []

    def serve_still_running(table: str, _rows: int) -> None:
        if not wrote:  # as a smsgate still serving would, while the first table is copied
            with sqlite3.connect(path) as connection:
                connection.execute(
                    "INSERT INTO opt_outs (number, source, created_at) VALUES (?, ?, ?)",
                    ("+14155550100", "keyword", "2026-01-02 03:04:05.000000"),
                )
            wrote.append(table)

    with fresh_postgres_database() as target:
        with pytest.raises(CopyRefused, match=r"opt_outs: 3 in the source.*4 in the source now"):
            copy_database(source, target, progress=serve_still_running)
        assert wrote
        assert all(rows == [] for rows in asyncio.run(everything(target)).values())


def test_refuses_to_copy_a_database_into_itself_or_from_nothing(
    source: str, tmp_path: Path
) -> None:
    relative = f"sqlite:///{Path(source.removeprefix('sqlite:///')).relative_to(Path.cwd())}"
    with pytest.raises(CopyRefused, match="the target is the source database itself"):
        copy_database(source, relative)  # the same file, however it is written
    missing = tmp_path / "nothing-here.db"
    with pytest.raises(CopyRefused, match="does not exist"):
        copy_database(f"sqlite:///{missing}", f"sqlite:///{tmp_path / 'target.db'}")
    assert not missing.exists()  # not created by looking
    assert not (tmp_path / "target.db").exists()


def test_an_unusable_or_unreachable_target_exits_without_showing_its_password(
    source: str, tmp_path: Path
) -> None:
    targets = {
        "mysql": "mysql://root@127.0.0.1/smsgate",
        "unreachable": "postgresql://smsgate:hunter2@127.0.0.1:1/smsgate",  # nobody on port 1
    }
    with ThreadPoolExecutor(len(targets)) as pool:
        started = {
            name: pool.submit(
                smsgate,
                "db",
                "copy",
                "--to",
                to,
                env=environment(SMSGATE_DATABASE_URL=source),
                cwd=tmp_path,
            )
            for name, to in targets.items()
        }
        done = {name: future.result() for name, future in started.items()}
    assert done["mysql"].returncode == 2
    assert "--to is not a usable database URL" in done["mysql"].stderr
    assert done["unreachable"].returncode == 1
    assert "cannot reach a database" in done["unreachable"].stderr
    assert "nothing was copied" in done["unreachable"].stderr
    assert "hunter2" not in done["unreachable"].stderr + done["unreachable"].stdout
