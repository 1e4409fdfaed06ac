"""The doctor's checks over the network: the broker, Redis, Plivo's account, the public URL.

Each has its own deadline (``TIMEOUT``), and none writes anything: the broker and Redis are
pinged, Plivo gets one read-only request, and the public URL is asked for its health.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

from yarl import URL

from smsgate.bootstrap import build_plivo
from smsgate.cli.checks import TIMEOUT, Check, fail, ok, warn
from smsgate.cli.common import masked_url
from smsgate.config import ProviderName, Settings
from smsgate.domain.addresses import is_public_address

if TYPE_CHECKING:
    import httpx  # imported when the public URL is asked: the other commands start without it


async def broker_check(url: str) -> Check:
    where = masked_url(url)
    try:
        await ping(url)
    except Exception as exc:
        return fail(
            "broker",
            f"cannot reach {where} ({type(exc).__name__}): start it, or fix "
            "SMSGATE_BROKER_URL; messages queued meanwhile wait for the workers' sweeper",
        )
    return ok("broker", f"{where} answers; run smsgate worker to hand messages over")


async def ping(url: str) -> None:
    """A Redis PING, or an AMQP connection opened and closed (the handshake, login included):
    the broker engine's own probe, the one readiness (/readyz) uses."""
    from smsgate.engines.dramatiq import BrokerProbe  # the broker clients, only when asked

    probe = BrokerProbe(url)
    try:
        await probe.ping(TIMEOUT)
    finally:
        await probe.aclose()


async def shared_redis_check(settings: Settings) -> Check:
    url = settings.pacing_redis_url
    if url is None:
        if settings.broker_url is not None:
            return warn(
                "limits, pacing",
                "each process counts the abuse limits and paces senders alone: set "
                "SMSGATE_REDIS_URL to share them between serve and the workers",
            )
        return ok(
            "limits, pacing",
            "counted in this process (right for one serve; set SMSGATE_REDIS_URL for several)",
        )
    where = masked_url(url)
    try:
        await ping(url)  # a Redis URL: the probe's PING
    except Exception as exc:
        refused = "let through unlimited" if settings.limits_fail_open else "refused (503)"
        variable = "SMSGATE_REDIS_URL" if settings.redis_url else "SMSGATE_BROKER_URL"
        return fail(
            "limits, pacing",
            f"cannot reach Redis at {where} ({type(exc).__name__}): sends are {refused} "
            f"until it answers. Start it, or fix {variable}",
        )
    return ok("limits, pacing", f"shared through Redis at {where}")


async def plivo_check(settings: Settings) -> Check:
    from smsgate.providers.base import AccountUnavailable

    provider = build_plivo(settings.model_copy(update={"plivo_timeout": TIMEOUT}))
    try:
        account = await provider.account()
    except AccountUnavailable as exc:
        return fail("plivo", f"{exc}")
    finally:
        await provider.aclose()
    name = f" '{account.name}'" if account.name else ""
    credit = f", {account.cash_credits} in credit" if account.cash_credits is not None else ""
    return ok("plivo", f"the credentials work: account{name}{credit}")


async def public_url_checks(settings: Settings) -> list[Check]:
    public = settings.public_url
    if public is None:
        if settings.resolved_provider is ProviderName.SANDBOX:
            return [ok("public url", "not set: the sandbox reports delivery to smsgate itself")]
        return [
            warn(
                "public url",
                "SMSGATE_PUBLIC_URL is not set, so Plivo sends no delivery reports and "
                "messages stay 'queued': set it to the https address Plivo reaches smsgate at",
            )
        ]
    url = URL(public)
    host = url.host or ""
    checks = []
    if url.scheme != "https":
        checks.append(
            warn(
                "public url",
                f"{public} is not https: delivery reports would cross the internet in the "
                "clear. Put smsgate behind a proxy that terminates TLS",
            )
        )
    try:
        addresses = await asyncio.wait_for(_resolve(host, url.port or 443), TIMEOUT)
    except (OSError, TimeoutError) as exc:
        checks.append(
            fail(
                "public url",
                f"{host} does not resolve ({type(exc).__name__}): fix SMSGATE_PUBLIC_URL or "
                "its DNS record",
            )
        )
        return checks
    if (private := address_check(host, addresses)) is not None:
        checks.append(private)
    checks.append(await _reachability(settings, public))
    return checks


def address_check(host: str, addresses: set[str]) -> Check | None:
    """A warning when none of ``host``'s addresses is one the internet routes to, by the rule
    the webhook guard refuses private addresses with (``is_public_address``)."""
    if any(is_public_address(address.split("%")[0]) for address in addresses):
        return None
    return warn(
        "public url",
        f"{host} resolves to {', '.join(sorted(addresses))}, not a public address: "
        "Plivo cannot reach it",
    )


async def _resolve(host: str, port: int) -> set[str]:
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return {str(info[4][0]) for info in found}


async def _reachability(settings: Settings, public: str) -> Check:
    import httpx

    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
        try:
            health = await client.get(f"{public}/healthz")
        except httpx.HTTPError as exc:
            return fail(
                "public url",
                f"{public}/healthz does not answer ({type(exc).__name__}): is smsgate serve "
                "running, and does the proxy forward to it? Until it answers, delivery "
                "reports are lost",
            )
        if health.status_code != 200 or not _is_smsgate_health(health):
            return fail(
                "public url",
                f"{public}/healthz answers HTTP {health.status_code}, not smsgate's "
                '{"status": "ok"}: the address reaches something else; check the proxy\'s '
                "routing",
            )
        provider = await _served_provider(client, public)
    configured = settings.resolved_provider.value
    if provider is not None and provider != configured:
        return warn(
            "public url",
            f"{public} answers as a smsgate sending through {provider}, but this configuration "
            f"sends through {configured}: is it another installation?",
        )
    return ok("public url", f"{public}/healthz answers from smsgate")


def _is_smsgate_health(answer: httpx.Response) -> bool:
    try:
        return bool(answer.json() == {"status": "ok"})
    except ValueError:
        return False


async def _served_provider(client: httpx.AsyncClient, public: str) -> str | None:
    import httpx

    try:
        document = (await client.get(f"{public}/readyz")).json()
    except (httpx.HTTPError, ValueError):
        return None
    provider = document.get("provider") if isinstance(document, dict) else None
    return provider if isinstance(provider, str) else None
