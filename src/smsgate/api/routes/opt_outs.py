"""``/api/v1/opt-outs``: the numbers that asked for no more messages, managed by hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from smsgate.api.deps import ServicesDep
from smsgate.api.errors import ApiError
from smsgate.api.json_body import JsonBodyRoute
from smsgate.api.responses import JsonResponse
from smsgate.api.schemas import ErrorOut, OptOutOut, OptOutPageOut
from smsgate.bootstrap import Services
from smsgate.db.opt_outs import OptOut, OptOutSource
from smsgate.domain.phone import parse_phone_number

router = APIRouter(prefix="/api/v1/opt-outs", tags=["opt-outs"], route_class=JsonBodyRoute)
EXAMPLE_NUMBER = "+14155550100"


class OptOutIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    number: str = Field(
        description="The number to stop sending to, E.164 (any punctuation).",
        examples=[EXAMPLE_NUMBER],
    )


def _number(services: Services, raw: str) -> str:
    return parse_phone_number(raw, services.settings.default_region).e164


def _resource(opt_out: OptOut) -> dict[str, str]:
    return {
        "number": opt_out.number,
        "source": opt_out.source.value,
        "created_at": opt_out.created_at.isoformat(),
    }


@router.get("", summary="The opted-out numbers, in number order", response_model=OptOutPageOut)
async def list_opt_outs(
    services: ServicesDep,
    after: Annotated[str | None, Query(max_length=16, description="Last number of a page.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JsonResponse:
    page = await services.opt_outs.list(limit=limit, after=after)
    next_after = page[-1].number if len(page) == limit else None
    return JsonResponse({"data": [_resource(o) for o in page], "next_after": next_after})


@router.post(
    "",
    status_code=201,
    summary="Stop sending to a number",
    response_model=OptOutOut,
    responses={200: {"model": OptOutOut, "description": "The number was on the list already"}},
)
async def add_opt_out(services: ServicesDep, body: OptOutIn) -> JsonResponse:
    number = _number(services, body.number)
    added = await services.opt_outs.add(number, OptOutSource.API)
    stored = await services.opt_outs.get(number)
    assert stored is not None  # just added, or already there
    return JsonResponse(_resource(stored), status_code=201 if added else 200)


@router.delete(
    "/{number}",
    status_code=204,
    summary="Send to a number again",
    responses={404: {"model": ErrorOut, "description": "The number is not on the list"}},
)
async def remove_opt_out(
    services: ServicesDep, number: Annotated[str, Path(examples=[EXAMPLE_NUMBER])]
) -> Response:
    if not await services.opt_outs.remove(_number(services, number)):
        raise ApiError(404, "opt_out_not_found", "That number is not on the opt-out list.")
    return Response(status_code=204)
