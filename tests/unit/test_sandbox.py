"""The sandbox provider: nothing leaves the machine, and the test numbers fail on cue."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from structlog.testing import capture_logs

from smsgate.providers.base import (
    Accepted,
    Ambiguous,
    CredentialsRefused,
    OutboundSms,
    RateLimited,
    Rejected,
    Transient,
)
from smsgate.providers.sandbox import SIMULATED_NUMBERS, SandboxProvider, Simulation

pytestmark = pytest.mark.anyio


async def test_an_ordinary_number_is_accepted_with_a_fresh_uuid_and_recorded() -> None:
    sandbox = SandboxProvider(sender="+14155550199", keep=10)
    first = await sandbox.send(OutboundSms(to="+14155552671", text="one"))
    second = await sandbox.send(OutboundSms(to="+14155552671", text="two"))
    assert isinstance(first, Accepted)
    assert isinstance(second, Accepted)
    assert first.message_uuids != second.message_uuids
    uuid.UUID(first.message_uuids[0])
    assert [(s.text, s.sender, s.delivery) for s in sandbox.sent] == [
        ("one", "+14155550199", ("delivered", "000")),
        ("two", "+14155550199", ("delivered", "000")),
    ]


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+15005550001", Rejected),
        ("+15005550002", Accepted),
        ("+15005550003", Transient),
        ("+15005550004", Ambiguous),
        ("+15005550005", RateLimited),
        ("+15005550006", CredentialsRefused),
    ],
    ids=[s.value for s in SIMULATED_NUMBERS.values()],
)
async def test_each_test_number_plays_its_failure(number: str, expected: type) -> None:
    result = await SandboxProvider().send(OutboundSms(to=number, text="hi"))
    assert isinstance(result, expected)


async def test_the_carrier_failure_number_is_accepted_then_reported_undelivered() -> None:
    sandbox = SandboxProvider(keep=10)
    await sandbox.send(OutboundSms(to="+15005550002", text="hi"))
    assert sandbox.sent[0].simulation is Simulation.CARRIER_FAILURE
    assert sandbox.sent[0].delivery == ("undelivered", "30")


async def test_the_test_numbers_are_valid_numbers_so_they_pass_validation() -> None:
    """Every simulated number must get past the number check to reach the sandbox."""
    from smsgate.domain.phone import parse_phone_number

    for number in SIMULATED_NUMBERS:
        assert parse_phone_number(number).e164 == number


async def test_without_a_signer_no_callback_is_made_and_with_one_each_is_signed() -> None:
    """The sandbox knows no signature scheme: bootstrap hands it the provider's signer."""
    signed: list[tuple[str, str, dict[str, str]]] = []

    def signer(method: str, url: str, form: dict[str, str]) -> dict[str, str]:
        signed.append((method, url, dict(form)))
        return {"X-Signed": "yes"}

    # Port 9 (discard) on loopback: nothing answers, so each post fails fast and is logged.
    url = "http://127.0.0.1:9/api/v1/webhooks/plivo/status"
    silent = SandboxProvider(callback_delay=0)
    with capture_logs() as logs:
        await silent.send(OutboundSms(to="+14155552671", text="hi", status_url=url))
        await asyncio.sleep(0.05)
        await silent.aclose()
    assert [log["event"] for log in logs] == ["sandbox_send"]
    sandbox = SandboxProvider(signer=signer, callback_delay=0)
    result = await sandbox.send(OutboundSms(to="+14155552671", text="hi", status_url=url))
    assert isinstance(result, Accepted)
    for _ in range(100):
        if len(signed) == 2:
            break
        await asyncio.sleep(0.01)
    await sandbox.aclose()
    assert [(method, form["Status"]) for method, _, form in signed] == [
        ("POST", "sent"),
        ("POST", "delivered"),
    ]
    assert {u for _, u, _ in signed} == {url}
    assert signed[0][2]["MessageUUID"] == result.message_uuids[0]
