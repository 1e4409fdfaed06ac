"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter

from smsgate.api.deps import SettingsDep
from smsgate.api.responses import JsonResponse
from smsgate.api.schemas import Health, Readiness
from smsgate.config import ConfigError

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
