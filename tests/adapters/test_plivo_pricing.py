"""The Plivo adapter's read of the Pricing API, through a recording transport."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from smsgate.providers.base import PricingUnavailable
from smsgate.providers.http import HttpAnswer, HttpRequest, MockTransport, NotSent
from smsgate.providers.plivo.provider import PlivoCredentials, PlivoProvider

pytestmark = pytest.mark.anyio

AUTH_ID = "MAODUXYWQ2ZJAWZWY0OT"


def provider_answering(*answers: HttpAnswer | Exception) -> tuple[PlivoProvider, list[HttpRequest]]:
    seen: list[HttpRequest] = []
    queue = list(answers)

    async def handler(request: HttpRequest) -> HttpAnswer:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    provider = PlivoProvider(
        MockTransport(handler),
        PlivoCredentials(AUTH_ID, "token-1234567"),
        sender="14155550199",
        api_url="https://plivo.test",
    )
    return provider, seen


def answer(status: int, document: Any) -> HttpAnswer:
    return HttpAnswer(status, {}, orjson.dumps(document))


def pricing(outbound: str | None, *networks: str) -> dict[str, Any]:
    message: dict[str, Any] = {"inbound": {"rate": "0.00000"}}
    if outbound is not None:
        message["outbound"] = {"rate": outbound}
    message["outbound_networks_list"] = [
        {"group_name": f"carrier {n}", "rate": rate} for n, rate in enumerate(networks)
    ]
    return {"api_id": "x", "country_iso": "US", "message": message}


async def test_the_rate_is_the_highest_plivo_lists_for_the_country() -> None:
    provider, seen = provider_answering(answer(200, pricing("0.00350", "0.00350", "0.00420")))
    assert await provider.sms_rate("US") == Decimal("0.00420")
    (request,) = seen
    assert request.method == "GET"
    assert request.url == f"https://plivo.test/v1/Account/{AUTH_ID}/Pricing/?country_iso=US"
    assert request.headers["Authorization"].startswith("Basic ")


async def test_a_country_rate_alone_is_used() -> None:
    provider, _ = provider_answering(answer(200, pricing("0.05000")))
    assert await provider.sms_rate("GB") == Decimal("0.05000")


async def test_a_country_plivo_does_not_price_has_no_rate() -> None:
    provider, _ = provider_answering(answer(404, {"api_id": "x", "error": "not found"}))
    assert await provider.sms_rate("AQ") is None


@pytest.mark.parametrize(
    ("reply", "complaint"),
    [
        (answer(401, {"error": "Authentication failed"}), "credentials"),
        (answer(500, {"error": "boom"}), "HTTP 500 \\(boom\\)"),
        (HttpAnswer(200, {}, b"<html>"), "HTTP 200"),
        (answer(200, {"api_id": "x"}), "no message rates"),
        (answer(200, pricing("free")), "unreadable"),
        (answer(200, pricing(None, "0.1", "-1")), "unreadable"),
        (
            NotSent("ClientConnectorError"),
            "unreachable at https://plivo.test \\(PLIVO_API_URL\\): ClientConnectorError",
        ),
    ],
)
async def test_an_unreadable_or_failed_answer_raises_pricing_unavailable(
    reply: HttpAnswer | Exception, complaint: str
) -> None:
    provider, _ = provider_answering(reply)
    with pytest.raises(PricingUnavailable, match=complaint):
        await provider.sms_rate("US")


async def test_an_answer_without_any_rate_means_no_price() -> None:
    provider, _ = provider_answering(answer(200, pricing(None)))
    assert await provider.sms_rate("US") is None
