"""``POST /api/v1/messages``: one message sent now (201), or many, later, queued (202).

The body is ``{"to", "text"}`` as on the seed's route, plus what queued sending needs:

- ``to`` may be a list of up to 10,000 numbers;
- ``send_at``: ISO 8601 with a time zone, to send later;
- ``mode``: ``"now"`` (one number, sent inline; the default for one number) or ``"queued"``;
- ``validity``: seconds; a queued message not handed over in time expires, never sent;
- ``from`` (a registered sender) or ``pool`` (a pool of them) to send from; neither, the
  default pool, or ``PLIVO_SENDER_ID`` while no sender is registered.

A list, a ``send_at`` or ``"mode": "queued"`` queues the request: it is stored as a batch and
answered 202 with the batch id, the id of each stored message, and each refused row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request

from smsgate.api.answers import Answer
from smsgate.api.errors import ApiError
from smsgate.api.responses import JsonResponse
from smsgate.api.routes.messages import created_answer
from smsgate.api.sending import Try, idempotent_endpoint, parse_object
from smsgate.bootstrap import Runtime
from smsgate.config import Settings
from smsgate.domain.access import Principal
from smsgate.services.webhook_urls import url_problem

FIELDS = ("to", "text", "send_at", "mode", "validity", "callback_url", "from", "pool")
MODES = ("now", "queued")


@dataclass(frozen=True, slots=True)
class CreateRequest:
    to: str | list[object]
    text: str
    send_at: datetime | None
    mode: str | None
    validity: int | None
    callback_url: str | None = None
    from_: str | None = None  # a registered sender's address or id
    pool: str | None = None  # a pool to choose the sender from

    @property
    def queued(self) -> bool:
        return isinstance(self.to, list) or self.send_at is not None or self.mode == "queued"


def create_message_endpoint(runtime: Runtime) -> Callable[[Request], Awaitable[JsonResponse]]:
    async def respond(raw: bytes, caller: Principal, attempt: Try) -> Answer:
        services = runtime.services
        if attempt.held is not None:
            return created_answer(await services.sender.resend(attempt.held), services.documents)
        request = parse_create(raw)
        if request.callback_url is not None:
            check_callback_url(request.callback_url, runtime.settings)
        if not request.queued:
            assert isinstance(request.to, str)
            sent = await services.sender.send(
                request.to,
                request.text,
                caller,
                callback_url=request.callback_url,
                hold=attempt.keyed,
                from_=request.from_,
                pool=request.pool,
            )
            return created_answer(sent, services.documents)
        recipients: list[object] = request.to if isinstance(request.to, list) else [request.to]
        report = await services.enqueuer.submit(
            recipients,
            request.text,
            send_at=request.send_at,
            validity_s=request.validity,
            caller=caller,
            callback_url=request.callback_url,
            from_=request.from_,
            pool=request.pool,
        )
        return Answer(202, services.documents.batch(report))

    return idempotent_endpoint(runtime, respond)


def parse_create(raw: bytes) -> CreateRequest:
    """The v1 body, checked field by field; an ApiError names the first problem."""
    document = parse_object(raw)
    for name in document:
        if name not in FIELDS:
            raise ApiError(
                400,
                "unknown_field",
                f"The field '{name[:40]}' is not accepted here; send to and text, and "
                "optionally send_at, mode, validity, callback_url, and from or pool.",
            )
    for name in ("to", "text"):
        if name not in document:
            raise ApiError(400, "missing_field", f"The field '{name}' is required.")
    text = document["text"]
    if not isinstance(text, str):
        raise ApiError(400, "invalid_field_type", "The field 'text' must be a string.")
    if not text.strip():
        raise ApiError(400, "empty_field", "The field 'text' must not be empty.")
    to = document["to"]
    if isinstance(to, str):
        if not to.strip():
            raise ApiError(400, "empty_field", "The field 'to' must not be empty.")
    elif not isinstance(to, list):
        raise ApiError(
            400,
            "invalid_field_type",
            "The field 'to' must be a phone number as a string, or a list of them.",
        )
    mode = document.get("mode")
    if mode is not None and mode not in MODES:
        raise ApiError(400, "invalid_mode", 'The field \'mode\' is "now" or "queued".')
    send_at = _send_at(document.get("send_at"))
    validity = document.get("validity")
    if validity is not None and (isinstance(validity, bool) or not isinstance(validity, int)):
        raise ApiError(
            400, "invalid_field_type", "The field 'validity' must be a whole number of seconds."
        )
    callback_url = document.get("callback_url")
    if callback_url is not None and not isinstance(callback_url, str):
        raise ApiError(400, "invalid_field_type", "The field 'callback_url' must be a string.")
    origin = {name: document.get(name) for name in ("from", "pool")}
    for name, value in origin.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ApiError(
                400, "invalid_field_type", f"The field '{name}' must be a non-empty string."
            )
    if origin["from"] is not None and origin["pool"] is not None:
        raise ApiError(
            400, "invalid_request", "Name a sender ('from') or a pool ('pool'), not both."
        )
    request = CreateRequest(
        to, text, send_at, mode, validity, callback_url, origin["from"], origin["pool"]
    )
    if mode == "now" and request.queued:
        raise ApiError(
            400,
            "invalid_mode",
            '"mode": "now" sends one number at once; a list of numbers or a send_at is '
            'queued: leave mode out, or use "queued".',
        )
    if validity is not None and not request.queued:
        raise ApiError(
            400,
            "invalid_validity",
            'The field \'validity\' applies to queued messages; add "mode": "queued".',
        )
    return request


def check_callback_url(url: str, settings: Settings) -> None:
    """A message's own callback_url must be postable, and there must be a secret to sign with."""
    if settings.callback_secret is None:
        raise ApiError(
            400,
            "callback_url_unavailable",
            "callback_url needs SMSGATE_CALLBACK_SECRET set on the server, to sign what is "
            "posted there; or register an endpoint with POST /api/v1/webhooks.",
        )
    problem = url_problem(url, allow_private=settings.webhooks_allow_private)
    if problem is not None:
        raise ApiError(
            400, "invalid_callback_url", f"The field 'callback_url' is refused: {problem}."
        )


def _send_at(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field_type", "The field 'send_at' must be a string.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            400,
            "invalid_send_at",
            "The field 'send_at' is not an ISO 8601 time, like 2026-12-01T09:00:00Z.",
        ) from None
    if moment.tzinfo is None:
        raise ApiError(
            400,
            "invalid_send_at",
            "The field 'send_at' needs a time zone, like 2026-12-01T09:00:00+01:00 or ...Z.",
        )
    return moment
