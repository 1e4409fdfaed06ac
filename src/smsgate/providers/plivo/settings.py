"""Plivo's rules for its settings: the auth ID, the auth token, the sender and the API URL.

``config.Settings`` holds the values and checks only their shape; whether they are usable
with Plivo is decided here, when a command is about to talk to Plivo (``serve``, ``send``,
``doctor``, ``prices update``, ``/readyz``): bootstrap asks, and raises the ConfigError. This
module takes plain values, so the Plivo package does not depend on the settings class.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from yarl import URL

from smsgate.domain.addresses import is_loopback
from smsgate.domain.senders import compact_address, kind_of

__all__ = [
    "AUTH_ID_PATTERN",
    "SettingsProblem",
    "api_url_problem",
    "compact_sender",
    "is_valid_sender",
    "plivo_settings_problem",
]

# Plivo auth IDs are 20 characters: "MA" for a main account, "SA" for a subaccount (reference §1).
AUTH_ID_PATTERN = re.compile(r"^(MA|SA)[A-Z0-9]{18}$")


class SettingsProblem(NamedTuple):
    """The variable to fix, and what is wrong with it (shown after the variable's name)."""

    variable: str
    problem: str


def plivo_settings_problem(
    auth_id: str | None, auth_token: str | None, sender_id: str | None, api_url: str
) -> SettingsProblem | None:
    """The first of Plivo's variables that stops it from working, or None when all are usable."""
    if not auth_id:
        return SettingsProblem(
            "PLIVO_AUTH_ID", "is not set; it is required with the plivo provider"
        )
    if not AUTH_ID_PATTERN.match(auth_id):
        return SettingsProblem(
            "PLIVO_AUTH_ID",
            "is malformed: a Plivo auth ID is 20 letters and digits starting MA or SA",
        )
    if auth_token is None:
        return SettingsProblem(
            "PLIVO_AUTH_TOKEN", "is not set; it is required with the plivo provider"
        )
    if len(auth_token) < 8 or not auth_token.isprintable() or any(c.isspace() for c in auth_token):
        return SettingsProblem("PLIVO_AUTH_TOKEN", "is malformed (too short, or has spaces)")
    if not sender_id:
        return SettingsProblem(
            "PLIVO_SENDER_ID",
            "is not set; it is the number or sender ID messages are sent from",
        )
    if not is_valid_sender(sender_id):
        return SettingsProblem(
            "PLIVO_SENDER_ID",
            "is malformed: use a phone number in E.164 form (like +14155552671), "
            "a short code, an alphanumeric ID of at most 11 characters, or a Powerpack's UUID",
        )
    problem = api_url_problem(api_url)
    return None if problem is None else SettingsProblem("PLIVO_API_URL", problem)


def compact_sender(sender: str) -> str:
    """A numeric sender without its punctuation (Plivo strips it too); others as they are."""
    return compact_address(sender)


def is_valid_sender(sender: str) -> bool:
    """A phone number, a short code, an alphanumeric ID or a Powerpack's UUID (one rule,
    ``domain.senders``, for the registry and this setting alike)."""
    return kind_of(sender) is not None


def api_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be Plivo's API base URL, or None when it can."""
    try:
        parsed = URL(url)
        port = parsed.port  # None when the scheme has no default port
    except (ValueError, TypeError):
        return "is not a URL"
    if parsed.scheme not in {"https", "http"} or not parsed.host or port is None:
        return "must be an http(s) URL with a host, like https://api.plivo.com"
    if parsed.user is not None or parsed.password is not None:
        return "must not hold credentials; use PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN"
    if parsed.query_string or parsed.fragment:
        return "must not have a query or a fragment"
    if parsed.scheme == "http" and not is_loopback(parsed.host):
        # Basic auth would cross the network in the clear; http is for a local emulator.
        return "must use https unless it points at this machine (an emulator)"
    return None
