"""Delivery reports, inbound messages and opt-outs, end to end over real HTTP.

The sandbox reports delivery through smsgate's real callback route, signed; the emulator does
the same as Plivo. Unsigned, wrongly signed or tampered reports change nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from smsgate.api.app import create_app
from smsgate.config import Settings
from smsgate.emulator import DEFAULT_AUTH_TOKEN, EmulatorServer
from smsgate.providers.plivo.signature import signature_headers
from tests.conftest import SettingsFactory
from tests.support.servers import free_port, serve_in_thread

pytestmark = pytest.mark.integration

TO = "+14155552671"


def wait_for(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting")
        time.sleep(0.05)


def message(url: str, message_id: str) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{url}/api/v1/messages/{message_id}").json()
    return document


def create(url: str, to: str = TO) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/messages", json={"to": to, "text": "hello"}, timeout=15)


@pytest.fixture
def sandbox_url(make_settings: SettingsFactory) -> Iterator[str]:
    port = free_port()
    with serve_in_thread(create_app(make_settings(port=port)), port=port) as url:
        yield url


def test_the_sandbox_reports_delivery_through_the_real_callback_route(sandbox_url: str) -> None:
    created = create(sandbox_url).json()
    wait_for(lambda: message(sandbox_url, created["id"])["status"] == "delivered")
    events = message(sandbox_url, created["id"])["events"]
    assert [(e["status"], e["source"]) for e in events] == [
        ("accepted", "api"),
        ("sending", "api"),
        ("queued", "provider"),
        ("sent", "callback"),
        ("delivered", "callback"),
    ]


def test_the_sandbox_carrier_failure_ends_undelivered_with_its_meaning(sandbox_url: str) -> None:
    created = create(sandbox_url, to="+15005550002").json()
    wait_for(lambda: message(sandbox_url, created["id"])["status"] == "undelivered")
    error = message(sandbox_url, created["id"])["error"]
    assert error["code"] == "30"
    assert "spam" in error["meaning"].lower()


@pytest.fixture
def plivo_url(plivo_settings: Settings) -> Iterator[str]:
    port = free_port()
    settings = plivo_settings.model_copy(
        update={"port": port, "public_url": f"http://127.0.0.1:{port}"}
    )
    with serve_in_thread(create_app(settings), port=port) as url:
        yield url


def test_plivos_callbacks_move_the_message_to_its_final_status(
    plivo_url: str, emulator: EmulatorServer
) -> None:
    emulator.set_outcome(TO.removeprefix("+"), "failed", "50")
    created = create(plivo_url).json()
    wait_for(lambda: message(plivo_url, created["id"])["status"] == "failed")
    shown = message(plivo_url, created["id"])
    assert shown["error"]["code"] == "50"
    sent = [r for r in emulator.requests() if r.method == "POST"]
    assert isinstance(sent[0].body, dict)
    assert sent[0].body["url"] == f"{plivo_url}/api/v1/webhooks/plivo/status"


def post_report(
    url: str, fields: dict[str, str], token: str = DEFAULT_AUTH_TOKEN
) -> httpx.Response:
    target = f"{url}/api/v1/webhooks/plivo/status"
    headers = signature_headers("POST", target, token, fields)
    return httpx.post(
        target,
        content=urlencode(fields),
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )


def test_unsigned_wrongly_signed_and_tampered_reports_are_refused_and_change_nothing(
    plivo_url: str, emulator: EmulatorServer
) -> None:
    created = create(plivo_url).json()
    emulator.wait_for_callbacks()
    before = message(plivo_url, created["id"])
    fields = {
        "MessageUUID": str(before["provider_message_uuid"]),
        "Status": "undelivered",
        "ErrorCode": "30",
    }
    target = f"{plivo_url}/api/v1/webhooks/plivo/status"
    unsigned = httpx.post(target, data=fields)
    wrong = post_report(plivo_url, fields, token="not-the-token")
    headers = signature_headers("POST", target, DEFAULT_AUTH_TOKEN, fields)
    tampered = httpx.post(target, data={**fields, "Status": "delivered"}, headers=headers)
    for response in (unsigned, wrong, tampered):
        assert response.status_code == 403
        assert response.json()["code"] == "invalid_signature"
    after = message(plivo_url, created["id"])
    assert after["status"] == before["status"]
    assert len(after["events"]) == len(before["events"])


def test_a_signed_report_for_an_unknown_message_is_answered_200(
    plivo_url: str, emulator: EmulatorServer
) -> None:
    """Answered 200 (Plivo would retry otherwise), and nothing is stored or changed."""
    created = create(plivo_url).json()
    emulator.wait_for_callbacks()
    before = message(plivo_url, created["id"])
    listed = httpx.get(f"{plivo_url}/api/v1/messages").json()
    response = post_report(plivo_url, {"MessageUUID": "no-such-uuid", "Status": "delivered"})
    assert response.status_code == 200
    assert message(plivo_url, created["id"]) == before
    assert httpx.get(f"{plivo_url}/api/v1/messages").json() == listed


def post_inbound(url: str, text: str, sender: str = "14155552671") -> httpx.Response:
    target = f"{url}/api/v1/webhooks/plivo/inbound"
    fields = {
        "From": sender,
        "To": "14155550199",
        "Text": text,
        "Type": "sms",
        "MessageUUID": f"in-{time.monotonic_ns()}",
        "MessageIntent": "",
    }
    headers = signature_headers("POST", target, DEFAULT_AUTH_TOKEN, fields)
    return httpx.post(target, data=fields, headers=headers)


def test_stop_opts_the_sender_out_and_sends_to_it_are_refused_with_409(plivo_url: str) -> None:
    assert post_inbound(plivo_url, "  Stop \n").status_code == 200
    refused = create(plivo_url)
    assert refused.status_code == 409
    assert refused.json()["code"] == "recipient_opted_out"
    assert message(plivo_url, refused.json()["id"])["status"] == "rejected"
    assert post_inbound(plivo_url, "START").status_code == 200
    assert create(plivo_url).status_code == 201


def test_help_gets_the_configured_reply_as_plivo_xml(plivo_url: str) -> None:
    response = post_inbound(plivo_url, "help")
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Message" in response.text
    assert "STOP" in response.text


def test_the_opt_out_list_can_be_managed_by_hand(plivo_url: str) -> None:
    api = f"{plivo_url}/api/v1/opt-outs"
    added = httpx.post(api, json={"number": "+1 (415) 555-2671"})
    assert added.status_code == 201
    assert added.json()["number"] == TO
    assert httpx.post(api, json={"number": TO}).status_code == 200
    assert [o["number"] for o in httpx.get(api).json()["data"]] == [TO]
    assert create(plivo_url).status_code == 409
    assert httpx.delete(f"{api}/{TO}").status_code == 204
    assert httpx.delete(f"{api}/{TO}").status_code == 404
    assert httpx.post(api, json={"number": "123"}).status_code == 400
