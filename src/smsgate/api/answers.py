"""An API answer (status, body, headers), and how it is kept for an ``Idempotency-Key``.

The idempotency service (``services/idempotency.py``) keeps whatever a face gives it; this is
the API's side of that bargain: which answers are worth repeating, and how a stored one is
turned back into an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smsgate.services.idempotency import Kept

# Answers that say nothing was sent and to come back later: not kept for the key, since
# repeating "try again later" for a day would defeat its Retry-After. When the message was
# stored (Plivo answered 429 or 503), the key is held instead: its retry sends that message.
NOTHING_SENT_TRY_AGAIN = frozenset(
    {
        "provider_rate_limited",
        "provider_unavailable",
        "store_unavailable",
        "rate_limit_exceeded",
        "destination_limit_exceeded",
        "daily_limit_exceeded",
        "spend_limit_reached",
        "limits_unavailable",
    }
)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] | None = None
    message_id: str | None = None
    # Nothing was sent and the message waits for the retry of its Idempotency-Key.
    held: bool = False


class AnswerReplay:
    """The ``Replay`` of API answers."""

    def keep(self, answer: Answer) -> Kept | None:
        if answer.body.get("code") in NOTHING_SENT_TRY_AGAIN:
            if answer.held:
                return Kept({}, answer.status, answer.message_id, held=True)
            return None
        document = {"status": answer.status, "body": answer.body, "headers": answer.headers}
        return Kept(document, answer.status, answer.message_id)

    def replay(self, document: dict[str, Any]) -> Answer:
        return Answer(document["status"], document["body"], document.get("headers"))


ANSWERS = AnswerReplay()
