"""Everything one emulator instance knows, in plain objects.

Only the event loop that serves the emulator may touch a state: handlers run there, and
``EmulatorServer`` forwards its helpers there. Code on other threads uses those helpers or
the control API.
"""

from __future__ import annotations

import dataclasses
import random
from collections import deque
from typing import Final

from smsgate.emulator.faults import Faults
from smsgate.emulator.records import (
    FINAL_STATUSES,
    CallbackAttempt,
    FinalStatus,
    MessageRecord,
    Outcome,
    RequestRecord,
)

DEFAULT_AUTH_ID: Final = "MAEMULATOR0000000001"
DEFAULT_AUTH_TOKEN: Final = "emulator-auth-token"  # noqa: S105 - a well-known test credential

__all__ = ["DEFAULT_AUTH_ID", "DEFAULT_AUTH_TOKEN", "EmulatorState", "Faults", "Outcome"]


class EmulatorState:
    """Credentials, recordings, queued messages, faults and scripted outcomes.

    ``outcomes`` maps a destination (E.164 digits, no ``+``) to how its messages end, e.g.
    ``state.outcomes["14155552671"] = ("undelivered", "30")``; unlisted ones are delivered.
    Messages advance one state every ``callback_delay_s``; failed callbacks are retried
    after 60, 120 and 240 s like Plivo, times ``callback_retry_scale``.
    """

    def __init__(
        self,
        auth_id: str = DEFAULT_AUTH_ID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        max_requests: int = 100_000,
        max_messages: int = 100_000,
        seed: int | None = None,
        callback_delay_s: float = 0.05,
        callback_retry_scale: float = 0.001,
        callback_timeout_s: float = 5.0,
        allow_remote_callbacks: bool = False,
    ) -> None:
        self.auth_id = auth_id
        self.auth_token = auth_token
        self.max_messages = max_messages
        self.callback_delay_s = callback_delay_s
        self.callback_retry_scale = callback_retry_scale
        self.callback_timeout_s = callback_timeout_s
        # Callbacks go to this machine only unless allowed: an exposed emulator would otherwise
        # make signed requests to any address a caller names.
        self.allow_remote_callbacks = allow_remote_callbacks
        self.random = random.Random(seed)
        self.requests: deque[RequestRecord] = deque(maxlen=max_requests)
        self.callback_attempts: deque[CallbackAttempt] = deque(maxlen=max_requests)
        self.messages: dict[str, MessageRecord] = {}
        self.outcomes: dict[str, tuple[str, str]] = {}
        self.faults = Faults()
        self.request_count = 0
        self.message_count = 0
        self.callbacks_sent = 0
        self.callbacks_delivered = 0

    def set_faults(self, faults: Faults) -> None:
        """Replace the current faults; a ``seed`` among them reseeds the failure draws."""
        self.faults = faults
        if faults.seed is not None:
            self.random.seed(faults.seed)

    def take_send_faults(self, source: str | None = None) -> tuple[Faults, bool]:
        """The faults for the send now arriving (from ``source``), and whether it is hit by a
        failure.

        Counts the send against ``times``, clearing the faults after the last one. A send
        from another sender than the faults' ``src`` gets only their latency.
        """
        faults = self.faults
        if not faults.hits_source(source):
            return Faults(latency_ms=faults.latency_ms), False
        if faults.times is not None:
            left = faults.times - 1
            self.faults = dataclasses.replace(faults, times=left) if left else Faults()
        hit = faults.injects_failure and (
            faults.failure_rate == 0 or self.random.random() < faults.failure_rate
        )
        if not hit and faults.drop_rate and self.random.random() < faults.drop_rate:
            return dataclasses.replace(faults, drop="before_response"), True
        return faults, hit

    def record(self, request: RequestRecord) -> None:
        self.requests.append(request)
        self.request_count += 1

    def clear_requests(self) -> None:
        self.requests.clear()
        self.request_count = 0

    def add_message(self, message: MessageRecord) -> None:
        # Bounded like the request log, so a long benchmark cannot exhaust memory.
        if len(self.messages) >= self.max_messages:
            del self.messages[next(iter(self.messages))]
        self.messages[message.uuid] = message
        self.message_count += 1

    def outcome_for(self, destination: str) -> Outcome:
        status, error_code = self.outcomes.get(destination, ("delivered", ""))
        return Outcome(check_final_status(status), error_code)

    def record_callback(self, attempt: CallbackAttempt) -> None:
        self.callback_attempts.append(attempt)
        self.callbacks_sent += 1
        if attempt.status is not None and 200 <= attempt.status < 300:
            self.callbacks_delivered += 1

    def stats(self) -> dict[str, int]:
        return {
            "requests": self.request_count,
            "messages": self.message_count,
            "callbacks_sent": self.callbacks_sent,
            "callbacks_delivered": self.callbacks_delivered,
        }

    def reset(self) -> None:
        """Forget everything but the credentials and settings; faults back to none."""
        self.clear_requests()
        self.callback_attempts.clear()
        self.messages.clear()
        self.outcomes.clear()
        self.faults = Faults()
        self.message_count = self.callbacks_sent = self.callbacks_delivered = 0


def check_final_status(status: str) -> FinalStatus:
    """``status`` as a final status, or ValueError naming the allowed ones."""
    for final in FINAL_STATUSES:
        if status == final:
            return final
    raise ValueError(f"status must be one of {FINAL_STATUSES}, not {status!r}")
