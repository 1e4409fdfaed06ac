"""Accept many messages at once (now, later, or at a time): validate, store, announce.

A batch is checked row by row: a bad or repeated number is reported with its position and
code, and does not fail the others. The valid rows are stored in one transaction, as
``accepted`` and due at ``send_at`` (or now), before the caller gets its 202; only then is
an engine told to look at them. Were the announcement lost, the messages are still in the
database, where the in-process dispatcher's poll, or the broker's sweeper, finds them.

Two shapes of batch come in: one text for a list of numbers (``submit``, the JSON route), and
rows that each carry their own text and may carry their own timing (``submit_rows``, an
uploaded file). Both go through the same checks, estimate and storage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from smsgate.db.batches import NewBatch, QueuedMessage, StoredBatch
from smsgate.db.queue import QueueStore
from smsgate.domain.access import OPEN, Principal
from smsgate.domain.clock import utc_now
from smsgate.domain.encoding import TextInfo
from smsgate.domain.errors import DomainError
from smsgate.domain.message import MessageStatus
from smsgate.domain.phone import PhoneNumber
from smsgate.domain.text import check_text
from smsgate.logs import get_logger
from smsgate.services.limits import Candidate, Limits
from smsgate.services.outlets import Outlets
from smsgate.services.recipients import RecipientCheck
from smsgate.services.senders import Route, SenderDirectory

log = get_logger("smsgate.queueing")

MAX_RECIPIENTS = 10_000
MAX_SCHEDULE_AHEAD = timedelta(days=30)
MAX_VALIDITY_S = 7 * 24 * 3600
MIN_VALIDITY_S = 5

# How errors name a send_at or validity: the JSON body's field, a batch-wide default, a row's.
_FIELD = "The field '{}'"
_BATCH_WIDE = "The batch-wide {}"
_ROWS_OWN = "The row's {}"


@dataclass(frozen=True, slots=True)
class Row:
    """One message of a batch as asked for: the number as given, its text, its own timing."""

    to: object
    text: str
    send_at: datetime | None = None  # None: the batch's
    validity_s: int | None = None  # None: the batch's
    line: int | None = None  # where the row starts in an uploaded file (the header is line 1)
    # What made the row unreadable (a cell that is not a time, say), found by whoever read it:
    # the row is reported with it and counted, never stored.
    problem: DomainError | None = None
    # The row's own sender or pool (an uploaded file's "from" or "pool" cell); None: the
    # batch's.
    from_: str | None = None
    pool: str | None = None


@dataclass(frozen=True, slots=True)
class _Origin:
    """The batch-wide sender or pool, for the rows that name neither."""

    from_: object = None
    pool: object = None


@dataclass(frozen=True, slots=True)
class RowError:
    index: int
    to: object
    code: str
    error: str
    line: int | None = None  # the row's line in an uploaded file, shown as "row"

    def as_json(self) -> dict[str, object]:
        document: dict[str, object] = {"index": self.index}
        if self.line is not None:
            document["row"] = self.line
        document.update(to=self.to, code=self.code, error=self.error)
        return document


@dataclass(frozen=True, slots=True)
class Placed:
    """A stored message's row: its position in the request, its number, its line if any."""

    index: int
    to: str  # E.164
    line: int | None


class BatchRefused(DomainError):
    """The request as a whole cannot be queued; ``code`` says why, ``rows`` which rows.

    ``extra`` names what is wrong in an uploaded file (a ``column``, a ``row``'s line), for the
    error document.
    """

    def __init__(
        self,
        code: str,
        message: str,
        rows: list[RowError] | None = None,
        *,
        extra: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.rows = rows or []
        self.extra = extra


@dataclass(frozen=True, slots=True)
class BatchReport:
    batch: StoredBatch
    recipients: list[Placed]  # one per stored message, in the order of batch.message_ids
    errors: list[RowError]
    due_at: datetime  # the batch's; a row with its own send_at may differ
    expires_at: datetime | None  # likewise

    def status_of(self, position: int) -> MessageStatus:
        stored = self.batch.opted_out
        return MessageStatus.REJECTED if position in stored else MessageStatus.ACCEPTED


@dataclass(frozen=True, slots=True)
class _Timing:
    """The batch-wide time to send and validity, which rows without their own take."""

    send_at: datetime | None
    validity_s: int | None
    due_at: datetime
    expires_at: datetime | None


@dataclass(slots=True)
class Enqueuer:
    queue: QueueStore
    # Where each caller's messages go: a test key's to the sandbox, never to the provider.
    outlets: Outlets
    sender_id: str | None = None
    recipients: RecipientCheck = field(default_factory=RecipientCheck)
    # Told after each stored batch, with the earliest due time of its messages: the engine's
    # ``announce`` (the in-process engine wakes up; the broker engine sends work to workers).
    announce: Callable[[StoredBatch, datetime], object] | None = None
    clock: Callable[[], datetime] = field(default=utc_now)
    limits: Limits | None = None
    senders: SenderDirectory | None = None

    async def submit(
        self,
        recipients: list[object],
        text: str,
        *,
        send_at: datetime | None = None,
        validity_s: int | None = None,
        caller: Principal = OPEN,
        callback_url: str | None = None,
        from_: object = None,
        pool: object = None,
    ) -> BatchReport:
        """Validate, store and announce a batch; raise BatchRefused if nothing can be queued.

        ``from_`` or ``pool``: where its messages go from (``SenderDirectory.route``)."""
        _check_size(
            len(recipients),
            "The field 'to' lists no numbers.",
            f"The field 'to' lists {len(recipients):,} numbers",
        )
        check_text(text)  # raises for the whole batch: the text is one for every row
        origin = await self._origin(from_, pool)
        now = self.clock()
        timing = self._timing(send_at, validity_s, now, _FIELD)
        return await self._queue(
            [Row(to, text) for to in recipients],
            timing,
            now,
            caller,
            nothing_valid="None of the numbers in 'to' can be sent to.",
            callback_url=callback_url,
            origin=origin,
        )

    async def submit_rows(
        self,
        rows: list[Row],
        *,
        send_at: datetime | None = None,
        validity_s: int | None = None,
        caller: Principal = OPEN,
        from_: object = None,
        pool: object = None,
    ) -> BatchReport:
        """Like ``submit``, for rows that each carry their text and may carry their timing,
        and their sender or pool.

        ``send_at``, ``validity_s``, ``from_`` and ``pool`` are the batch's, for the rows that
        leave theirs out. A row's bad text, timing or sender is reported as that row's error,
        like a bad number.
        """
        _check_size(len(rows), "The batch has no rows.", f"The batch has {len(rows):,} rows")
        origin = await self._origin(from_, pool)
        now = self.clock()
        timing = self._timing(send_at, validity_s, now, _BATCH_WIDE)
        return await self._queue(
            rows, timing, now, caller, nothing_valid="None of the rows can be sent.", origin=origin
        )

    async def _origin(self, from_: object, pool: object) -> _Origin:
        """The batch-wide sender or pool, checked for what does not depend on a row: a name
        nobody registered refuses the whole batch (its code, HTTP 400)."""
        if self.senders is None:
            if from_ is not None or pool is not None:
                raise DomainError("There is no sender registry here.", code="unknown_sender")
            return _Origin()
        await self.senders.maybe_refresh()
        self.senders.check_names(from_, pool)
        return _Origin(from_, pool)

    def _timing(
        self, send_at: datetime | None, validity_s: int | None, now: datetime, name: str
    ) -> _Timing:
        """The batch-wide timing, checked: a bad one refuses the whole batch."""
        due_at = _due_at(send_at, now, name)
        validity = _validity(validity_s, name)
        expires_at = due_at + validity if validity is not None else None
        return _Timing(send_at, validity_s, due_at, expires_at)

    async def _queue(
        self,
        rows: list[Row],
        timing: _Timing,
        now: datetime,
        caller: Principal,
        *,
        nothing_valid: str,
        callback_url: str | None = None,
        origin: _Origin | None = None,
    ) -> BatchReport:
        messages, placed, numbers, errors = self._messages(rows, timing, now, origin or _Origin())
        if messages and self.limits is not None:
            messages, placed = await self._admit(caller, rows, messages, placed, numbers, errors)
        if not messages:
            raise BatchRefused("no_valid_recipients", nothing_valid, errors)
        stored = await self.queue.add_batch(
            NewBatch(
                messages=messages,
                provider=self.outlets.for_caller(caller).provider.name,
                api_key_id=caller.id,
                callback_url=callback_url,
                sender=self.sender_id,
                due_at=timing.due_at,
                expires_at=timing.expires_at,
                recipients=len(rows),
                send_at=timing.send_at,
                validity_s=timing.validity_s,
            )
        )
        # Every message has its own due time (see _message); the engine hears of the first.
        first_due = min(message.due_at or timing.due_at for message in messages)
        log.info(
            "batch_accepted",
            batch_id=stored.id,
            messages=len(messages),
            refused=len(errors),
            opted_out=len(stored.opted_out),
            due_in_s=round(max(0.0, (first_due - now).total_seconds()), 1),
        )
        if self.announce is not None:
            self.announce(stored, first_due)
        return BatchReport(stored, placed, errors, timing.due_at, timing.expires_at)

    async def _admit(
        self,
        caller: Principal,
        rows: list[Row],
        messages: list[QueuedMessage],
        placed: list[Placed],
        numbers: list[PhoneNumber],
        errors: list[RowError],
    ) -> tuple[list[QueuedMessage], list[Placed]]:
        """Count the messages against the limits; rows they refuse join ``errors``.

        A batch over the daily count or spend raises LimitExceeded and stores nothing.
        """
        assert self.limits is not None
        candidates = [
            Candidate(number, message.estimated_cost)
            for number, message in zip(numbers, messages, strict=True)
        ]
        outlet = self.outlets.for_caller(caller)
        admission = await self.limits.admit(
            caller, candidates, reaches_phones=outlet.reaches_phones
        )
        if not admission.refused:
            return messages, placed
        for position, refusal in admission.refused.items():
            where = placed[position]
            row = rows[where.index]
            errors.append(RowError(where.index, row.to, refusal.code, refusal.message, row.line))
        errors.sort(key=lambda error: error.index)
        kept = [i for i in range(len(messages)) if i not in admission.refused]
        return [messages[i] for i in kept], [placed[i] for i in kept]

    def _messages(
        self, rows: list[Row], timing: _Timing, now: datetime, origin: _Origin
    ) -> tuple[list[QueuedMessage], list[Placed], list[PhoneNumber], list[RowError]]:
        messages: list[QueuedMessage] = []
        placed: list[Placed] = []
        numbers: list[PhoneNumber] = []
        errors: list[RowError] = []
        seen: set[str] = set()
        texts: dict[str, TextInfo] = {}  # rows often share a text: analyse each text once
        for index, row in enumerate(rows):
            problem = row.problem
            if problem is None:
                try:
                    number, message = self._message(row, timing, now, texts, origin)
                except DomainError as exc:
                    problem = exc
            if problem is not None:
                errors.append(RowError(index, row.to, problem.code, problem.message, row.line))
                continue
            # Checked last, so that only a row that would be stored takes its number.
            if number.e164 in seen:
                errors.append(
                    RowError(
                        index,
                        row.to,
                        "duplicate_recipient",
                        f"{number.masked} is already in this batch; it gets one message.",
                        row.line,
                    )
                )
                continue
            seen.add(number.e164)
            messages.append(message)
            placed.append(Placed(index, number.e164, row.line))
            numbers.append(number)
        return messages, placed, numbers, errors

    def _message(
        self,
        row: Row,
        timing: _Timing,
        now: datetime,
        texts: dict[str, TextInfo],
        origin: _Origin,
    ) -> tuple[PhoneNumber, QueuedMessage]:
        """The row as a message ready to store; a DomainError names what is wrong with it."""
        recipient = self.recipients.check(row.to, row.text, texts=texts)
        route = Route(self.sender_id, None)
        if self.senders is not None:
            if row.from_ is not None or row.pool is not None:
                route = self.senders.route(row.from_, row.pool, recipient.number)
            else:
                route = self.senders.route(origin.from_, origin.pool, recipient.number)
        elif row.from_ is not None or row.pool is not None:
            raise DomainError("There is no sender registry here.", code="unknown_sender")
        due_at = timing.due_at if row.send_at is None else _due_at(row.send_at, now, _ROWS_OWN)
        if row.validity_s is None:
            validity = _validity(timing.validity_s, _BATCH_WIDE)
        else:
            validity = _validity(row.validity_s, _ROWS_OWN)
        message = QueuedMessage(
            recipient.number.e164,
            row.text,
            recipient.text.encoding.value,
            recipient.text.segments,
            recipient.cost,
            due_at=due_at,
            expires_at=due_at + validity if validity is not None else None,
            sender=route.sender,
            pool=route.pool,
        )
        return recipient.number, message


def _due_at(send_at: datetime | None, now: datetime, name: str) -> datetime:
    if send_at is None:
        return now
    if send_at.tzinfo is None:
        raise DomainError(
            f"{name.format('send_at')} needs a time zone, like 2026-12-01T09:00:00+01:00 or ...Z.",
            code="invalid_send_at",
        )
    if send_at - now > MAX_SCHEDULE_AHEAD:
        raise DomainError(
            f"{name.format('send_at')} is more than {MAX_SCHEDULE_AHEAD.days} days ahead.",
            code="invalid_send_at",
        )
    return max(send_at, now)  # a time already past means now


def _validity(validity_s: int | None, name: str) -> timedelta | None:
    if validity_s is None:
        return None
    if not MIN_VALIDITY_S <= validity_s <= MAX_VALIDITY_S:
        raise DomainError(
            f"{name.format('validity')} is in seconds, from {MIN_VALIDITY_S} to "
            f"{MAX_VALIDITY_S:,} (7 days).",
            code="invalid_validity",
        )
    return timedelta(seconds=validity_s)


def _check_size(count: int, empty: str, counted: str) -> None:
    """Refuse a batch with nothing in it, or with more than MAX_RECIPIENTS messages."""
    if count == 0:
        raise BatchRefused("empty_recipients", empty)
    if count > MAX_RECIPIENTS:
        raise BatchRefused(
            "too_many_recipients",
            f"{counted}; at most {MAX_RECIPIENTS:,} are accepted at once. Split the batch.",
        )
