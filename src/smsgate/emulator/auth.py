"""HTTP Basic authentication with Plivo's two 401 answers."""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web

from smsgate.emulator.responses import json_response, plivo_error
from smsgate.emulator.state import EmulatorState


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """The (user, password) of a Basic ``Authorization`` header, or None if there is none."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def authenticate(request: web.Request, state: EmulatorState) -> web.Response | None:
    """None when the request may proceed, else the 401 Plivo would send."""
    credentials = basic_credentials(request)
    if credentials is None:
        # Plivo's answer without an api_id, as in the PHP SDK's 401 fixture.
        return json_response({"error": "authentication credentials were not provided"}, 401)
    user, password = credentials
    # Both comparisons always run, so timing does not say which half was wrong.
    valid = hmac.compare_digest(user.encode(), state.auth_id.encode()) & hmac.compare_digest(
        password.encode(), state.auth_token.encode()
    )
    if not valid or request.match_info.get("auth_id") != user:
        return plivo_error(401, "Authentication credentials invalid")
    return None
