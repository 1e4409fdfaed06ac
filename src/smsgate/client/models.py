"""What smsgate answers, as frozen dataclasses: messages, their timelines, pages and batches.

Each ``from_json`` reads one of the API's documents (``services/documents.py``,
``api/routes/batches.py`` on the server): times become timezone-aware ``datetime``s and money
strings ``Decimal``s. A document missing a field, or holding one of the wrong type, raises
``InvalidResponse``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, TypeVar

from smsgate.client.errors import InvalidResponse

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MessageError:
    """Why a message failed: Plivo's error code and its meaning, and a reason in words."""

    code: str | None
    meaning: str | None
    reason: str | None

    @classmethod
    def from_json(cls, document: object) -> MessageError:
        fields = _object(document, "error")
        return cls(
            code=_optional(fields, "code", str),
            meaning=_optional(fields, "meaning", str),
            reason=_optional(fields, "reason", str),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """One step of a message's timeline: a status, and whether it moved the message."""

    status: str
    applied: bool  # False: a late or repeated report, kept but not applied
    source: str  # api, provider, callback, dispatcher...
    at: datetime
    detail: Mapping[str, Any] | None

    @classmethod
    def from_json(cls, document: object) -> Event:
        fields = _object(document, "event")
        detail = _optional(fields, "detail", dict)
        return cls(
            status=_required(fields, "status", str),
            applied=_required(fields, "applied", bool),
            source=_required(fields, "source", str),
            at=_time(fields, "at"),
            detail=None if detail is None else MappingProxyType(detail),
        )


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message.

    ``status`` is one of ``accepted``, ``sending``, ``queued``, ``sent``, ``delivered``,
    ``undelivered``, ``failed``, ``rejected``, ``unknown``, ``canceled``, ``expired``.
    ``sender`` is the API's ``from``. ``events`` is the status timeline: only ``get`` reads
    it; elsewhere it is None.
    """

    id: str
    to: str
    sender: str | None
    text: str | None
    encoding: str  # GSM-7 or UCS-2
    segments: int
    status: str
    provider: str
    provider_message_uuid: str | None
    error: MessageError | None
    attempts: int
    units: int | None
    amount: Decimal | None  # Plivo's charge, once a delivery report brought it
    estimated_cost: Decimal | None
    api_key_id: str | None
    created_at: datetime
    updated_at: datetime
    events: tuple[Event, ...] | None = None
    # The currency of amount and estimated_cost (ISO 4217, the server's price table's); None
    # when neither is set, or from a server that does not say.
    currency: str | None = None
    pool: str | None = None  # the pool its sender is chosen from, if any

    @classmethod
    def from_json(cls, document: object) -> Message:
        fields = _object(document, "message")
        error = fields.get("error")
        events = _optional(fields, "events", list)
        return cls(
            id=_required(fields, "id", str),
            to=_required(fields, "to", str),
            sender=_optional(fields, "from", str),
            text=_optional(fields, "text", str),
            encoding=_required(fields, "encoding", str),
            segments=_required(fields, "segments", int),
            status=_required(fields, "status", str),
            provider=_required(fields, "provider", str),
            provider_message_uuid=_optional(fields, "provider_message_uuid", str),
            error=None if error is None else MessageError.from_json(error),
            attempts=_required(fields, "attempts", int),
            units=_optional(fields, "units", int),
            amount=_money(fields, "amount"),
            estimated_cost=_money(fields, "estimated_cost"),
            api_key_id=_optional(fields, "api_key_id", str),
            created_at=_time(fields, "created_at"),
            updated_at=_time(fields, "updated_at"),
            events=None if events is None else tuple(Event.from_json(e) for e in events),
            currency=_optional(fields, "currency", str),
            pool=_optional(fields, "pool", str),
        )


@dataclass(frozen=True, slots=True)
class MessagePage:
    """One page of ``GET /api/v1/messages``, newest first; ``next_cursor`` is None at the end."""

    messages: tuple[Message, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, document: object) -> MessagePage:
        fields = _object(document, "page")
        return cls(
            messages=tuple(Message.from_json(m) for m in _required(fields, "data", list)),
            next_cursor=_optional(fields, "next_cursor", str),
        )


@dataclass(frozen=True, slots=True)
class BatchMessage:
    """A message stored for a batch: its position in ``to`` (``index``, 0-based), its number
    in E.164, its id, and ``accepted`` (queued) or ``rejected`` (the number opted out)."""

    index: int
    to: str
    id: str
    status: str
    row: int | None = None  # the line in an uploaded CSV file

    @classmethod
    def from_json(cls, document: object) -> BatchMessage:
        fields = _object(document, "batch message")
        return cls(
            index=_required(fields, "index", int),
            to=_required(fields, "to", str),
            id=_required(fields, "id", str),
            status=_required(fields, "status", str),
            row=_optional(fields, "row", int),
        )


@dataclass(frozen=True, slots=True)
class RowError:
    """A refused row of a batch: its position, the number as given, and smsgate's code."""

    index: int
    to: object  # as given, which may not even be a string
    code: str
    message: str  # the API's "error"
    row: int | None = None

    @classmethod
    def from_json(cls, document: object) -> RowError:
        fields = _object(document, "row error")
        return cls(
            index=_required(fields, "index", int),
            to=fields.get("to"),
            code=_required(fields, "code", str),
            message=_required(fields, "error", str),
            row=_optional(fields, "row", int),
        )


@dataclass(frozen=True, slots=True)
class BatchAccepted:
    """The 202 answer to a bulk or scheduled send: the batch, each stored message, each
    refused row (by position). ``expires_at`` is set when a ``validity`` was given."""

    batch_id: str
    send_at: datetime
    expires_at: datetime | None
    accepted: int
    refused: int
    messages: tuple[BatchMessage, ...]
    errors: tuple[RowError, ...]

    @classmethod
    def from_json(cls, document: object) -> BatchAccepted:
        fields = _object(document, "batch")
        return cls(
            batch_id=_required(fields, "batch_id", str),
            send_at=_time(fields, "send_at"),
            expires_at=_optional_time(fields, "expires_at"),
            accepted=_required(fields, "accepted", int),
            refused=_required(fields, "refused", int),
            messages=tuple(BatchMessage.from_json(m) for m in _required(fields, "messages", list)),
            errors=tuple(RowError.from_json(e) for e in _required(fields, "errors", list)),
        )


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch's progress: its stored messages counted by status (every status listed).

    ``pending`` messages are not handed to Plivo yet, and may still be canceled.
    ``canceled`` is how many a ``cancel_batch`` call canceled; None for ``batch``.
    """

    id: str
    created_at: datetime
    send_at: datetime | None
    validity: int | None  # seconds a message may wait to be handed over
    canceled_at: datetime | None
    recipients: int  # rows in the request or file
    invalid: int  # rows refused before anything was stored
    messages: int  # messages stored for the batch
    pending: int
    counts: Mapping[str, int]
    canceled: int | None = None

    @classmethod
    def from_json(cls, document: object) -> Batch:
        fields = _object(document, "batch")
        counts = _required(fields, "counts", dict)
        if not all(isinstance(k, str) and _is_int(v) for k, v in counts.items()):
            raise _invalid("'counts' are not whole numbers by status")
        return cls(
            id=_required(fields, "id", str),
            created_at=_time(fields, "created_at"),
            send_at=_optional_time(fields, "send_at"),
            validity=_optional(fields, "validity", int),
            canceled_at=_optional_time(fields, "canceled_at"),
            recipients=_required(fields, "recipients", int),
            invalid=_required(fields, "invalid", int),
            messages=_required(fields, "messages", int),
            pending=_required(fields, "pending", int),
            counts=MappingProxyType(dict(counts)),
            canceled=_optional(fields, "canceled", int),
        )


def _object(document: object, what: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise _invalid(f"a {what} is not a JSON object")
    return document


def _required(fields: dict[str, Any], name: str, kind: type[T]) -> T:
    value = fields.get(name)
    if value is None:
        raise _invalid(f"'{name}' is missing")
    return _checked(value, name, kind)


def _optional(fields: dict[str, Any], name: str, kind: type[T]) -> T | None:
    value = fields.get(name)
    return None if value is None else _checked(value, name, kind)


def _checked(value: object, name: str, kind: type[T]) -> T:
    # bool is an int to isinstance, but never a count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _invalid(f"'{name}' is not a {kind.__name__}")
    return value


def _time(fields: dict[str, Any], name: str) -> datetime:
    moment = _optional_time(fields, name)
    if moment is None:
        raise _invalid(f"'{name}' is missing")
    return moment


def _optional_time(fields: dict[str, Any], name: str) -> datetime | None:
    value = _optional(fields, name, str)
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(f"'{name}' is not an ISO 8601 time") from None


def _money(fields: dict[str, Any], name: str) -> Decimal | None:
    value = _optional(fields, name, str)
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise _invalid(f"'{name}' is not a decimal number") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _invalid(what: str) -> InvalidResponse:
    return InvalidResponse("invalid_response", f"smsgate's answer is not as expected: {what}.")
