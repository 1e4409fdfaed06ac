"""What the emulator remembers: requests it received, messages it queued, callbacks it made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

FinalStatus = Literal["delivered", "undelivered", "failed"]
FINAL_STATUSES: Final[tuple[FinalStatus, ...]] = ("delivered", "undelivered", "failed")

# Each outcome's path through Plivo's outbound states; ``failed`` never reaches the carrier.
_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "delivered": ("queued", "sent", "delivered"),
    "undelivered": ("queued", "sent", "undelivered"),
    "failed": ("queued", "failed"),
}
_CHARGED: Final = frozenset({"sent", "delivered", "undelivered"})
RATE_PER_UNIT: Final = 0.005  # an invented price, so TotalRate and TotalAmount are non-zero
# ITU's test network: recognisably not a real carrier.
MCC: Final = "001"
MNC: Final = "01"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a message ends; ``error_code`` is Plivo's SMS error code for the two failures."""

    status: FinalStatus = "delivered"
    error_code: str = ""

    @property
    def path(self) -> tuple[str, ...]:
        return _PATHS[self.status]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request to the Plivo API routes; ``status`` is None when the connection was dropped."""

    time: float
    method: str
    path: str
    auth_user: str | None
    content_type: str
    body: object
    status: int | None


@dataclass(frozen=True, slots=True)
class CallbackAttempt:
    """One HTTP attempt to deliver a status callback; ``status`` or ``error`` is set."""

    time: float
    url: str
    method: str
    message_uuid: str
    message_status: str
    sequence: int
    attempt: int
    status: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A queued message. Its state is a function of time, so no task has to advance it.

    The message enters state ``i`` of its outcome's path at ``created + i * step_s``.
    """

    uuid: str
    auth_id: str
    from_number: str
    to_number: str
    type: str
    text: str
    units: int
    outcome: Outcome
    powerpack_uuid: str
    url: str | None
    method: str
    requester_ip: str
    created: float  # time.time(), for the timestamps Plivo reports
    step_s: float

    def state_index(self, now: float) -> int:
        """Index into ``outcome.path`` of the state the message is in at ``now``."""
        last = len(self.outcome.path) - 1
        if self.step_s <= 0:
            return last
        return min(last, max(0, int((now - self.created) / self.step_s)))

    def entered(self, index: int) -> float:
        """When the message entered state ``index``."""
        return self.created + index * self.step_s

    def total_amount(self, status: str) -> str:
        # Plivo charges once a message reaches the carrier; a failed one costs nothing.
        return money(self.units * RATE_PER_UNIT if status in _CHARGED else 0)

    def was_sent(self, index: int) -> bool:
        """True once a message in state ``index`` has reached the carrier."""
        return index >= 1 and self.outcome.status != "failed"

    def error_code(self, status: str) -> str:
        """The code for ``status``: set only for the failures, as in callbacks."""
        return self.outcome.error_code if status in ("undelivered", "failed") else ""

    def as_api_json(self, api_id: str, now: float) -> dict[str, object]:
        """The body of ``GET .../Message/{uuid}/`` (reference §3 and the SDK fixture)."""
        index = self.state_index(now)
        status = self.outcome.path[index]
        return {
            "api_id": api_id,
            "carrier_fees": "0.00000",
            "carrier_fees_rate": "0.00000",
            "destination_country_iso2": "",
            "error_code": self.error_code(status) or ("000" if status == "delivered" else None),
            "error_message": "",
            "from_number": self.from_number,
            "is_domestic": False,
            "mcc": MCC,
            "mnc": MNC,
            "message_direction": "outbound",
            "message_expiry": 10_800,
            "message_sent_time": _with_zone(self.entered(1)) if self.was_sent(index) else None,
            "message_state": status,
            "message_time": _with_zone(self.created),
            "message_type": self.type,
            "message_updated_time": _with_zone(self.entered(index)),
            "message_uuid": self.uuid,
            "powerpack_id": self.powerpack_uuid or None,
            "replaced_sender": "",
            "requester_ip": self.requester_ip,
            "resource_uri": f"/v1/Account/{self.auth_id}/Message/{self.uuid}/",
            "to_number": self.to_number,
            "total_amount": self.total_amount(status),
            "total_rate": money(RATE_PER_UNIT),
            "units": self.units,
        }


def money(amount: float) -> str:
    """Plivo's money format: a string with five decimals."""
    return f"{amount:.5f}"


def plivo_time(timestamp: float) -> str:
    """``YYYY-mm-dd HH:MM:SS.ffffff`` in UTC, the format of Plivo's timestamps."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _with_zone(timestamp: float) -> str:
    # The record API adds the account's UTC offset; the emulator's accounts live in UTC.
    return plivo_time(timestamp) + "+00:00"
