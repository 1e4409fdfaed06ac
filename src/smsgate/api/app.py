"""The application factory: settings in, a ready FastAPI app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from smsgate import __version__
from smsgate.api.auth import ApiKeyGuard
from smsgate.api.errors import MAX_BODY_BYTES, install_error_handlers
from smsgate.api.middleware import BodyLimit, RequestContext
from smsgate.api.openapi import install_openapi
from smsgate.api.routes import ops, page, send_sms
from smsgate.bootstrap import build_provider
from smsgate.config import Settings, get_settings
from smsgate.logs import get_logger
from smsgate.providers.base import SmsProvider

log = get_logger("smsgate.app")


def create_app(settings: Settings | None = None, provider: SmsProvider | None = None) -> FastAPI:
    """Build the app. Without ``provider``, the configured one is built at startup and closed
    at shutdown, so its pooled HTTP client lives exactly as long as the server."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = provider is None
        app.state.provider = provider or build_provider(settings)
        log.info("started", provider=app.state.provider.name, auth=settings.auth_required)
        try:
            yield
        finally:
            if owned:
                await app.state.provider.aclose()

    app = FastAPI(
        title="smsgate",
        version=__version__,
        summary="Send SMS through Plivo, self-hosted.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    if provider is not None:
        app.state.provider = provider
    install_error_handlers(app)
    install_openapi(app)
    app.router.routes.append(send_sms.route)
    app.include_router(ops.router)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    keys = tuple(key.get_secret_value().encode() for key in settings.api_keys)
    app.add_middleware(ApiKeyGuard, keys=keys)
    app.add_middleware(RequestContext)
    return app
