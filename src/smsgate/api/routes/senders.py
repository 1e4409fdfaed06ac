"""``/api/v1/senders`` and ``/api/v1/pools``: the numbers, IDs and Powerpacks messages go from.

A sender is registered once, with its kind (read from its address when left out), the
countries it may send to, its rate and its pools; a pool is the senders that name it. Only
the shapes are checked here; the rules (``domain.senders``) answer with their own codes.
The routes need the ``admin`` scope: a sender decides what every recipient sees.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from smsgate.api.deps import ServicesDep
from smsgate.api.errors import ApiError
from smsgate.api.json_body import JsonBodyRoute
from smsgate.api.responses import JsonResponse
from smsgate.api.schemas import ErrorOut
from smsgate.domain.senders import DEFAULT_POOL, SenderKind
from smsgate.services.documents import sender_document as sender_json
from smsgate.services.senders import SenderExists

router = APIRouter(tags=["senders"], route_class=JsonBodyRoute)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such sender"}
}


class SenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    address: str = Field(
        max_length=64,
        description="A number in E.164 form, a short code, an alphanumeric ID (at most 11 "
        "letters and digits) or a Powerpack's UUID.",
        examples=["+14155550100"],
    )
    kind: str | None = Field(
        default=None,
        description="long_code, toll_free, short_code, alphanumeric or powerpack; read from "
        "the address when left out.",
    )
    countries: list[str] = Field(
        default_factory=list,
        max_length=250,
        description="ISO 3166 codes it may send to; empty: anywhere. A short code, an ID or a "
        "Powerpack is local to these; a number to its own country.",
        examples=[["US"]],
    )
    mps: float | None = Field(
        default=None,
        description="Messages a second, paced across every process. Defaults by kind: long "
        "code 1, toll-free 25, short code 100, alphanumeric 5; a Powerpack's must be given "
        "(the sum of its numbers').",
    )
    pools: list[str] = Field(
        default_factory=lambda: [DEFAULT_POOL],
        max_length=50,
        description="The pools it belongs to.",
    )


class SenderPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    countries: list[str] | None = Field(default=None, max_length=250)
    mps: float | None = None
    pools: list[str] | None = Field(
        default=None,
        max_length=50,
        description="Replaces its pools; a pool it leaves stops choosing it at once, and "
        "the recipients who had it there get another.",
    )


class SenderOut(BaseModel):
    id: str
    address: str
    kind: SenderKind
    countries: list[str]
    mps: float
    pools: list[str]
    home: str | None = Field(description="The country of its number; None for the others.")
    created_at: str | None


class SenderPageOut(BaseModel):
    data: list[SenderOut]
    default_sender: str | None = Field(
        description="PLIVO_SENDER_ID: what messages go from while no sender is registered "
        "(and while the pool 'default' is empty)."
    )


class PoolOut(BaseModel):
    name: str
    senders: list[SenderOut]
    mps: float = Field(description="The pool's rate: the sum of its senders'.")


class PoolPageOut(BaseModel):
    data: list[PoolOut]


@router.post(
    "/api/v1/senders",
    status_code=201,
    summary="Register a sender",
    response_model=SenderOut,
    responses={409: {"model": ErrorOut, "description": "The address is registered already"}},
)
async def create_sender(services: ServicesDep, body: SenderIn) -> JsonResponse:
    try:
        sender = await services.senders.add(
            body.address,
            kind=body.kind,
            countries=body.countries,
            mps=body.mps,
            pools=body.pools,
        )
    except SenderExists as exc:
        raise ApiError(
            409,
            "sender_exists",
            f"{exc.existing.address!r} is registered already, as {exc.existing.id}; change it "
            "with PATCH.",
        ) from None
    return JsonResponse(sender_json(sender), status_code=201)


@router.get("/api/v1/senders", summary="The registered senders", response_model=SenderPageOut)
async def list_senders(
    services: ServicesDep, pool: Annotated[str | None, Query(max_length=64)] = None
) -> JsonResponse:
    await services.senders.refresh()
    registry = services.senders.registry
    senders = registry.pool(pool) if pool is not None else list(registry.senders)
    return JsonResponse(
        {
            "data": [sender_json(sender) for sender in senders],
            "default_sender": services.senders.default_sender,
        }
    )


@router.get(
    "/api/v1/senders/{key}",
    summary="One sender, by id or address",
    response_model=SenderOut,
    responses=_NOT_FOUND,
)
async def get_sender(services: ServicesDep, key: str) -> JsonResponse:
    sender = await services.senders.find(key)
    if sender is None:
        raise _not_found()
    return JsonResponse(sender_json(sender))


@router.patch(
    "/api/v1/senders/{key}",
    summary="Change a sender's countries, rate or pools",
    response_model=SenderOut,
    responses=_NOT_FOUND,
)
async def update_sender(services: ServicesDep, key: str, body: SenderPatch) -> JsonResponse:
    sender = await services.senders.update(
        key, countries=body.countries, mps=body.mps, pools=body.pools
    )
    if sender is None:
        raise _not_found()
    return JsonResponse(sender_json(sender))


@router.delete(
    "/api/v1/senders/{key}",
    status_code=204,
    summary="Unregister a sender: no pool chooses it any more",
    responses=_NOT_FOUND,
)
async def delete_sender(services: ServicesDep, key: str) -> Response:
    if await services.senders.remove(key) is None:
        raise _not_found()
    return Response(status_code=204)


@router.get("/api/v1/pools", summary="The pools and their senders", response_model=PoolPageOut)
async def list_pools(services: ServicesDep) -> JsonResponse:
    await services.senders.refresh()
    pools = services.senders.registry.pools()
    return JsonResponse(
        {
            "data": [
                {
                    "name": name,
                    "senders": [sender_json(sender) for sender in senders],
                    "mps": sum(sender.mps for sender in senders),
                }
                for name, senders in pools.items()
            ]
        }
    )


def _not_found() -> ApiError:
    return ApiError(404, "sender_not_found", "There is no sender with that id or address.")
