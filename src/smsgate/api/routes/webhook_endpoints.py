"""``/api/v1/webhooks``: the user's endpoints for signed events, their deliveries, replays.

An endpoint is a URL and the events it wants; its secret is shown once, when it is made, and
signs every delivery (``smsgate.webhooks.verify`` checks it). The routes need the ``admin``
scope: an endpoint receives every message's status, so registering one reads everything.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from smsgate.api.deps import ServicesDep
from smsgate.api.errors import ApiError
from smsgate.api.json_body import JsonBodyRoute
from smsgate.api.responses import JsonResponse
from smsgate.api.schemas import ErrorOut
from smsgate.bootstrap import Services
from smsgate.db.webhooks import EVENT_TYPES, Endpoint
from smsgate.services.webhook_urls import check_url
from smsgate.webhooks import new_secret

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], route_class=JsonBodyRoute)
EventType = Literal["message.status_changed", "message.inbound", "opt_out.changed"]
ALL_EVENTS: list[EventType] = list(get_args(EventType))
assert tuple(ALL_EVENTS) == EVENT_TYPES  # the store's names and the API's agree
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such endpoint"}
}


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    url: str = Field(
        max_length=2000,
        description="Where to post events: http(s), a public address.",
        examples=["https://app.example.com/smsgate/events"],
    )
    events: list[EventType] = Field(
        default_factory=lambda: list(ALL_EVENTS),
        min_length=1,
        description="The events to send; all of them when left out.",
    )
    description: str | None = Field(default=None, max_length=200)


class EndpointOut(BaseModel):
    id: str
    url: str
    events: list[EventType]
    description: str | None
    created_at: str


class CreatedEndpointOut(EndpointOut):
    secret: str = Field(description="Signs every delivery. Shown once: keep it.")


class EndpointPageOut(BaseModel):
    data: list[EndpointOut]


class AttemptOut(BaseModel):
    at: str
    status_code: int | None = Field(description="The receiver's answer; None if none came.")
    latency_ms: float
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: EventType
    url: str
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    created_at: str
    tries: list[AttemptOut]


class DeliveryPageOut(BaseModel):
    data: list[DeliveryOut]


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    delivery_id: str | None = Field(
        default=None, max_length=26, description="One dead delivery; all of them when left out."
    )


class ReplayOut(BaseModel):
    replayed: int = Field(description="Dead deliveries made pending again, due now.")


@router.post("", status_code=201, summary="Register an endpoint", response_model=CreatedEndpointOut)
async def create_endpoint(services: ServicesDep, body: EndpointIn) -> JsonResponse:
    url = await check_url(body.url, allow_private=services.settings.webhooks_allow_private)
    secret = new_secret()
    endpoint = await services.webhooks.add_endpoint(
        url, list(dict.fromkeys(body.events)), body.description, secret
    )
    return JsonResponse({**endpoint.as_json(), "secret": secret}, status_code=201)


@router.get("", summary="The endpoints in use", response_model=EndpointPageOut)
async def list_endpoints(services: ServicesDep) -> JsonResponse:
    endpoints = await services.webhooks.endpoints()
    return JsonResponse({"data": [endpoint.as_json() for endpoint in endpoints]})


@router.get(
    "/{endpoint_id}", summary="One endpoint", response_model=EndpointOut, responses=_NOT_FOUND
)
async def get_endpoint(services: ServicesDep, endpoint_id: str) -> JsonResponse:
    return JsonResponse((await _endpoint(services, endpoint_id)).as_json())


@router.delete(
    "/{endpoint_id}", status_code=204, summary="Stop sending to it", responses=_NOT_FOUND
)
async def delete_endpoint(services: ServicesDep, endpoint_id: str) -> Response:
    if not await services.webhooks.remove_endpoint(endpoint_id):
        raise _not_found()
    return Response(status_code=204)


@router.get(
    "/{endpoint_id}/deliveries",
    summary="Deliveries to the endpoint, newest first, with every attempt",
    response_model=DeliveryPageOut,
    responses=_NOT_FOUND,
)
async def list_deliveries(
    services: ServicesDep,
    endpoint_id: str,
    state: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JsonResponse:
    await _endpoint(services, endpoint_id)
    deliveries = await services.webhooks.deliveries(endpoint_id, state=state, limit=limit)
    return JsonResponse({"data": [delivery.as_json() for delivery in deliveries]})


@router.post(
    "/{endpoint_id}/replay",
    summary="Send dead deliveries again: one, or all",
    response_model=ReplayOut,
    responses=_NOT_FOUND,
)
async def replay(
    services: ServicesDep, endpoint_id: str, body: ReplayIn | None = None
) -> JsonResponse:
    await _endpoint(services, endpoint_id)
    replayed = await services.webhooks.replay(endpoint_id, body.delivery_id if body else None)
    if replayed:
        services.deliverer.wake()  # in this process; workers look every second anyway
    return JsonResponse({"replayed": replayed})


async def _endpoint(services: Services, endpoint_id: str) -> Endpoint:
    endpoint = await services.webhooks.endpoint(endpoint_id)
    if endpoint is None:
        raise _not_found()
    return endpoint


def _not_found() -> ApiError:
    return ApiError(404, "webhook_not_found", "There is no webhook endpoint with that id.")
