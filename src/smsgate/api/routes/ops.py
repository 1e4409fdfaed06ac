"""Liveness and readiness for load balancers and orchestrators; metrics for Prometheus."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from smsgate.api.deps import SettingsDep, runtime_of
from smsgate.api.responses import JsonResponse
from smsgate.api.schemas import Health, Readiness
from smsgate.config import ConfigError
from smsgate.domain.message import MessageStatus

router = APIRouter()


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> JsonResponse:
    """The process is up and answering."""
    return JsonResponse({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "The configuration is not usable"}},
    summary="Readiness",
)
async def readyz(settings: SettingsDep) -> JsonResponse:
    """Whether the configuration lets this process send: 200 when it does, 503 with why not."""
    provider = settings.resolved_provider.value
    try:
        settings.check_provider()
    except ConfigError as exc:
        return JsonResponse(
            {"ready": False, "provider": provider, "problem": str(exc)}, status_code=503
        )
    return JsonResponse({"ready": True, "provider": provider, "problem": None})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(request: Request) -> Response:
    """Counters, the provider latency histogram, and the message and queue gauges.

    Counts only, no numbers or texts, so it needs no API key; keep it off the public internet
    all the same, as the volume of traffic is business information.
    """
    services = runtime_of(request).services
    registry = services.metrics
    now = datetime.now(UTC)
    counts = await services.queue.counts_by_status()
    for status in MessageStatus:
        registry.messages.labels(status.value).set(counts.get(status.value, 0))
    depth, oldest = await services.queue.backlog(now)
    registry.queue_depth.set(depth)
    registry.oldest_due_age.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
