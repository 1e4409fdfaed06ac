"""Accept many messages at once (now, later, or at a time): validate, store, announce.

A batch is checked row by row: a bad or repeated number is reported with its position and
code, and does not fail the others. The valid rows are stored in one transaction, as
``accepted`` and due at ``send_at`` (or now), before the caller gets its 202; only then is
an engine told to look at them. Were the announcement lost, the messages are still in the
database, where the in-process dispatcher's poll, or the broker's sweeper, finds them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from smsgate.db.queue import NewBatch, QueuedMessage, QueueStore, StoredBatch
from smsgate.db.store import MessageStore, utc_now
from smsgate.domain.encoding import TextInfo, check_length
from smsgate.domain.errors import DomainError
from smsgate.domain.message import MessageStatus
from smsgate.domain.phone import parse_phone_number
from smsgate.domain.pricing import PriceTable
from smsgate.logs import get_logger

log = get_logger("smsgate.queueing")

MAX_RECIPIENTS = 10_000
MAX_SCHEDULE_AHEAD = timedelta(days=30)
MAX_VALIDITY_S = 7 * 24 * 3600
MIN_VALIDITY_S = 5


@dataclass(frozen=True, slots=True)
class RowError:
    index: int
    to: object
    code: str
    error: str

    def as_json(self) -> dict[str, object]:
        return {"index": self.index, "to": self.to, "code": self.code, "error": self.error}


class BatchRefused(DomainError):
    """The request as a whole cannot be queued; ``code`` says why, ``rows`` which rows."""

    def __init__(self, code: str, message: str, rows: list[RowError] | None = None) -> None:
        super().__init__(message, code=code)
        self.rows = rows or []


@dataclass(frozen=True, slots=True)
class BatchReport:
    batch: StoredBatch
    recipients: list[tuple[int, str]]  # (position in the request, E.164) per stored message
    errors: list[RowError]
    due_at: datetime
    expires_at: datetime | None

    def status_of(self, position: int) -> MessageStatus:
        stored = self.batch.opted_out
        return MessageStatus.REJECTED if position in stored else MessageStatus.ACCEPTED


@dataclass(slots=True)
class Enqueuer:
    queue: QueueStore
    provider_name: str
    sender_id: str | None
    default_region: str | None = None
    prices: PriceTable | None = None
    # Told after each stored batch: the in-process dispatcher's wake-up, or the broker's send.
    announce: Callable[[StoredBatch, datetime], object] | None = None
    clock: Callable[[], datetime] = field(default=utc_now)

    async def submit(
        self,
        recipients: list[object],
        text: str,
        *,
        send_at: datetime | None = None,
        validity_s: int | None = None,
    ) -> BatchReport:
        """Validate, store and announce a batch; raise BatchRefused if nothing can be queued."""
        now = self.clock()
        if not recipients:
            raise BatchRefused("empty_recipients", "The field 'to' lists no numbers.")
        if len(recipients) > MAX_RECIPIENTS:
            raise BatchRefused(
                "too_many_recipients",
                f"The field 'to' lists {len(recipients):,} numbers; at most "
                f"{MAX_RECIPIENTS:,} are accepted at once. Split the batch.",
            )
        info = check_length(text)  # raises MessageTooLong: the text is one for every row
        due_at = self._due_at(send_at, now)
        expires_at = self._expires_at(validity_s, due_at)
        messages, placed, errors = self._rows(recipients, text, info)
        if not messages:
            raise BatchRefused(
                "no_valid_recipients", "None of the numbers in 'to' can be sent to.", errors
            )
        stored = await self.queue.add_batch(
            NewBatch(
                messages=messages,
                provider=self.provider_name,
                sender=self.sender_id,
                due_at=due_at,
                expires_at=expires_at,
                recipients=len(recipients),
                send_at=send_at,
                validity_s=validity_s,
            )
        )
        log.info(
            "batch_accepted",
            batch_id=stored.id,
            messages=len(messages),
            refused=len(errors),
            opted_out=len(stored.opted_out),
            due_in_s=round(max(0.0, (due_at - now).total_seconds()), 1),
        )
        if self.announce is not None:
            self.announce(stored, due_at)
        return BatchReport(stored, placed, errors, due_at, expires_at)

    def _rows(
        self, recipients: list[object], text: str, info: TextInfo
    ) -> tuple[list[QueuedMessage], list[tuple[int, str]], list[RowError]]:
        messages: list[QueuedMessage] = []
        placed: list[tuple[int, str]] = []
        errors: list[RowError] = []
        seen: set[str] = set()
        for index, raw in enumerate(recipients):
            if not isinstance(raw, str):
                errors.append(RowError(index, raw, "invalid_field_type", "A number is a string."))
                continue
            try:
                number = parse_phone_number(raw, self.default_region)
            except DomainError as exc:
                errors.append(RowError(index, raw, exc.code, exc.message))
                continue
            if number.e164 in seen:
                errors.append(
                    RowError(
                        index,
                        raw,
                        "duplicate_recipient",
                        f"{number.masked} is already in this batch; it gets one message.",
                    )
                )
                continue
            seen.add(number.e164)
            cost = self.prices.estimate(number.region, info.segments) if self.prices else None
            messages.append(
                QueuedMessage(number.e164, text, info.encoding.value, info.segments, cost)
            )
            placed.append((index, number.e164))
        return messages, placed, errors

    @staticmethod
    def _due_at(send_at: datetime | None, now: datetime) -> datetime:
        if send_at is None:
            return now
        if send_at.tzinfo is None:
            raise BatchRefused(
                "invalid_send_at",
                "The field 'send_at' needs a time zone, like 2026-12-01T09:00:00+01:00 or ...Z.",
            )
        if send_at - now > MAX_SCHEDULE_AHEAD:
            raise BatchRefused(
                "invalid_send_at",
                f"The field 'send_at' is more than {MAX_SCHEDULE_AHEAD.days} days ahead.",
            )
        return max(send_at, now)  # a time already past means now

    @staticmethod
    def _expires_at(validity_s: int | None, due_at: datetime) -> datetime | None:
        if validity_s is None:
            return None
        if not MIN_VALIDITY_S <= validity_s <= MAX_VALIDITY_S:
            raise BatchRefused(
                "invalid_validity",
                f"The field 'validity' is in seconds, from {MIN_VALIDITY_S} to "
                f"{MAX_VALIDITY_S:,} (7 days).",
            )
        return due_at + timedelta(seconds=validity_s)


async def cancel_message(store: MessageStore, message_id: str) -> MessageStatus | None:
    """Cancel a message not yet handed over; its status after, or None if there is none.

    The move is compare-and-set like a claim: if a dispatcher claimed it first, the cancel
    loses, and the status says so.
    """
    decision = await store.record(
        message_id, MessageStatus.CANCELED, source="api", keep_refused=False
    )
    if decision is None:
        return None
    return decision.status


async def cancel_batch(queue: QueueStore, store: MessageStore, batch_id: str) -> int | None:
    """Cancel every message of the batch not yet handed over; how many, or None if no batch.

    Each cancel is the same compare-and-set as a single one, so a message a dispatcher has
    claimed meanwhile goes on, and one claimed after is refused at its claim.
    """
    if not await queue.mark_canceled(batch_id):
        return None
    pending = await queue.pending_ids(batch_id)
    decisions = await asyncio.gather(
        *(
            store.record(message_id, MessageStatus.CANCELED, source="api", keep_refused=False)
            for message_id in pending
        )
    )
    return sum(1 for decision in decisions if decision is not None and decision.applied)
