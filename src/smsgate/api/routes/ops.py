"""Liveness and readiness for load balancers and orchestrators; metrics for Prometheus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from smsgate.api.deps import ServicesDep
from smsgate.api.responses import JsonResponse
from smsgate.api.schemas import Health, Readiness
from smsgate.bootstrap import check_database, check_provider
from smsgate.config import ConfigError
from smsgate.domain.message import MessageStatus
from smsgate.logs import get_logger

log = get_logger("smsgate.ready")

router = APIRouter()


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> JsonResponse:
    """The process is up and answering."""
    return JsonResponse({"status": "ok"})


# Seconds each dependency has to answer /readyz; a probe's own timeout should be longer.
READY_TIMEOUT = 2.0


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={
        503: {
            "model": Readiness,
            "description": "Not ready: the configuration cannot send, or the database or the "
            "broker did not answer (`down` says which)",
        }
    },
    summary="Readiness",
)
async def readyz(services: ServicesDep) -> JsonResponse:
    """Whether this process can send: the configuration is usable, the database answers, and
    so does the broker when there is one. 200 when all hold, 503 naming what is down."""
    settings = services.settings
    engine = services.engine
    broker = None
    if settings.broker_url is not None:
        from smsgate.engines.broker import BrokerEngine  # imported only where there is one

        broker = engine if isinstance(engine, BrokerEngine) else None
    problems: dict[str, str] = {}
    try:
        check_provider(settings)
    except ConfigError as exc:
        problems["configuration"] = str(exc)
    database_problem, broker_problem = await asyncio.gather(
        _answers("the database", lambda: check_database(services)),
        _answers("the broker", lambda: broker.ping(READY_TIMEOUT)) if broker else _nothing(),
    )
    if database_problem is not None:
        problems["database"] = database_problem
    if broker_problem is not None:
        problems["broker"] = broker_problem
    body = {
        "ready": not problems,
        "provider": settings.resolved_provider.value,
        "problem": "; ".join(problems.values()) or None,
        "database": "down" if "database" in problems else "ok",
        "broker": None if broker is None else "down" if "broker" in problems else "ok",
        "down": list(problems),
    }
    if problems:
        log.warning("not_ready", down=list(problems))
        return JsonResponse(body, status_code=503)
    return JsonResponse(body)


async def _answers(what: str, ping: Callable[[], Awaitable[None]]) -> str | None:
    """None when ``ping`` returns in time; else why not (the error's kind only: a connection
    error's text can hold a URL and its password)."""
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await ping()
    except TimeoutError:
        return f"{what} did not answer within {READY_TIMEOUT:g} s"
    except Exception as exc:
        cause = getattr(exc, "orig", None) or exc
        return f"{what} is unreachable ({type(cause).__name__})"
    return None


async def _nothing() -> None:
    return None


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(services: ServicesDep) -> Response:
    """Counters, the provider latency histogram, and the message, queue and spend gauges.

    Counts only, no numbers or texts, so it needs no API key; keep it off the public internet
    all the same, as the volume of traffic is business information.
    """
    registry = services.metrics
    now = datetime.now(UTC)
    counts = await services.queue.counts_by_status()
    for status in MessageStatus:
        registry.messages.labels(status.value).set(counts.get(status.value, 0))
    depth, oldest = await services.queue.backlog(now)
    registry.queue_depth.set(depth)
    registry.oldest_due_age.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    _, spend = await services.store.usage_since(midnight)
    registry.spend_today.set(float(spend))
    limit = services.settings.daily_spend_limit
    registry.spend_limit.set(float(limit) if limit is not None else 0.0)
    if services.documents.currency is not None:
        registry.price_table.labels(services.documents.currency).set(1)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
