"""When the client tries a request again, and how long it waits first.

Only answers that say nothing was sent are retried (README, the error table):

- ``TRY_AGAIN_SOON``: Plivo or a store of smsgate's was briefly unavailable, or this key's
  request rate was exceeded; retried after ``Retry-After``, each wait capped at ``max_wait``.
  ``idempotency_key_in_use`` is here too: an earlier attempt with the same key (one whose
  answer was lost) is still running, and a repeat gets its answer.
- ``TRY_AGAIN_LATER``: limits counted over an hour or a day. Their ``Retry-After`` is usually
  long, so they are raised at once, unless it is within ``max_wait``.

Never retried: ``provider_timeout`` (504) and ``provider_error`` (503), after which the message
may have been sent, and every other refusal, which would only be refused again.

A request that never reached smsgate (the connection was refused) is retried after a short
backoff. One that may have reached it (a dropped connection) is retried only when repeating
it is harmless: a read, or a send, whose ``Idempotency-Key`` makes smsgate answer a repeat
with the first answer instead of sending again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

TRY_AGAIN_SOON = frozenset(
    {
        "provider_rate_limited",
        "provider_unavailable",
        "store_unavailable",
        "limits_unavailable",
        "rate_limit_exceeded",
        "idempotency_key_in_use",
    }
)
TRY_AGAIN_LATER = frozenset(
    {"destination_limit_exceeded", "daily_limit_exceeded", "spend_limit_reached"}
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a call may make and how long it may wait between two of them.

    ``max_attempts`` counts the first one (1 turns retries off). ``max_wait`` caps any single
    wait, in seconds; a ``Retry-After`` above it is shortened for ``TRY_AGAIN_SOON`` codes and
    raised at once for ``TRY_AGAIN_LATER`` ones. ``backoff`` is the first wait after a failed
    connection, doubled each time (with jitter), also capped by ``max_wait``.
    """

    max_attempts: int = 3
    max_wait: float = 30.0
    backoff: float = 0.5
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_wait < 0 or self.backoff < 0:
            raise ValueError("max_wait and backoff must not be negative")

    def wait_for_answer(self, code: str, retry_after: float | None) -> float | None:
        """Seconds to wait before trying again after this error answer; None: do not."""
        if code in TRY_AGAIN_SOON:
            return min(retry_after if retry_after is not None else 1.0, self.max_wait)
        if code in TRY_AGAIN_LATER and retry_after is not None and retry_after <= self.max_wait:
            return retry_after
        return None

    def wait_for_transport(
        self, attempt: int, *, maybe_sent: bool, replayable: bool
    ) -> float | None:
        """Seconds to wait after attempt number ``attempt`` got no answer; None: do not retry."""
        if maybe_sent and not replayable:
            return None
        ceiling = min(self.max_wait, self.backoff * 2 ** (attempt - 1))
        return self.rng.uniform(ceiling / 2, ceiling)
