"""Plivo's answer to a send, read into one ``SendResult``, or into a retry that is safe to make.

Which statuses mean what is Plivo's (reference §2): 429, 502 and 503 say it took nothing and
asks us to come back; a 500 or a 504 may come after it began processing the message, so it
is never retried and reported as possibly sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from smsgate.providers.base import (
    Accepted,
    CredentialsRefused,
    RateLimited,
    Rejected,
    SendResult,
    Transient,
    Unreadable,
)
from smsgate.providers.http import HttpAnswer
from smsgate.retry_after import parse_retry_after as parse_header

# Statuses after which Plivo has told us it did not take the message and asks us to come back.
RETRYABLE_STATUSES = frozenset({429, 502, 503})
# Plivo's success answer is 202; its SDK accepts these too (reference §2).
SUCCESS_STATUSES = frozenset({200, 201, 202, 204, 206, 207})
REJECTION_STATUSES = frozenset({400, 403, 404, 405, 409, 422})


@dataclass(frozen=True, slots=True)
class Retry:
    """An attempt that certainly sent nothing; ``final`` is what we report if we stop here."""

    final: Transient | RateLimited


def interpret(answer: HttpAnswer, attempt: int = 1) -> SendResult | Retry:
    """Map one HTTP answer from Plivo onto a result (or a retry that is safe to make)."""
    status = answer.status
    document = json_object(answer.body)
    error = error_text(document, answer.body, status)
    if status in SUCCESS_STATUSES:
        return _accepted(document, status, attempt)
    if status == 401:
        return CredentialsRefused(error=error, attempts=attempt)
    if status in REJECTION_STATUSES:
        api_id = str_or_none(document.get("api_id")) if document else None
        return Rejected(status=status, error=error, api_id=api_id, attempts=attempt)
    if status == 429:
        retry_after = parse_retry_after(answer.headers.get("Retry-After"))
        return Retry(RateLimited(error=error, retry_after=retry_after, attempts=attempt))
    if status in RETRYABLE_STATUSES:
        return Retry(Transient(error=error, status=status, attempts=attempt))
    if 500 <= status < 600:
        # A 500 or a 504 may come after Plivo began processing the message: never retried,
        # and reported as possibly sent.
        return Transient(error=error, status=status, attempts=attempt, may_have_been_sent=True)
    return Unreadable(
        error=f"unexpected HTTP {status} from Plivo",
        status=status,
        attempts=attempt,
        may_have_been_sent=False,
    )


def _accepted(document: dict[str, Any] | None, status: int, attempt: int) -> SendResult:
    uuids = document.get("message_uuid") if document else None
    api_id = document.get("api_id") if document else None
    if (
        not isinstance(uuids, list)
        or not uuids
        or not all(isinstance(u, str) for u in uuids)
        or not isinstance(api_id, str)
    ):
        return Unreadable(
            error=f"Plivo answered {status} without message UUIDs", status=status, attempts=attempt
        )
    invalid = document.get("invalid_number") if document else None
    invalid_numbers = tuple(str(n) for n in invalid) if isinstance(invalid, list) else ()
    return Accepted(
        message_uuids=tuple(uuids),
        api_id=api_id,
        invalid_numbers=invalid_numbers,
        attempts=attempt,
    )


def json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def error_text(document: dict[str, Any] | None, body: bytes, status: int) -> str:
    if document is not None:
        error = document.get("error")
        if isinstance(error, str) and error:
            return error[:500]
        if isinstance(error, dict | list):
            return orjson.dumps(error).decode()[:500]
    if 200 <= status < 300:
        return ""
    return f"HTTP {status} from Plivo" + (" with an unreadable body" if body else "")


def str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_retry_after(value: str | None) -> float | None:
    """Plivo's ``Retry-After`` in seconds; more than an hour is taken as an hour."""
    return parse_header(value, at_most=3600.0)
