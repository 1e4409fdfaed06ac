"""The exceptions the client raises: one per HTTP status family, each carrying smsgate's code.

Every error answer of smsgate is ``{"success": false, "error": "<for people>", "code": "<for
programs>"}``. The client raises it as a ``SmsgateError`` subclass chosen by the HTTP status,
and keeps the answer whole: ``code`` (branch on this, it is stable), ``message`` (the
``error`` field, for people), ``status``, ``retry_after`` (seconds, from ``Retry-After``) and
``body``. The class is only a coarse grouping: ``BadRequest`` covers a bad number
(``invalid_number_format``, ``number_too_short``...) and Plivo refusing the message
(``provider_rejected``) alike, so look at ``.code``::

    try:
        client.send("+14155552671", "Your code is 123456")
    except RateLimited as error:
        print(error.code, error.retry_after)   # e.g. destination_limit_exceeded 3600.0
    except SmsgateError as error:
        if error.code == "provider_timeout":   # the message may have been sent
            ...

A failure to talk to smsgate at all (connection refused, a timeout, a dropped connection) is
a ``TransportError``, whose ``status`` is None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class SmsgateError(Exception):
    """smsgate refused or failed a request; ``code`` says why, for programs.

    Attributes:
        code: smsgate's stable snake_case code, e.g. ``invalid_number`` or ``provider_timeout``
            (``http_error`` when the answer was not smsgate's error shape).
        message: What went wrong, in words for a person (the answer's ``error`` field).
        status: The HTTP status; None when no answer came (``TransportError``).
        retry_after: Seconds the answer's ``Retry-After`` asked to wait, if it had one.
        body: The whole decoded answer (``{}`` when it was not JSON), e.g. ``errors`` of a
            refused batch.
        message_id: The stored message the error is about (the answer's ``id``), if any.
        idempotency_key: The ``Idempotency-Key`` the request was sent with: send again with it
            to get the first answer instead of a second message.
        request_id: smsgate's ``X-Request-ID`` for the request, which is on its log lines.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.body: Mapping[str, Any] = body if body is not None else {}
        self.idempotency_key = idempotency_key
        self.request_id = request_id

    @property
    def message_id(self) -> str | None:
        value = self.body.get("id")
        return value if isinstance(value, str) else None

    def __str__(self) -> str:
        where = f"{self.status} " if self.status is not None else ""
        return f"{where}{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r})"


class BadRequest(SmsgateError):
    """400: the request is wrong (body, number, text, query), or Plivo rejected the message."""


class Unauthorized(SmsgateError):
    """401 ``unauthorized``: the API key is missing, wrong or revoked."""


class PaymentRequired(SmsgateError):
    """402: ``spend_limit_reached`` (today's spend limit) or ``price_unknown``."""


class Forbidden(SmsgateError):
    """403: ``insufficient_scope``, ``country_not_allowed``, ``host_not_allowed``..."""


class NotFound(SmsgateError):
    """404 (``message_not_found``, ``batch_not_found``, ``not_found``), or 405."""


class Conflict(SmsgateError):
    """409: ``recipient_opted_out``, ``not_cancelable``, ``idempotency_key_in_use``."""


class PayloadTooLarge(SmsgateError):
    """413 ``body_too_large``."""


class Unprocessable(SmsgateError):
    """422 ``idempotency_key_reused``: the key came with a different request before."""


class RateLimited(SmsgateError):
    """429: one of smsgate's abuse limits, or Plivo's; ``retry_after`` says when to return."""


class ServerError(SmsgateError):
    """5xx: Plivo or smsgate failed. ``provider_timeout`` and ``provider_error`` mean the
    message **may have been sent**; the other codes mean nothing was."""


class TransportError(SmsgateError):
    """No answer from smsgate: ``connection_failed``, ``timeout`` or ``connection_lost``.

    ``maybe_sent`` is False when the request certainly never reached smsgate (the connection
    was refused or never opened), True when it may have arrived.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        maybe_sent: bool,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__(code, message, idempotency_key=idempotency_key)
        self.maybe_sent = maybe_sent


class InvalidResponse(SmsgateError):
    """A successful answer the client could not read (is ``base_url`` really smsgate?)."""


_BY_STATUS: dict[int, type[SmsgateError]] = {
    400: BadRequest,
    401: Unauthorized,
    402: PaymentRequired,
    403: Forbidden,
    404: NotFound,
    405: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: Unprocessable,
    429: RateLimited,
}


def error_class(status: int) -> type[SmsgateError]:
    """The exception class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, SmsgateError)
