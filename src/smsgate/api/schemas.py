"""The shapes the API reads and writes; they also make the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SendSmsIn(BaseModel):
    """The seed's request: one number, one text."""

    model_config = ConfigDict(extra="forbid", strict=True)

    to: str = Field(
        description="The destination in E.164 form, like +14155552671. Spaces, dashes, dots "
        "and parentheses are allowed; national forms only when SMSGATE_DEFAULT_REGION is set.",
        examples=["+14155552671"],
    )
    text: str = Field(
        description="The message: at most 1,600 GSM-7 characters or 737 UCS-2 characters.",
        examples=["Your code is 123456"],
    )


class SendSmsOut(BaseModel):
    success: Literal[True] = True
    message_uuid: str = Field(description="Plivo's UUID for the message.")
    api_id: str = Field(description="Plivo's id for the API request.")
    to: str = Field(description="The destination, normalised to E.164.")
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int = Field(description="How many SMS parts the text takes (each is billed).")


class MessageError(BaseModel):
    code: str | None = Field(description="Plivo's error code, when Plivo gave one.")
    meaning: str | None = Field(description="What Plivo's code means.")
    reason: str | None = Field(description="Why, in words (a refusal, a timeout...).")


class MessageOut(BaseModel):
    """A stored message, as ``POST /api/v1/messages`` and the reads return it."""

    id: str = Field(description="smsgate's id: a ULID, sortable by creation time.")
    to: str
    from_: str | None = Field(
        alias="from",
        description="The sender it goes from: a number, short code, ID or Powerpack UUID; "
        "None while a pool's message waits for its hand-off.",
    )
    pool: str | None = Field(description="The pool its sender is chosen from, if any.")
    text: str | None = Field(description="None once redacted.")
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int
    status: str = Field(description="accepted, sending, queued, sent, delivered, ...")
    provider: str
    provider_message_uuid: str | None
    error: MessageError | None
    attempts: int
    units: int | None
    amount: str | None = Field(description="Plivo's charge, a decimal string.")
    estimated_cost: str | None
    currency: str | None = Field(
        description="The ISO 4217 currency of amount and estimated_cost: the price table's "
        "(Plivo bills in it). None when neither is set, or smsgate has no price table.",
        examples=["USD"],
    )
    api_key_id: str | None = Field(
        description="The API key that sent it (its id; env_... for a SMSGATE_API_KEYS key); "
        "None when smsgate runs without keys."
    )
    created_at: str
    updated_at: str


class CreateMessagesIn(BaseModel):
    """``POST /api/v1/messages``: one number sent now, or many, later, queued."""

    model_config = ConfigDict(extra="forbid")

    to: str | list[str] = Field(
        description="One number (sent at once, 201), or a list of up to 10,000 (queued, 202).",
        examples=["+14155552671", ["+14155552671", "+14155552672"]],
    )
    text: str = Field(
        description="At most 1,600 GSM-7 or 737 UCS-2 characters.",
        examples=["Your code is 123456"],
    )
    send_at: str | None = Field(
        default=None,
        description="ISO 8601 with a time zone, up to 30 days ahead: queue until then.",
        examples=["2026-12-01T09:00:00+01:00"],
    )
    mode: Literal["now", "queued"] | None = Field(
        default=None, description='"queued" queues one number too; "now" needs one number.'
    )
    validity: int | None = Field(
        default=None,
        ge=5,
        le=604_800,
        description="Seconds: a queued message not handed over by then is expired, unsent.",
    )
    callback_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Also post this message's status changes here, signed with "
        "SMSGATE_CALLBACK_SECRET (http(s), a public address).",
        examples=["https://app.example.com/sms-status"],
    )
    from_: str | None = Field(
        default=None,
        alias="from",
        description="A registered sender (its address or id) to send from; 400 unknown_sender "
        "if it is not registered, sender_not_allowed if it may not send to the number.",
        examples=["+14155550100"],
    )
    pool: str | None = Field(
        default=None,
        description="A pool to choose the sender from (local first, then the recipient's "
        "last sender, then the least busy). Neither: the pool 'default', or PLIVO_SENDER_ID "
        "while no sender is registered.",
        examples=["marketing"],
    )


class EventOut(BaseModel):
    status: str = Field(description="The status this report or step names.")
    applied: bool = Field(description="Whether it moved the message (false: late or repeated).")
    source: str = Field(description="Who said so: api, provider, callback, dispatcher...")
    at: str
    detail: dict[str, Any] | None


class MessageWithEventsOut(MessageOut):
    """One message and its timeline, as ``GET /api/v1/messages/{id}`` returns it."""

    events: list[EventOut]


class MessagePageOut(BaseModel):
    data: list[MessageOut]
    next_cursor: str | None = Field(description="The next page's 'cursor'; None at the end.")


class BatchMessageOut(BaseModel):
    index: int = Field(description="Position in the request's 'to' (0-based).")
    row: int | None = Field(default=None, description="The line in an uploaded CSV file.")
    to: str = Field(description="The number, in E.164.")
    id: str = Field(description="The stored message's id.")
    status: Literal["accepted", "rejected"]


class RowErrorOut(BaseModel):
    index: int
    row: int | None = Field(default=None, description="The line in an uploaded CSV file.")
    to: object = Field(description="The number as given.")
    code: str
    error: str


class BatchAcceptedOut(BaseModel):
    """The answer to a queued request: the batch, each stored message, each refused row."""

    success: Literal[True] = True
    batch_id: str
    send_at: str = Field(description="When the batch is due (ISO 8601, UTC).")
    expires_at: str | None
    accepted: int
    refused: int
    messages: list[BatchMessageOut]
    errors: list[RowErrorOut]


class BatchOut(BaseModel):
    """A batch's progress: its stored messages counted by status."""

    id: str
    created_at: str
    send_at: str | None
    validity: int | None = Field(description="Seconds a message may wait to be handed over.")
    canceled_at: str | None
    recipients: int = Field(description="Rows in the request or file.")
    invalid: int = Field(description="Rows refused before anything was stored.")
    messages: int = Field(description="Messages stored for the batch.")
    pending: int = Field(description="Messages not handed to Plivo yet (they may be canceled).")
    counts: dict[str, int] = Field(description="Stored messages by status, every status listed.")


class BatchCanceledOut(BatchOut):
    canceled: int = Field(description="Messages this request canceled.")


class OptOutOut(BaseModel):
    number: str = Field(description="E.164.")
    source: Literal["keyword", "api", "plivo"] = Field(
        description="A STOP text (keyword), this API, or Plivo's opt-out intent."
    )
    created_at: str


class OptOutPageOut(BaseModel):
    data: list[OptOutOut]
    next_after: str | None = Field(description="The next page's 'after'; None at the end.")


class ErrorOut(BaseModel):
    success: Literal[False] = False
    error: str = Field(description="What went wrong, in words for a person.")
    code: str = Field(description="A stable snake_case code for programs to branch on.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    ready: bool
    provider: str
    problem: str | None = Field(
        default=None, description="Why it is not ready, for a person: each thing down, and why."
    )
    database: Literal["ok", "down"] = Field(
        default="ok", description="Whether the database answered a SELECT 1 within 2 seconds."
    )
    broker: Literal["ok", "down"] | None = Field(
        default=None,
        description="Whether the broker (SMSGATE_BROKER_URL) answered within 2 seconds; null "
        "without a broker.",
    )
    down: list[Literal["configuration", "database", "broker"]] = Field(
        default_factory=list, description="What is down; empty when ready."
    )
