"""Queued sending: who runs the dispatcher for queued messages, and when.

Exactly one engine runs in a process, chosen by bootstrap:

- ``InProcessEngine`` (``engines/inprocess.py``): ``serve`` without a broker, and
  ``send-bulk --wait`` for its one batch. It reads due messages from the database and
  dispatches them on this event loop.
- ``BrokerEngine`` (``engines/broker.py``): with ``SMSGATE_BROKER_URL``. ``serve`` announces
  stored batches to Dramatiq; ``smsgate worker`` consumes those announcements and dispatches.

Either way the database is the source of truth: an engine is told "look at these messages",
and the row's status, through ``Dispatcher.dispatch``, decides whether anything is sent.
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime
from typing import Any, Protocol

from smsgate.db.batches import StoredBatch

# A background job: a coroutine that runs until it is cancelled.
Job = Coroutine[Any, Any, None]


class Engine(Protocol):
    """What the use cases and the process lifecycles need of an engine."""

    @property
    def dispatches_here(self) -> bool:
        """Whether this process hands queued messages over itself (and so also looks after
        its hand-offs, webhooks and retention), or only announces them to others."""
        ...

    def announce(self, batch: StoredBatch, due_at: datetime) -> None:
        """A batch was stored; its first message falls due at ``due_at``."""
        ...

    def reschedule(self, message_id: str, due_at: datetime) -> None:
        """A message is due again at ``due_at`` (a retry, or a hand-off found never sent)."""
        ...

    def jobs(self) -> list[Job]:
        """The engine's own background work in this process (its loop, a sweeper, a lease)."""
        ...

    async def stop(self, grace: float) -> None:
        """Take no more messages; let claimed hand-offs finish, for up to ``grace`` seconds.

        Messages not yet claimed stay ``accepted``, for the next start or another worker.
        """
        ...

    async def aclose(self) -> None:
        """Release the engine's connections (after ``stop``)."""
        ...
