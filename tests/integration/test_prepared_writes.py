"""The hot writes run on the driver (``db.prepared``) store exactly what SQLAlchemy stores,
and their errors are told apart as group commit needs: a refused write, or a database down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.db.common import EVENTS, MESSAGES, OPT_OUTS
from smsgate.db.engine import make_engine
from smsgate.db.ids import new_id
from smsgate.db.prepared import DatabaseDown, WriteFault, list_value, one_of, prepare, transaction

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

EVERY_COLUMN = [c.name for c in MESSAGES.c]


@pytest.fixture
async def engine(migrated: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(migrated)
    try:
        yield engine
    finally:
        await engine.dispose()


def message(**changes: Any) -> dict[str, Any]:
    # Every kind of value a message row holds: an aware time off UTC, money, a NULL, unicode.
    at = datetime(2026, 12, 3, 15, 4, 5, 123456, tzinfo=UTC).astimezone(
        timezone(timedelta(hours=-5))
    )
    row: dict[str, Any] = {
        "id": new_id(),
        "to_number": "+14155552671",
        "sender": "+14155550199",
        "text": "Ça marche 👍",
        "encoding": "UCS-2",
        "segments": 1,
        "estimated_cost": Decimal("0.00550"),
        "status": "sending",
        "provider": "plivo",
        "provider_message_uuid": None,
        "error_code": None,
        "error_reason": None,
        "attempts": 1,
        "units": 1,
        "amount": Decimal("0.01234"),
        "created_at": at,
        "updated_at": at,
        "batch_id": None,
        "due_at": at + timedelta(minutes=5),
        "expires_at": None,
        "scheduled_at": at,
        "api_key_id": "env_1",
        "callback_url": None,
        "pool": None,
    }
    row.update(changes)
    return row


async def stored(engine: AsyncEngine, message_id: str) -> dict[str, Any]:
    async with engine.connect() as connection:
        result = await connection.execute(select(MESSAGES).where(MESSAGES.c.id == message_id))
        return dict(result.one()._mapping)


async def test_a_message_row_reads_back_as_the_one_sqlalchemy_wrote(engine: AsyncEngine) -> None:
    by_sqlalchemy, by_driver = message(), message()
    async with engine.begin() as connection:
        await connection.execute(insert(MESSAGES), [by_sqlalchemy])
    statement = prepare(insert(MESSAGES).inline(), engine.dialect, EVERY_COLUMN)
    async with transaction(engine) as tx:
        await tx.run_many(statement, [by_driver])
    ours, theirs = await stored(engine, by_driver["id"]), await stored(engine, by_sqlalchemy["id"])
    assert {**ours, "id": None} == {**theirs, "id": None}
    assert ours["created_at"] == by_driver["created_at"]  # the same instant, read back as UTC
    assert ours["created_at"].tzinfo is not None
    assert ours["amount"] == Decimal("0.01234")
    assert ours["text"] == "Ça marche 👍"


async def test_a_list_parameter_matches_each_of_its_values_and_nothing_else(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(OPT_OUTS),
            [
                {"number": n, "source": "api", "created_at": datetime.now(UTC)}
                for n in ("+14155550001", "+14155550002", "+14155550003")
            ],
        )
    dialect = engine.dialect
    statement = prepare(
        select(OPT_OUTS.c.number).where(one_of(OPT_OUTS.c.number, "numbers", dialect)), dialect
    )
    asked = ["+14155550001", "+14155550003", "+14155559999", "' OR 1=1 --"]
    async with transaction(engine) as tx:
        rows = await tx.fetch(statement, {"numbers": list_value(asked, dialect)})
        none = await tx.fetch(statement, {"numbers": list_value([], dialect)})
    assert sorted(row[0] for row in rows) == ["+14155550001", "+14155550003"]
    assert none == []


async def test_a_refused_write_is_a_write_fault_and_rolls_the_transaction_back(
    engine: AsyncEngine,
) -> None:
    statement = prepare(insert(MESSAGES).inline(), engine.dialect, EVERY_COLUMN)
    first, twin = message(), message()
    twin["id"] = first["id"]

    async def a_good_write_then_a_twin() -> None:
        async with transaction(engine) as tx:
            await tx.run_many(statement, [message(id="01KEPT0000000000000000000X")])
            await tx.run_many(statement, [first, twin])

    with pytest.raises(WriteFault):
        await a_good_write_then_a_twin()
    async with engine.connect() as connection:
        kept = await connection.scalar(select(MESSAGES.c.id).limit(1))
    assert kept is None  # nothing of the transaction was kept
    async with transaction(engine) as tx:  # and the connection is fine for the next one
        await tx.run_many(statement, [message()])


async def test_an_event_for_a_message_that_does_not_exist_is_a_write_fault(
    engine: AsyncEngine,
) -> None:
    event = {
        "message_id": "nope",
        "status": "accepted",
        "applied": True,
        "source": "api",
        "at": datetime.now(UTC),
        "detail": {"a": 1},
        "published": True,
    }
    statement = prepare(insert(EVENTS).inline(), engine.dialect, list(event))
    with pytest.raises(WriteFault):
        async with transaction(engine) as tx:
            await tx.run_many(statement, [event])


async def test_an_update_counts_the_rows_it_changed_where_the_driver_can(
    engine: AsyncEngine,
) -> None:
    row = message()
    async with engine.begin() as connection:
        await connection.execute(insert(MESSAGES), [row])
    move = (
        update(MESSAGES)
        .where(MESSAGES.c.id == bindparam("m_id"), MESSAGES.c.status == bindparam("m_old"))
        .values(status=bindparam("m_new"))
    )
    statement = prepare(move, engine.dialect)
    params = [
        {"m_id": row["id"], "m_old": "sending", "m_new": "queued"},
        {"m_id": row["id"], "m_old": "sending", "m_new": "failed"},  # loses: no longer sending
    ]
    async with transaction(engine) as tx:
        changed = await tx.run_many(statement, params)
    # sqlite3 counts; asyncpg reports no counts for an executemany (group commit then reads
    # the rows first instead of trusting its guess).
    assert changed == (1 if engine.dialect.name == "sqlite" else None)
    assert (await stored(engine, row["id"]))["status"] == "queued"


async def test_a_database_that_cannot_be_opened_is_down(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'smsgate.db'}")
    try:
        with pytest.raises(DatabaseDown):
            async with transaction(engine):
                pass
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_going_away_mid_transaction_is_down_and_the_connection_is_dropped(
    postgres: str,
) -> None:
    engine = make_engine(postgres)
    try:
        statement = prepare(insert(MESSAGES).inline(), engine.dialect, EVERY_COLUMN)

        async def write_after_the_server_dropped_us() -> None:
            async with transaction(engine) as tx:
                async with engine.connect() as other:
                    await other.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    )
                await tx.run_many(statement, [message()])

        with pytest.raises(DatabaseDown):
            await write_after_the_server_dropped_us()
        async with transaction(engine) as tx:  # the pool hands out a live connection again
            await tx.run_many(statement, [message()])
    finally:
        await engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    from smsgate.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'smsgate.db'}"
    upgrade(url)  # synchronous: Alembic runs its own event loop
    return url


async def test_a_list_parameter_is_looked_up_by_index_never_scanned(sqlite_url: str) -> None:
    """One statement whatever the list's length must not cost a scan of a large table.
    (SQLite's plan; PostgreSQL picks its index scan by the tables' statistics.)"""
    engine = make_engine(sqlite_url)
    dialect = engine.dialect
    statement = prepare(
        select(OPT_OUTS.c.number).where(one_of(OPT_OUTS.c.number, "numbers", dialect)), dialect
    )
    async with engine.connect() as connection:
        rows = await connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement.sql,
            tuple(statement.parameters({"numbers": list_value(["+14155550001"], dialect)})),
        )
        plan = " / ".join(str(row[-1]) for row in rows)
    await engine.dispose()
    assert "SEARCH opt_outs USING" in plan, plan
    assert "SCAN opt_outs" not in plan, plan


async def test_a_value_its_column_cannot_take_is_a_write_fault(engine: AsyncEngine) -> None:
    """As SQLAlchemy refuses it (a naive time): group commit then retries each write alone,
    so the other writes of the batch are kept."""
    statement = prepare(insert(MESSAGES).inline(), engine.dialect, EVERY_COLUMN)
    naive = message(created_at=datetime(2026, 12, 3, 9, 0))
    with pytest.raises(WriteFault):
        async with transaction(engine) as tx:
            await tx.run_many(statement, [message(), naive])
