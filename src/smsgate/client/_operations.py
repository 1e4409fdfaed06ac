"""Each API call the clients make: the request it sends, and how its answer is read.

Both clients build these and hand them to their driver of ``_core.exchange``; nothing here
does I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from smsgate.client._core import Call
from smsgate.client.models import Batch, BatchAccepted, Message, MessagePage

T = TypeVar("T")

MESSAGES = "/api/v1/messages"
BATCHES = "/api/v1/batches"


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    call: Call
    read: Callable[[Any], T]


def send(
    to: str,
    text: str,
    idempotency_key: str | None,
    callback_url: str | None = None,
    sender: str | None = None,
    pool: str | None = None,
) -> Operation[Message]:
    body: dict[str, object] = {"to": to, "text": text}
    if callback_url is not None:
        body["callback_url"] = callback_url
    _origin(body, sender, pool)
    call = Call("POST", MESSAGES, body=body, idempotency_key=_key(idempotency_key))
    return Operation(call, Message.from_json)


def get(message_id: str) -> Operation[Message]:
    return Operation(Call("GET", f"{MESSAGES}/{_segment(message_id)}"), Message.from_json)


def list_page(
    *,
    status: str | None,
    to: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    limit: int,
    cursor: str | None,
) -> Operation[MessagePage]:
    params = {"limit": str(limit)}
    for name, value in (("status", status), ("to", to), ("cursor", cursor)):
        if value is not None:
            params[name] = value
    for name, moment in (("created_after", created_after), ("created_before", created_before)):
        if moment is not None:
            params[name] = _aware(moment, name).isoformat()
    return Operation(Call("GET", MESSAGES, params=params), MessagePage.from_json)


def send_bulk(
    to: Sequence[str],
    text: str,
    *,
    send_at: datetime | None,
    validity: int | timedelta | None,
    idempotency_key: str | None,
    callback_url: str | None = None,
    sender: str | None = None,
    pool: str | None = None,
) -> Operation[BatchAccepted]:
    if isinstance(to, str):
        raise TypeError("send_bulk takes a list of numbers; use send for one number")
    body: dict[str, object] = {"to": list(to), "text": text}
    if send_at is not None:
        body["send_at"] = _aware(send_at, "send_at").isoformat()
    if validity is not None:
        body["validity"] = _seconds(validity)
    if callback_url is not None:
        body["callback_url"] = callback_url
    _origin(body, sender, pool)
    call = Call("POST", MESSAGES, body=body, idempotency_key=_key(idempotency_key))
    return Operation(call, BatchAccepted.from_json)


def batch(batch_id: str) -> Operation[Batch]:
    return Operation(Call("GET", f"{BATCHES}/{_segment(batch_id)}"), Batch.from_json)


def cancel(message_id: str) -> Operation[Message]:
    path = f"{MESSAGES}/{_segment(message_id)}/cancel"
    return Operation(Call("POST", path), Message.from_json)


def cancel_batch(batch_id: str) -> Operation[Batch]:
    return Operation(Call("POST", f"{BATCHES}/{_segment(batch_id)}/cancel"), Batch.from_json)


def _origin(body: dict[str, object], sender: str | None, pool: str | None) -> None:
    """Where the messages go from: a registered sender (the API's ``from``) or a pool."""
    if sender is not None and pool is not None:
        raise ValueError("name a sender or a pool, not both")
    if sender is not None:
        body["from"] = sender
    if pool is not None:
        body["pool"] = pool


def _key(given: str | None) -> str:
    """The caller's Idempotency-Key, or a fresh one: every attempt of a send carries it."""
    return given if given is not None else str(uuid.uuid4())


def _segment(value: str) -> str:
    if not value:
        raise ValueError("an id must not be empty")
    return quote(value, safe="")


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} needs a time zone, e.g. datetime.now(UTC)")
    return moment


def _seconds(validity: int | timedelta) -> int:
    if isinstance(validity, timedelta):
        seconds = validity.total_seconds()
        if seconds != int(seconds):
            raise ValueError("validity must be a whole number of seconds")
        return int(seconds)
    return validity
