"""The web console: server-rendered pages whose small scripts call the JSON API.

``/login`` turns an API key into a session (``api/console_auth.py``); every other page needs
one once smsgate has keys, and redirects to ``/login`` without. A keyless smsgate (loopback
only) shows the pages to this machine, as its API does. The pages carry the session's CSRF
token in a meta tag; their scripts send it with every change.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from smsgate.api.charts import chart, hours
from smsgate.api.console_auth import COOKIE, console_session, session_token
from smsgate.api.deps import ServicesDep
from smsgate.api.guard import hostname, is_cross_site
from smsgate.bootstrap import Services
from smsgate.db.console_sessions import LIFETIME, ConsoleSession
from smsgate.domain.access import OPEN, Scope
from smsgate.domain.addresses import is_loopback
from smsgate.domain.encoding import gsm7_tables
from smsgate.services.access import Unauthorized

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
router = APIRouter(include_in_schema=False)
PAGES = {"/": "send.html", "/messages": "messages.html", "/opt-outs": "opt_outs.html"}
MAX_FORM_BYTES = 4096


class _ForeignHost(Exception):
    """An open smsgate asked for its pages under a name not this machine's (DNS rebinding)."""


async def _viewer(request: Request, services: Services) -> tuple[ConsoleSession | None, bool]:
    """The signed-in session, or (None, True) for the open caller of a keyless smsgate."""
    if not await services.authenticator.keys_required():
        loopback = is_loopback(services.settings.host)
        if loopback and not is_loopback(hostname(request.headers.get("host", "").encode())):
            raise _ForeignHost
        return None, True
    session = await console_session(services, dict(request.headers.raw))
    return session, False


async def _page(request: Request, services: Services, template: str, **context: Any) -> Response:
    try:
        session, open_mode = await _viewer(request, services)
    except _ForeignHost:
        return HTMLResponse("Not found", status_code=404)
    if session is None and not open_mode:
        return RedirectResponse("/login", status_code=303)
    settings = services.settings
    # Keyless, there is no session: the API takes no key and so no CSRF token either; the
    # guard's same-origin check and the loopback-only host check stand for both.
    principal = session.principal if session is not None else OPEN
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "provider": settings.resolved_provider.value,
            "sender": settings.plivo_sender_id or "",
            "who": principal.name,
            "test_mode": principal.test,
            "can_send": principal.allows(Scope.SEND),
            "is_admin": principal.allows(Scope.ADMIN),
            "open_mode": open_mode,
            "csrf": session.csrf if session is not None else "",
            "gsm7_tables": gsm7_tables(),
            "spend_limit": str(settings.daily_spend_limit or ""),
            **context,
        },
    )


@router.get("/", response_class=HTMLResponse)
async def send_page(request: Request, services: ServicesDep) -> Response:
    return await _page(request, services, "send.html", page="send")


@router.get("/messages", response_class=HTMLResponse)
async def messages_page(request: Request, services: ServicesDep) -> Response:
    return await _page(request, services, "messages.html", page="messages")


@router.get("/messages/{message_id}", response_class=HTMLResponse)
async def message_page(request: Request, services: ServicesDep, message_id: str) -> Response:
    return await _page(
        request, services, "message.html", page="messages", message_id=message_id[:26]
    )


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(request: Request, services: ServicesDep) -> Response:
    now = datetime.now(UTC)
    series = hours(await services.store.hourly(now - timedelta(hours=24)), now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    _, spend = await services.store.usage_since(midnight)
    delivered = sum(h.delivered for h in series)
    settled = delivered + sum(h.failed for h in series)
    return await _page(
        request,
        services,
        "dashboard.html",
        page="dashboard",
        hours=series,
        chart=chart(series),
        spend=f"{spend:.5f}",
        # The spend and its limit are in the price table's currency.
        currency=services.documents.currency or "",
        settled=settled,
        rate=f"{delivered / settled:.0%}" if settled else "none settled yet",
    )


@router.get("/batches", response_class=HTMLResponse)
async def batches_page(request: Request, services: ServicesDep) -> Response:
    return await _page(request, services, "batches.html", page="batches")


@router.get("/opt-outs", response_class=HTMLResponse)
async def opt_outs_page(request: Request, services: ServicesDep) -> Response:
    return await _page(request, services, "opt_outs.html", page="opt-outs")


@router.get("/senders", response_class=HTMLResponse)
async def senders_page(request: Request, services: ServicesDep) -> Response:
    return await _page(request, services, "senders.html", page="senders")


@router.get("/favicon.ico")
async def favicon() -> Response:
    return Response(status_code=204)  # no icon, and no 404 in every browser's console


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, services: ServicesDep) -> Response:
    if not await services.authenticator.keys_required():
        return RedirectResponse("/", status_code=303)
    return TEMPLATES.TemplateResponse(request, "login.html", {"error": None})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, services: ServicesDep) -> Response:
    if _cross_site(request):
        return HTMLResponse("Refused: a sign-in started by another website.", status_code=403)
    key = _form(await _body(request)).get("api_key", "").strip()
    try:
        principal = await services.authenticator.authenticate(f"Bearer {key}".encode())
    except Unauthorized as exc:
        return TEMPLATES.TemplateResponse(
            request, "login.html", {"error": exc.message}, status_code=401
        )
    token, _ = await services.console_sessions.start(principal)
    response = RedirectResponse("/", status_code=303)
    _set_cookie(request, services, response, token)
    return response


@router.post("/logout")
async def logout(request: Request, services: ServicesDep) -> Response:
    headers = dict(request.headers.raw)
    session = await console_session(services, headers)
    sent = _form(await _body(request)).get("csrf", "")
    if _cross_site(request) or (
        session is not None and not hmac.compare_digest(sent.encode(), session.csrf.encode())
    ):
        return HTMLResponse("Refused: the sign-out lacks the page's CSRF token.", status_code=403)
    token = session_token(headers)
    if token is not None:
        await services.console_sessions.end(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _set_cookie(request: Request, services: Services, response: Response, token: str) -> None:
    public = services.settings.public_url or ""
    secure = request.url.scheme == "https" or public.startswith("https://")
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        secure=secure,
        samesite="strict",
    )


def _cross_site(request: Request) -> bool:
    return is_cross_site(dict(request.headers.raw))


async def _body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            break
    return body[:MAX_FORM_BYTES]


def _form(body: bytes) -> dict[str, str]:
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    return {name: values[0] for name, values in fields.items() if values}
