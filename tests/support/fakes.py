"""Fakes that record state, in place of the real adapters."""

from __future__ import annotations

import uuid

from smsgate.providers.base import Accepted, OutboundSms, SendResult


class RecordingProvider:
    """Answers each send with the next scripted result (or Accepted) and keeps what it got."""

    name = "fake"

    def __init__(self, *results: SendResult) -> None:
        self.results = list(results)
        self.sent: list[OutboundSms] = []
        self.closed = False

    async def send(self, sms: OutboundSms) -> SendResult:
        self.sent.append(sms)
        if self.results:
            return self.results.pop(0)
        return Accepted(message_uuids=(str(uuid.uuid4()),), api_id=str(uuid.uuid4()))

    async def aclose(self) -> None:
        self.closed = True
