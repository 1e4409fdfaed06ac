"""The adapter sends what Plivo's own SDK sends: the official client is the test oracle.

Both talk to the emulator over real HTTP; the emulator records each request, and the two
recordings must agree on method, path, credentials, content type and every body field.
"""

from __future__ import annotations

import asyncio
from unittest.mock import patch

import plivo
import pytest

from smsgate.emulator import EmulatorServer, RequestRecord
from smsgate.providers.base import Accepted, OutboundSms
from smsgate.providers.http import AiohttpTransport
from smsgate.providers.plivo.provider import PlivoCredentials, PlivoProvider

pytestmark = pytest.mark.integration

SENDER = "+14155550199"

CASES = [
    OutboundSms(to="+14155552671", text="Your code is 123456"),
    OutboundSms(to="+447400123456", text="Grüße 👋 — ünïcödé"),
    OutboundSms(to="+14155552671", text="with callback", status_url="https://example.com/cb"),
    OutboundSms(to="+14155552671", text='line one\nline two\t{json: "quotes"}'),
]


def via_sdk(emulator: EmulatorServer, sms: OutboundSms) -> RequestRecord:
    with patch("plivo.rest.client.PLIVO_API_BASE_URI", f"{emulator.base_url}/v1/Account"):
        client = plivo.RestClient(emulator.auth_id, emulator.auth_token)
        extra = {"url": sms.status_url} if sms.status_url else {}
        client.messages.create(src=SENDER, dst=sms.to, text=sms.text, **extra)
    return emulator.requests()[-1]


def via_adapter(emulator: EmulatorServer, sms: OutboundSms) -> RequestRecord:
    async def send() -> None:
        provider = PlivoProvider(
            AiohttpTransport(),
            PlivoCredentials(emulator.auth_id, emulator.auth_token),
            sender=SENDER,
            api_url=emulator.base_url,
        )
        try:
            assert isinstance(await provider.send(sms), Accepted)
        finally:
            await provider.aclose()

    asyncio.run(send())
    return emulator.requests()[-1]


@pytest.mark.parametrize("sms", CASES, ids=["ascii", "unicode", "callback url", "escapes"])
def test_the_adapter_sends_the_same_request_as_the_official_sdk(
    emulator: EmulatorServer, sms: OutboundSms
) -> None:
    expected, actual = via_sdk(emulator, sms), via_adapter(emulator, sms)
    assert actual.method == expected.method == "POST"
    assert actual.path == expected.path
    assert actual.auth_user == expected.auth_user == emulator.auth_id
    assert actual.content_type == expected.content_type == "application/json"
    assert actual.body == expected.body
    assert actual.status == expected.status == 202
