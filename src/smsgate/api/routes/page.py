"""The small page at /: the seed's form, with a live segment counter."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from smsgate.api.deps import SettingsDep, runtime_of
from smsgate.domain.encoding import gsm7_tables

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, settings: SettingsDep) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request,
        "index.html",
        {
            "provider": settings.resolved_provider.value,
            "sender": settings.plivo_sender_id or "",
            "auth_required": await runtime_of(request).services.authenticator.keys_required(),
            "gsm7_tables": gsm7_tables(),
        },
    )
