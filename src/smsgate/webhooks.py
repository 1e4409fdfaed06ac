"""Signing and checking smsgate's webhooks: what your receiving app imports.

Every delivery carries ``Smsgate-Signature: t=<unix time>,v1=<hex>``, where the hex is the
HMAC-SHA256 of ``"<t>.<body>"`` under the endpoint's secret, and ``Smsgate-Event-Id``. Check
it before you trust a byte of the body::

    from smsgate.webhooks import InvalidSignature, verify

    try:
        event = verify(request.body, request.headers["Smsgate-Signature"], SECRET)
    except InvalidSignature:
        return 400
    if event["data"]["sequence"] <= last_seen_sequence(event["data"]["id"]):
        return 200  # a stale or repeated update: acknowledge it, change nothing

``verify`` compares in constant time and refuses a timestamp more than ``tolerance`` seconds
from now, so a captured delivery cannot be replayed later. A header may carry several ``v1``
values (while a secret is being rotated); one match is enough. This module uses only the
standard library, so receivers can vendor it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

SIGNATURE_HEADER = "Smsgate-Signature"
EVENT_ID_HEADER = "Smsgate-Event-Id"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
DEFAULT_TOLERANCE = 300


class InvalidSignature(Exception):
    """The delivery is not provably from smsgate, or is too old: do not act on it."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(body: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Smsgate-Signature`` header value for ``body``, sent at ``timestamp``."""
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},v1={signature(body, secret, moment)}"


def verify(
    payload: bytes | str,
    header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """The event in ``payload`` if ``header`` signs it under ``secret``; else InvalidSignature.

    ``payload`` is the raw body as received (not re-serialised JSON). ``tolerance`` is how
    many seconds the signature's time may be from ``now`` either way.
    """
    body = payload.encode() if isinstance(payload, str) else bytes(payload)
    if not header:
        raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("the signature header has no t= time or no v1= signature")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("the signature's time is outside the tolerance (a replay?)")
    expected = signature(body, secret, timestamp)
    matched = False
    for candidate in candidates:  # every candidate, always
        matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise InvalidSignature("the signature does not match the body and the secret")
    try:
        event: dict[str, Any] = json.loads(body)
    except ValueError:
        raise InvalidSignature("the body is not JSON") from None
    if not isinstance(event, dict):
        raise InvalidSignature("the body is not a JSON object")
    return event
