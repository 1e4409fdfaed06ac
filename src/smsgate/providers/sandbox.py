"""The sandbox provider: the embedded default, which sends nothing anywhere.

Every send gets a fresh UUID and is kept in memory (``sent``), and the log says plainly that
nothing left the machine. A few reserved numbers play out the failures an integrator wants to
rehearse. They sit in +1 500 555 00xx, a range that libphonenumber accepts as valid US numbers and
that developers know from other providers' test numbers.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from smsgate.domain.phone import mask_number
from smsgate.logs import get_logger
from smsgate.providers.base import (
    Accepted,
    Ambiguous,
    CredentialsRefused,
    OutboundSms,
    RateLimited,
    Rejected,
    SendResult,
    Transient,
)

log = get_logger("smsgate.sandbox")


class Simulation(StrEnum):
    DELIVERED = "delivered"
    INVALID_DESTINATION = "invalid_destination"
    CARRIER_FAILURE = "carrier_failure"
    PLIVO_DOWN = "plivo_down"
    PLIVO_TIMEOUT = "plivo_timeout"
    RATE_LIMITED = "rate_limited"
    CREDENTIALS_REFUSED = "credentials_refused"


# The documented test numbers (README, "Sandbox"). Any other valid number is delivered.
SIMULATED_NUMBERS: dict[str, Simulation] = {
    "+15005550001": Simulation.INVALID_DESTINATION,  # Plivo answers 400: not a valid number
    "+15005550002": Simulation.CARRIER_FAILURE,  # accepted, then undelivered, error 30
    "+15005550003": Simulation.PLIVO_DOWN,  # Plivo answers 503 on every attempt
    "+15005550004": Simulation.PLIVO_TIMEOUT,  # no answer: the send is ambiguous
    "+15005550005": Simulation.RATE_LIMITED,  # Plivo answers 429 with Retry-After: 1
    "+15005550006": Simulation.CREDENTIALS_REFUSED,  # Plivo answers 401
}

# What Plivo would later report for an accepted message: (status, Plivo error code).
DELIVERY_OUTCOMES: dict[Simulation, tuple[str, str]] = {
    Simulation.DELIVERED: ("delivered", "000"),
    Simulation.CARRIER_FAILURE: ("undelivered", "30"),
}


@dataclass(frozen=True, slots=True)
class SandboxSend:
    """One message the sandbox pretended to send, as a test or a later status report sees it."""

    message_uuid: str | None
    to: str = field(repr=False)
    text: str = field(repr=False)
    sender: str | None
    simulation: Simulation
    at: datetime

    @property
    def delivery(self) -> tuple[str, str] | None:
        return DELIVERY_OUTCOMES.get(self.simulation)


class SandboxProvider:
    name = "sandbox"

    def __init__(self, *, sender: str | None = None, keep: int = 0) -> None:
        # ``keep`` > 0 records the last sends in ``sent`` (tests read them); a served sandbox
        # keeps none, so no message text lingers in memory.
        self._sender = sender
        self.sent: deque[SandboxSend] = deque(maxlen=keep)

    async def send(self, sms: OutboundSms) -> SendResult:
        simulation = SIMULATED_NUMBERS.get(sms.to, Simulation.DELIVERED)
        result = _simulate(simulation, sms.to)
        message_uuid = result.message_uuids[0] if isinstance(result, Accepted) else None
        self.sent.append(
            SandboxSend(
                message_uuid=message_uuid,
                to=sms.to,
                text=sms.text,
                sender=self._sender,
                simulation=simulation,
                at=datetime.now(UTC),
            )
        )
        log.info(
            "sandbox_send",
            note="sandbox provider: nothing was sent",
            to=mask_number(sms.to),
            simulation=simulation.value,
            message_uuid=message_uuid,
        )
        return result

    async def aclose(self) -> None:
        return None


def _simulate(simulation: Simulation, to: str) -> SendResult:
    match simulation:
        case Simulation.INVALID_DESTINATION:
            digits = to.removeprefix("+")
            return Rejected(status=400, error=f"'{digits}' is not a valid phone number.")
        case Simulation.PLIVO_DOWN:
            return Transient(error="HTTP 503 from Plivo (simulated)", status=503)
        case Simulation.PLIVO_TIMEOUT:
            return Ambiguous(error="no answer from Plivo (simulated timeout)")
        case Simulation.RATE_LIMITED:
            return RateLimited(error="too many requests (simulated)", retry_after=1.0)
        case Simulation.CREDENTIALS_REFUSED:
            return CredentialsRefused(error="Authentication credentials invalid (simulated)")
        case Simulation.DELIVERED | Simulation.CARRIER_FAILURE:
            return Accepted(message_uuids=(str(uuid.uuid4()),), api_id=str(uuid.uuid4()))
