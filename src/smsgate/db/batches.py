"""A batch as the queue stores it: what is written in one transaction, and what its progress reads.

``QueueStore`` (``db/queue.py``) writes and reads these; they are values, so services and the
CLI can build and show them without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from smsgate.domain.message import MessageStatus


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """One recipient of a batch, validated, ready to store.

    ``due_at`` and ``expires_at`` are the message's own when the rows of a batch differ (an
    uploaded file may time each row); None takes the batch's.
    """

    to: str
    text: str
    encoding: str
    segments: int
    estimated_cost: Decimal | None
    due_at: datetime | None = None
    expires_at: datetime | None = None
    # Its sender, when fixed (``from``); or the pool its sender is chosen from at the hand-off.
    # Neither: the batch's sender.
    sender: str | None = None
    pool: str | None = None


@dataclass(frozen=True, slots=True)
class NewBatch:
    messages: list[QueuedMessage]
    provider: str
    sender: str | None
    due_at: datetime  # for each message without its own
    expires_at: datetime | None  # likewise
    recipients: int  # rows in the request, including those refused before storing
    send_at: datetime | None = None
    validity_s: int | None = None
    api_key_id: str | None = None  # the key that asked for it
    callback_url: str | None = None  # where its messages' status webhooks go too


@dataclass(frozen=True, slots=True)
class StoredBatch:
    id: str
    created_at: datetime
    message_ids: list[str]  # in the order of ``NewBatch.messages``
    opted_out: set[int]  # positions stored as rejected: the number opted out
    due_at: list[datetime] = field(default_factory=list)  # each message's, in the same order


@dataclass(frozen=True, slots=True)
class BatchProgress:
    id: str
    created_at: datetime
    recipients: int
    invalid: int
    send_at: datetime | None
    validity_s: int | None
    canceled_at: datetime | None
    counts: dict[str, int]  # stored messages by status

    @property
    def stored(self) -> int:
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        """Messages not handed to the provider yet (they may still be canceled)."""
        return self.counts.get(MessageStatus.ACCEPTED.value, 0)
