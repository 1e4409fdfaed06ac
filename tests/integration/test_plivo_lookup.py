"""The Plivo adapter reads Plivo's message list (the emulator's) to find what it took."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, EmulatorServer
from smsgate.providers.base import Accepted, LookupUnavailable, OutboundSms
from smsgate.providers.http import AiohttpTransport
from smsgate.providers.plivo.provider import PlivoCredentials, PlivoProvider

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def plivo(emulator: EmulatorServer, token: str = DEFAULT_AUTH_TOKEN) -> PlivoProvider:
    return PlivoProvider(
        AiohttpTransport(),
        PlivoCredentials(DEFAULT_AUTH_ID, token),
        sender="14155550199",
        api_url=emulator.base_url,
        timeout=5,
    )


@pytest.fixture
async def provider(emulator: EmulatorServer) -> AsyncIterator[PlivoProvider]:
    adapter = plivo(emulator)
    try:
        yield adapter
    finally:
        await adapter.aclose()


async def test_a_sent_message_is_found_by_number_and_time(
    provider: PlivoProvider, emulator: EmulatorServer
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    result = await provider.send(OutboundSms(to="+14155552671", text="hi"))
    assert isinstance(result, Accepted)
    await provider.send(OutboundSms(to="+14155552672", text="someone else"))
    after = datetime.now(UTC) + timedelta(seconds=1)
    (record,) = await provider.find_sent("+14155552671", before, after)
    assert record.message_uuid == result.message_uuids[0]
    assert record.to == "+14155552671"
    assert record.state in {"queued", "sent", "delivered"}
    assert before <= record.at <= after


async def test_nothing_outside_the_window_is_found(
    provider: PlivoProvider, emulator: EmulatorServer
) -> None:
    await provider.send(OutboundSms(to="+14155552671", text="hi"))
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert await provider.find_sent("+14155552671", later, later + timedelta(minutes=1)) == []


async def test_pages_are_followed(provider: PlivoProvider, emulator: EmulatorServer) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    for _ in range(45):  # three pages of at most 20
        await provider.send(OutboundSms(to="+14155552671", text="again"))
    found = await provider.find_sent("+14155552671", before, datetime.now(UTC))
    assert len({r.message_uuid for r in found}) == 45


async def test_refused_credentials_make_the_lookup_unavailable(emulator: EmulatorServer) -> None:
    adapter = plivo(emulator, token="wrong-token-123")
    try:
        with pytest.raises(LookupUnavailable, match="HTTP 401"):
            await adapter.find_sent("+14155552671", datetime.now(UTC), datetime.now(UTC))
    finally:
        await adapter.aclose()
