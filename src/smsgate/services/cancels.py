"""Cancelling what is still waiting in smsgate's queue: one message, or a whole batch."""

from __future__ import annotations

import asyncio

from smsgate.db.queue import QueueStore
from smsgate.db.store import MessageStore
from smsgate.domain.message import MessageStatus


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
