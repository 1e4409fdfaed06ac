"""``GET /api/v1/numbers/check``: would a message to this number be sent, where, at what price.

The console checks the number as it is typed; programs may too. It answers 200 either way:
``valid`` says whether a send would pass the number and country checks, and ``code`` why not.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from smsgate.api.deps import ServicesDep
from smsgate.api.responses import JsonResponse
from smsgate.domain.country_names import country_name
from smsgate.domain.errors import DomainError

router = APIRouter(prefix="/api/v1/numbers", tags=["send"])


class NumberCheckOut(BaseModel):
    valid: bool = Field(description="Whether a message to it would pass the number checks.")
    e164: str | None = Field(description="The number as it would be sent.")
    country: str | None = Field(description="ISO 3166 code of its country.")
    country_name: str | None
    price_per_segment: str | None = Field(description="From the price table; None if unpriced.")
    currency: str | None = Field(
        description="The price's ISO 4217 currency (the price table's); None if unpriced."
    )
    code: str | None = Field(description="Why it would be refused (the send's error code).")
    error: str | None


@router.get("/check", summary="Check a number before sending", response_model=NumberCheckOut)
async def check_number(
    services: ServicesDep,
    number: Annotated[str, Query(max_length=64, examples=["+14155552671"])],
) -> JsonResponse:
    try:
        parsed, rate = services.sender.check(number)
    except DomainError as exc:
        return JsonResponse(
            {
                "valid": False,
                "e164": None,
                "country": None,
                "country_name": None,
                "price_per_segment": None,
                "currency": None,
                "code": exc.code,
                "error": exc.message,
            }
        )
    return JsonResponse(
        {
            "valid": True,
            "e164": parsed.e164,
            "country": parsed.region,
            "country_name": country_name(parsed.region) if parsed.region else None,
            "price_per_segment": f"{rate:.5f}" if rate is not None else None,
            "currency": services.documents.currency_of(rate),
            "code": None,
            "error": None,
        }
    )
