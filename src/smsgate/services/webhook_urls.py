"""Which URLs smsgate posts webhooks to: http(s) to a public address, nothing else.

Checked when an endpoint is registered (``check_url``, which also resolves the name) and
again at every delivery (``url_problem`` for the URL itself; the deliverer's resolver for the
addresses the name has then), since DNS can change in between. Private, loopback,
link-local, shared and reserved addresses are refused unless ``SMSGATE_WEBHOOKS_ALLOW_PRIVATE``
is set: otherwise anyone with an API key could make smsgate post to the machines behind it.
"""

from __future__ import annotations

import asyncio
import socket

from yarl import URL

from smsgate.domain.addresses import is_public_address
from smsgate.domain.errors import DomainError

MAX_URL_LENGTH = 2000


class WebhookUrlRefused(DomainError):
    code = "invalid_webhook_url"


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why ``url`` cannot take webhooks, judging the URL alone; None when it may."""
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is over {MAX_URL_LENGTH} characters"
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return "it is not a URL"
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        return "it must be an http:// or https:// URL with a host"
    if parsed.user is not None or parsed.password is not None:
        return "it must not hold credentials"
    if parsed.fragment:
        return "it must not have a fragment"
    host = parsed.host.strip("[]")
    if not allow_private:
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            return "it points at this machine"
        if _is_address(host) and not is_public_address(host):
            return "it points at a private, loopback or reserved address"
    return None


async def check_url(url: str, *, allow_private: bool) -> str:
    """``url`` if webhooks may be posted to it now, else WebhookUrlRefused saying why."""
    problem = url_problem(url, allow_private=allow_private)
    if problem is None and not allow_private:
        host = URL(url).host or ""
        if not _is_address(host.strip("[]")):
            problem = await _resolution_problem(host)
    if problem is not None:
        raise WebhookUrlRefused(f"The webhook URL is refused: {problem}.")
    return url


async def _resolution_problem(host: str) -> str | None:
    loop = asyncio.get_running_loop()
    try:
        answers = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout=5
        )
    except (OSError, TimeoutError):
        return f"{host} does not resolve"
    if any(not is_public_address(str(answer[4][0])) for answer in answers):
        return f"{host} resolves to a private, loopback or reserved address"
    return None


def _is_address(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True
