"""The application factory: settings in, a ready ASGI app out.

The layers, outermost first:

    RequestContext   request id, access log line
    ApiGuard         /api/*: no cross-site browser requests, local names only when open,
                     bearer keys and their scopes once there are keys, the request rate
    BodyLimit        64 KiB cap on request bodies (more for the batch routes)
    FastLane         the two send routes straight to their endpoints
    FastAPI          every other route, the OpenAPI document and /docs (api/docs.py)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from smsgate import __version__
from smsgate.api.create import create_message_endpoint
from smsgate.api.docs import install_docs
from smsgate.api.errors import (
    BATCH_BODY_BYTES,
    MAX_BODY_BYTES,
    UPLOAD_BODY_BYTES,
    install_error_handlers,
)
from smsgate.api.fastlane import FastLane
from smsgate.api.guard import ApiGuard
from smsgate.api.middleware import BodyLimit, RequestContext
from smsgate.api.openapi import install_openapi
from smsgate.api.routes import (
    batches,
    messages,
    numbers,
    ops,
    opt_outs,
    page,
    plivo_callbacks,
    senders,
    webhook_endpoints,
)
from smsgate.api.routes.send_sms import send_sms_endpoint
from smsgate.api.security_headers import SecurityHeaders
from smsgate.bootstrap import JobTimes, Runtime
from smsgate.config import Settings, get_settings
from smsgate.domain.addresses import is_loopback
from smsgate.logs import get_logger
from smsgate.providers.base import SmsProvider

log = get_logger("smsgate.app")


def create_app(settings: Settings | None = None, provider: SmsProvider | None = None) -> ASGIApp:
    """Build the app. The lifespan opens the provider (unless one is given: tests pass fakes)
    and the database engine, and closes them at shutdown. The schema must be migrated first:
    ``serve`` does it, and so does ``smsgate db upgrade``."""
    settings = settings or get_settings()
    runtime = Runtime(settings, injected_provider=provider)
    send_sms = send_sms_endpoint(runtime)
    create_message = create_message_endpoint(runtime)
    api = create_fastapi(runtime)
    api.add_route("/api/send-sms", send_sms, methods=["POST"], include_in_schema=False)
    api.add_route("/api/v1/messages", create_message, methods=["POST"], include_in_schema=False)
    app: ASGIApp = FastLane(
        SecurityHeaders(api),
        {("POST", "/api/send-sms"): send_sms, ("POST", "/api/v1/messages"): create_message},
    )
    # A batch of 10,000 numbers takes about 200 KiB; a file of 10,000 rows with texts, more.
    app = BodyLimit(
        app,
        max_bytes=MAX_BODY_BYTES,
        per_path={"/api/v1/messages": BATCH_BODY_BYTES, "/api/v1/batches": UPLOAD_BODY_BYTES},
    )
    app = ApiGuard(
        app,
        runtime=runtime,
        loopback=is_loopback(settings.host),
        cors_origins=frozenset(origin.encode() for origin in settings.cors_origins),
    )
    if settings.cors_origins:
        # Starlette's CORS layer answers the preflights and marks the answers for listed
        # origins; the guard lets those origins through (with a key) and no others.
        app = CORSMiddleware(
            app,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    return RequestContext(app)


def create_fastapi(runtime: Runtime) -> FastAPI:
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        services = await runtime.open()
        times = JobTimes.of(settings)
        # Hand-offs cut off by the last stop are settled before anything new is sent.
        await services.reconciler.run(datetime.now(UTC) - times.stale_after)
        runtime.start_jobs(serving=True, times=times)
        keys = await services.authenticator.keys_required()
        log.info("started", provider=services.outlets.live.provider.name, auth=keys)
        try:
            yield
        finally:
            # The server has stopped listening, and every request has had its answer.
            log.info("stopping")
            # Claimed hand-offs finish (within SMSGATE_PLIVO_TIMEOUT); unclaimed ones wait for
            # the next start, still accepted.
            await runtime.close()
            log.info("stopped")

    api = FastAPI(
        title="smsgate",
        version=__version__,
        summary="Send SMS through Plivo, self-hosted.",
        lifespan=lifespan,
        # FastAPI's pages load Swagger UI and ReDoc from a CDN: api/docs.py serves its own.
        docs_url=None,
        redoc_url=None,
        # OpenTelemetry hooks check the environment on every request; smsgate has no OTel.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    api.state.settings = settings
    api.state.runtime = runtime
    install_error_handlers(api)
    install_openapi(api)
    install_docs(api)
    api.include_router(messages.router)
    api.include_router(batches.router)
    api.include_router(opt_outs.router)
    api.include_router(plivo_callbacks.router)
    api.include_router(webhook_endpoints.router)
    api.include_router(senders.router)
    api.include_router(numbers.router)
    api.include_router(ops.router)
    api.include_router(page.router)
    api.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    return api
