"""How ``db.prepared`` lays a row out as a statement's positional parameters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, literal, select
from sqlalchemy.engine import Dialect

from smsgate.db.common import MESSAGES
from smsgate.db.engine import make_engine
from smsgate.db.prepared import prepare
from smsgate.db.types import UtcDateTime

# The dialects smsgate's engines use; making an engine connects to nothing.
DIALECTS = [
    make_engine(url).dialect for url in ("sqlite:///unused.db", "postgresql://nobody@nowhere/none")
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_values_bound_in_the_statement_go_in_their_places_between_the_rows_values(
    dialect: Dialect,
) -> None:
    statement = select(MESSAGES.c.id).where(
        MESSAGES.c.to_number == bindparam("to"),
        MESSAGES.c.status == literal("queued"),
        MESSAGES.c.created_at > bindparam("since", type_=UtcDateTime()),
    )
    prepared = prepare(statement, dialect)
    since = datetime(2026, 12, 3, 10, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    to, status, moment = prepared.parameters({"to": "+14155552671", "since": since})
    assert (to, status) == ("+14155552671", "queued")
    if dialect.name == "sqlite":
        assert moment == "2026-12-03 09:00:00.000005"  # UTC, as SQLAlchemy stores it there
    else:
        assert moment == since
        assert moment.tzinfo is not None


def test_a_statement_of_one_parameter_takes_it_from_the_row() -> None:
    prepared = prepare(select(MESSAGES.c.id).where(MESSAGES.c.id == bindparam("id")), DIALECTS[0])
    assert list(prepared.parameters({"id": "01ABC", "other": 1})) == ["01ABC"]


def test_money_is_converted_as_its_column_is_on_each_database() -> None:
    statement = select(MESSAGES.c.id).where(
        MESSAGES.c.amount == bindparam("amount", type_=MESSAGES.c.amount.type)
    )
    on_sqlite = prepare(statement, DIALECTS[0]).parameters({"amount": Decimal("0.00550")})
    on_postgres = prepare(statement, DIALECTS[1]).parameters({"amount": Decimal("0.00550")})
    assert list(on_sqlite) == [0.0055]  # SQLite has no decimal: SQLAlchemy binds a float
    assert list(on_postgres) == [Decimal("0.00550")]
    (money,) = on_postgres
    assert isinstance(money, Decimal)


def test_a_statement_of_no_parameters_takes_nothing() -> None:
    prepared = prepare(
        select(MESSAGES.c.id).where(MESSAGES.c.status == literal("queued")), DIALECTS[0]
    )
    assert list(prepared.parameters({})) == ["queued"]
