"""Which provider a message goes to, and where its delivery reports come back.

The configured provider (Plivo, or the sandbox without credentials), Plivo itself for the
commands that read the account, the outlets (a test key's messages go to the sandbox whatever
the provider), and the address and secret the delivery reports are posted to and signed with.
"""

from __future__ import annotations

import secrets
from contextlib import AsyncExitStack

from smsgate.config import ConfigError, ProviderName, Settings
from smsgate.providers.base import SmsProvider
from smsgate.providers.http import HttpTransport
from smsgate.providers.plivo.provider import PlivoCredentials, PlivoProvider
from smsgate.providers.plivo.settings import compact_sender, plivo_settings_problem
from smsgate.providers.plivo.signature import callback_signer
from smsgate.providers.reqwest_transport import ReqwestTransport
from smsgate.providers.sandbox import SandboxProvider
from smsgate.services.outlets import Outlet, Outlets

STATUS_CALLBACK_PATH = "/api/v1/webhooks/plivo/status"


def build_provider(
    settings: Settings,
    *,
    transport: HttpTransport | None = None,
    sandbox_callback_token: str | None = None,
) -> SmsProvider:
    """Build the configured provider. Call it inside the running event loop.

    The sandbox signs the delivery reports it simulates with ``sandbox_callback_token``.
    """
    if settings.resolved_provider is ProviderName.SANDBOX:
        signer = callback_signer(sandbox_callback_token) if sandbox_callback_token else None
        return SandboxProvider(sender=settings.plivo_sender_id, signer=signer)
    return build_plivo(settings, transport=transport)


def build_plivo(settings: Settings, *, transport: HttpTransport | None = None) -> PlivoProvider:
    """Plivo itself, whatever the configured provider: ``build_provider`` with Plivo, and the
    commands that read the account (``doctor``, ``prices update``). Raises ConfigError."""
    check_plivo(settings)
    assert settings.plivo_auth_id is not None  # checked just above
    assert settings.plivo_auth_token is not None
    assert settings.plivo_sender_id is not None
    credentials = PlivoCredentials(
        settings.plivo_auth_id, settings.plivo_auth_token.get_secret_value()
    )
    return PlivoProvider(
        transport or ReqwestTransport(max_connections=settings.plivo_max_connections),
        credentials,
        sender=compact_sender(settings.plivo_sender_id),
        api_url=settings.plivo_api_url,
        timeout=settings.plivo_timeout,
    )


def check_provider(settings: Settings) -> None:
    """Raise ConfigError naming the first variable that stops the provider from working."""
    if settings.resolved_provider is ProviderName.PLIVO:
        check_plivo(settings)


def check_plivo(settings: Settings) -> None:
    """Raise ConfigError naming the first of Plivo's variables that stops it from working."""
    token = settings.plivo_auth_token
    problem = plivo_settings_problem(
        settings.plivo_auth_id,
        None if token is None else token.get_secret_value(),
        settings.plivo_sender_id,
        settings.plivo_api_url,
    )
    if problem is not None:
        raise ConfigError(problem.variable, problem.problem)


def build_outlets(
    settings: Settings, provider: SmsProvider, token: str, base: str, stack: AsyncExitStack
) -> Outlets:
    """Where live and test messages go, decided once for every path that sends.

    Plivo is asked for delivery reports only at a public address; the sandbox posts its
    simulated ones to this server itself. A test key's messages go to the sandbox, reporting
    here, whatever the configured provider.
    """
    wants_reports = settings.public_url is not None or provider.name == "sandbox"
    live = Outlet(provider, f"{base}{STATUS_CALLBACK_PATH}" if wants_reports else None)
    if provider.name == "sandbox":
        return Outlets.single(live)
    sandbox = SandboxProvider(sender=settings.plivo_sender_id, signer=callback_signer(token))
    stack.push_async_callback(sandbox.aclose)
    return Outlets(live, Outlet(sandbox, f"{base}{STATUS_CALLBACK_PATH}"))


def own_address(host: str, port: int) -> str:
    """How this server reaches itself: a wildcard bind means loopback, IPv6 in brackets."""
    if host in ("", "0.0.0.0"):  # noqa: S104 (reading the bind address, not binding)
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def callback_token(settings: Settings) -> str:
    """Plivo's auth token when there is one; else a secret of this process, for the sandbox.

    Several sandbox processes behind one address need one shared secret: set PLIVO_AUTH_TOKEN
    (without PLIVO_AUTH_ID the provider stays the sandbox).
    """
    if settings.plivo_auth_token is not None:
        return settings.plivo_auth_token.get_secret_value()
    return _PROCESS_SECRET


_PROCESS_SECRET = secrets.token_urlsafe(32)
