"""What every store shares: the core table handles and the one translation of database errors."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from sqlalchemy import Table
from sqlalchemy.exc import SQLAlchemyError

from smsgate.db.errors import StoreUnavailable
from smsgate.db.tables import EventRow, MessageRow, OptOutRow

MESSAGES = cast(Table, MessageRow.__table__)
EVENTS = cast(Table, EventRow.__table__)
OPT_OUTS = cast(Table, OptOutRow.__table__)

P = ParamSpec("P")
T = TypeVar("T")


def guarded(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Turn the database's failures into StoreUnavailable, the one error callers handle."""

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (SQLAlchemyError, OSError) as exc:
            # Only the kind: the message of a connection error can hold the URL and password.
            raise StoreUnavailable(type(exc).__name__) from exc

    return guarded
