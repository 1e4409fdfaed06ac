"""The sandbox provider: the embedded default, which sends nothing anywhere.

Every send gets a fresh UUID and is kept in memory (``sent``), and the log says plainly that
nothing left the machine. A few reserved numbers play out the failures an integrator wants to
rehearse. They sit in +1 500 555 00xx, a range that libphonenumber accepts as valid US numbers and
that developers know from other providers' test numbers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import aiohttp

from smsgate.domain.encoding import analyse_text
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

# Signs a simulated status callback as the real provider would: (method, url, form) -> the
# headers to send. Bootstrap injects the provider's; the sandbox knows no signature scheme.
CallbackSigner = Callable[[str, str, dict[str, str]], dict[str, str]]


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
    """Sends nothing; with a ``signer``, reports delivery like Plivo would.

    An accepted send that carries a ``status_url`` gets Plivo-shaped status callbacks, posted
    over HTTP and signed by ``signer``: ``sent``, then ``delivered`` (or
    ``undelivered`` with error 30 for the carrier-failure number). They go through smsgate's
    real callback route, so the whole delivery path runs without Plivo.
    """

    name = "sandbox"

    def __init__(
        self,
        *,
        sender: str | None = None,
        keep: int = 0,
        signer: CallbackSigner | None = None,
        callback_delay: float = 0.2,
    ) -> None:
        # ``keep`` > 0 records the last sends in ``sent`` (tests read them); a served sandbox
        # keeps none, so no message text lingers in memory.
        self._sender = sender
        self.sent: deque[SandboxSend] = deque(maxlen=keep)
        self._signer = signer
        self._callback_delay = callback_delay
        self._session: aiohttp.ClientSession | None = None
        self._reports: set[asyncio.Task[None]] = set()

    async def send(self, sms: OutboundSms) -> SendResult:
        simulation = SIMULATED_NUMBERS.get(sms.to, Simulation.DELIVERED)
        result = _simulate(simulation, sms.to)
        message_uuid = result.message_uuids[0] if isinstance(result, Accepted) else None
        self.sent.append(
            SandboxSend(
                message_uuid=message_uuid,
                to=sms.to,
                text=sms.text,
                sender=sms.sender.address if sms.sender is not None else self._sender,
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
        outcome = DELIVERY_OUTCOMES.get(simulation)
        if message_uuid and outcome and sms.status_url and self._signer:
            task = asyncio.create_task(self._report(sms, message_uuid, outcome))
            self._reports.add(task)
            task.add_done_callback(self._reports.discard)
        return result

    async def aclose(self) -> None:
        for task in list(self._reports):
            task.cancel()
        await asyncio.gather(*self._reports, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _report(self, sms: OutboundSms, message_uuid: str, outcome: tuple[str, str]) -> None:
        final, error_code = outcome
        for sequence, status in enumerate(("sent", final), start=1):
            await asyncio.sleep(self._callback_delay)
            fields = _callback_fields(sms, message_uuid, status, sequence, self._sender)
            if status == final and final != "delivered":
                fields["ErrorCode"] = error_code
            await self._post(str(sms.status_url), fields, message_uuid)

    async def _post(self, url: str, fields: dict[str, str], message_uuid: str) -> None:
        assert self._signer is not None  # only scheduled with a signer
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        headers = self._signer("POST", url, fields)
        try:
            async with self._session.post(url, data=fields, headers=headers) as answer:
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "sandbox_callback_failed", message_uuid=message_uuid, error=type(exc).__name__
            )
            return
        if status != 200:
            log.warning("sandbox_callback_refused", message_uuid=message_uuid, http_status=status)


def _callback_fields(
    sms: OutboundSms, message_uuid: str, status: str, sequence: int, sender: str | None
) -> dict[str, str]:
    """The form fields Plivo posts on a status change (reference §3)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    powerpack = ""
    if sms.sender is not None:
        # Plivo reports the number a Powerpack picked; the sandbox has none to pick.
        powerpack = sms.sender.address if sms.sender.powerpack else ""
        sender = None if sms.sender.powerpack else sms.sender.address
    units = str(max(1, analyse_text(sms.text).segments))
    return {
        "MessageUUID": message_uuid,
        "ParentMessageUUID": message_uuid,
        "To": sms.to.removeprefix("+"),
        "From": (sender or "").removeprefix("+"),
        "Type": "sms",
        "Status": status,
        "Units": units,
        "TotalRate": "0.00000",
        "TotalAmount": "0.00000",
        "MCC": "",
        "MNC": "",
        "ErrorCode": "",
        "PartInfo": "1 of 1",
        "Sequence": str(sequence),
        "MessageTime": now,
        "PowerpackUUID": powerpack,
    }


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
