"""Group commit: the message writes of many concurrent requests, in one transaction.

Under load, hundreds of sends each write their row, then their outcome. One transaction each
would cost more than the rest of a send together (measured: docs/benchmarks.md); so writes are
queued, and one writer task applies everything queued in one transaction with one
``executemany`` per statement, then wakes every waiter. Nothing waits longer than the batch in
progress; a lone request still gets a batch of one at once.

Semantics are those of one transaction per write:
- a status change is still compare-and-set: the batch reads the current statuses (locking the
  rows on PostgreSQL), decides every change with ``domain.message.decide`` in queue order, and
  the UPDATE keeps ``WHERE status = <what was read>``. If the row counts show another writer
  got in between, the batch is undone and each write is retried on its own;
- if the batch fails for any other reason, each write is retried on its own, so one bad write
  cannot fail the others.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    Table,
    and_,
    bindparam,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.db.errors import StoreUnavailable
from smsgate.db.prepared import (
    DatabaseDown,
    Prepared,
    Transaction,
    WriteFault,
    list_value,
    one_of,
    prepare,
    transaction,
)
from smsgate.db.rows import OPTED_OUT, REJECTED, Event, event_row, refuse_opted_out
from smsgate.db.webhook_rows import status_listeners
from smsgate.domain.message import MessageStatus, Transition, decide
from smsgate.logs import get_logger

log = get_logger("smsgate.store")

MAX_BATCH = 500
OUTCOME_COLUMNS = (
    "provider_message_uuid",
    "error_code",
    "error_reason",
    "units",
    "amount",
    "sender",
)


@dataclass(slots=True)
class Insert:
    """A new message and its first events.

    With ``unless_opted_out``, the batch looks its number up in the opt-out list in the same
    transaction, and stores an opted-out message as rejected instead (``done`` says True).
    """

    row: dict[str, object]
    events: list[dict[str, object]]
    done: asyncio.Future[bool] = field(repr=False)
    unless_opted_out: bool = False


@dataclass(slots=True)
class Change:
    """A reported status, with the fields that travel with it and its event."""

    message_id: str
    status: MessageStatus
    at: datetime
    source: str
    columns: dict[str, object]
    detail: dict[str, Any] | None
    done: asyncio.Future[Transition | None] = field(repr=False)
    # The status the writer knows the message has (our own send: "sending"). Where the
    # database reports exact row counts, the batch then trusts it instead of reading the
    # row, and a wrong guess shows as a short row count: the batch is retried write by write.
    expected: MessageStatus | None = None
    # False for a claim: losing the race to another worker is not worth a line in the timeline.
    keep_refused: bool = True


Write = Insert | Change
Alone = Callable[[Write], Awaitable[None]]


class GroupCommit:
    def __init__(
        self,
        engine: AsyncEngine,
        messages: Table,
        events: Table,
        opt_outs: Table,
        alone: Alone,
        workers: int = 1,
    ) -> None:
        self._engine = engine
        # Several writers only help where the database works while we wait on it
        # (PostgreSQL); their batches cannot interleave badly, as each locks its rows.
        self._workers_wanted = workers
        self._alone = alone  # applies one write in a transaction of its own
        self._queue: deque[Write] = deque()
        self._wakeup = asyncio.Event()
        self._workers: set[asyncio.Task[None]] = set()
        self._closed = False
        column = messages.c

        def typed(name: str, column_name: str) -> BindParameter[Any]:
            # Typed, so each value is converted as its column's (a Decimal for SQLite, say).
            return bindparam(name, type_=column[column_name].type)

        # Events are stored already published when the fan-out would only mark them so: a
        # change that moved nothing, or, with no endpoint listening, one whose message has no
        # callback_url of its own. Decided by the database in the INSERT itself, row by row in
        # this transaction: exact (an endpoint registered before it is seen) and no round trip.
        event = events.c
        callback_url = (
            select(column.callback_url)
            .where(column.id == bindparam("message_id"))
            .scalar_subquery()
        )
        add_events = (
            insert(events)
            .inline()
            .values(
                message_id=bindparam("message_id"),
                status=bindparam("status"),
                applied=bindparam("applied", type_=event.applied.type),
                source=bindparam("source"),
                at=bindparam("at", type_=event.at.type),
                detail=bindparam("detail", type_=event.detail.type),
                published=or_(
                    not_(bindparam("applied", type_=event.applied.type)),
                    and_(not_(status_listeners()), callback_url.is_(None)),
                ),
            )
        )
        move = (
            update(messages)
            .where(column.id == typed("m_id", "id"), column.status == typed("m_old", "status"))
            .values(
                status=typed("m_new", "status"),
                updated_at=typed("m_at", "updated_at"),
                # A claim (a move to "sending") is an attempt at the hand-off.
                attempts=column.attempts + typed("m_claims", "attempts"),
                **{
                    name: func.coalesce(typed(f"m_{name}", name), column[name])
                    for name in OUTCOME_COLUMNS
                },
            )
        )
        dialect = engine.dialect
        self._dialect = dialect
        every_column = [c.name for c in messages.c]
        self._add_messages = prepare(insert(messages).inline(), dialect, every_column)
        self._add_events = prepare(add_events, dialect)
        self._move = prepare(move, dialect)
        self._opted_out_numbers = prepare(
            select(opt_outs.c.number).where(one_of(opt_outs.c.number, "numbers", dialect)),
            dialect,
        )
        self._current = prepare(
            select(column.id, column.status)
            .where(one_of(column.id, "ids", dialect))
            # PostgreSQL locks the rows (in id order, so processes cannot deadlock; "no key"
            # so foreign-key checks are not blocked); SQLite serialises writers anyway.
            .order_by(column.id)
            .with_for_update(key_share=True),
            dialect,
        )
        self._opted_out_ids = prepare(
            select(column.id)
            .join(opt_outs, opt_outs.c.number == column.to_number)
            .where(one_of(column.id, "ids", dialect)),
            dialect,
        )

    async def submit(self, write: Write) -> None:
        """Queue ``write``; its future resolves once its batch is committed (or failed)."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        self._queue.append(write)
        self._wakeup.set()
        self._workers = {w for w in self._workers if not w.done()}
        if len(self._workers) < self._workers_wanted:
            # A context of its own: the worker serves every request, it belongs to none.
            self._workers.add(
                asyncio.create_task(
                    self._work(), name="smsgate-group-commit", context=contextvars.Context()
                )
            )

    async def close(self) -> None:
        """Finish what is queued, then stop; later writes are refused."""
        self._closed = True
        self._wakeup.set()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._fail_all(list(self._queue), StoreUnavailable("the store is closed"))
        self._queue.clear()

    async def _work(self) -> None:
        batch: list[Write] = []
        try:
            while self._queue or not self._closed:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._queue:
                    count = min(len(self._queue), MAX_BATCH)
                    batch = [self._queue.popleft() for _ in range(count)]
                    await self._commit(batch)
                    batch = []
        finally:
            # Cancelled or broken: nobody may wait forever for a write that will not happen.
            self._fail_all(batch, StoreUnavailable("the store's writer stopped"))

    async def _commit(self, batch: list[Write]) -> None:
        # A write whose request was cancelled before it was stored is dropped: that message
        # was never handed to a provider, and storing it "sending" would later say otherwise.
        batch = [w for w in batch if not w.done.cancelled()]
        if not batch:
            return
        try:
            async with transaction(self._engine) as tx:
                results = await self._apply(tx, batch)
        except DatabaseDown as exc:
            # The database itself failed (connection lost, locked, down): retrying each write
            # alone would only fail slower.
            self._fail_all(batch, StoreUnavailable(str(exc)))
            return
        except (WriteFault, ConcurrentChange) as exc:
            # One write is at fault, or another writer raced us: isolate and retry each.
            log.warning("group_commit_split", writes=len(batch), error=str(exc))
            for write in batch:
                await self._alone(write)
            return
        for write, result in zip(batch, results, strict=True):
            _resolve(write.done, result)

    @staticmethod
    def _fail_all(batch: list[Write], error: Exception) -> None:
        for write in batch:
            if not write.done.done():
                write.done.set_exception(error)

    async def _apply(self, tx: Transaction, batch: list[Write]) -> list[object]:
        inserts = [w for w in batch if isinstance(w, Insert)]
        changes = [w for w in batch if isinstance(w, Change)]
        numbers = {str(w.row["to_number"]) for w in inserts if w.unless_opted_out}
        refused = await self._matching(tx, self._opted_out_numbers, "numbers", numbers)
        if inserts:
            for write in inserts:
                if write.row["to_number"] in refused and write.unless_opted_out:
                    refuse_opted_out(write.row, write.events)
            await tx.run_many(self._add_messages, [w.row for w in inserts])
            await tx.run_many(self._add_events, [e for w in inserts for e in w.events])
        decisions = await self._change(tx, changes) if changes else {}
        return [
            decisions.get(id(w)) if isinstance(w, Change) else w.row["status"] == REJECTED
            for w in batch
        ]

    async def _matching(
        self, tx: Transaction, statement: Prepared, name: str, values: set[str]
    ) -> set[str]:
        """The first column of ``statement``'s rows for the list ``values``."""
        if not values:
            return set()
        rows = await tx.fetch(statement, {name: list_value(sorted(values), self._dialect)})
        return {row[0] for row in rows}

    async def _change(self, tx: Transaction, changes: list[Change]) -> dict[int, Transition | None]:
        # A guessed status is checked by the UPDATE's row count, so only where there is one.
        guessed = {c.message_id: c.expected for c in changes if tx.counts_rows and c.expected}
        ids = sorted({c.message_id for c in changes} - guessed.keys())
        current: dict[str, MessageStatus] = {}
        if ids:
            rows = await tx.fetch(self._current, {"ids": list_value(ids, self._dialect)})
            current = {row[0]: MessageStatus(row[1]) for row in rows}
        current.update(guessed)
        claimed = {c.message_id for c in changes if is_claim(c)}
        opted_out = await self._matching(tx, self._opted_out_ids, "ids", claimed)
        decisions: dict[int, Transition | None] = {}
        moves: list[dict[str, object]] = []
        events: list[dict[str, object]] = []
        for asked in changes:
            change = asked
            if change.message_id in opted_out and is_claim(change):
                change = refused_claim(change)
            status = current.get(change.message_id)
            if status is None:
                decisions[id(asked)] = None
                continue
            decision = decide(status, change.status)
            decisions[id(asked)] = decision
            if decision.applied:
                current[change.message_id] = change.status
                moves.append(self._move_params(change, decision))
            elif not change.keep_refused:
                continue
            event = Event(change.status, decision.applied, change.source, change.at, change.detail)
            events.append(event_row(change.message_id, event))
        if moves:
            changed = await tx.run_many(self._move, moves)
            if changed is not None and changed != len(moves):
                raise ConcurrentChange(f"{len(moves) - changed} rows changed meanwhile")
        if events:
            await tx.run_many(self._add_events, events)
        return decisions

    @staticmethod
    def _move_params(change: Change, decision: Transition) -> dict[str, object]:
        params: dict[str, object] = {
            "m_id": change.message_id,
            "m_old": decision.old.value,
            "m_new": decision.new.value,
            "m_at": change.at,
            "m_claims": 1 if decision.new is MessageStatus.SENDING else 0,
        }
        for name in OUTCOME_COLUMNS:
            params[f"m_{name}"] = change.columns.get(name)
        return params


def is_claim(change: Change) -> bool:
    """Whether ``change`` is a claim: the last gate before a message is handed to Plivo."""
    return change.status is MessageStatus.SENDING and change.expected is MessageStatus.ACCEPTED


def refused_claim(claim: Change) -> Change:
    """What a claim becomes when its number opted out after the message was stored (a STOP
    before a scheduled or held message was due): rejected, nothing sent, as a new message to
    that number is (``rows.refuse_opted_out``). The store decides it in the claim's
    transaction, so an opt-out stored before it is never missed."""
    return replace(
        claim,
        status=MessageStatus.REJECTED,
        columns={"error_reason": OPTED_OUT},
        detail={"reason": OPTED_OUT},
        keep_refused=True,
    )


def _resolve(done: asyncio.Future[Any], result: object) -> None:
    if not done.done():  # its waiter may have been cancelled; the write stands
        done.set_result(result)


class ConcurrentChange(Exception):
    """Another writer changed a row the batch read: the batch is retried write by write."""
