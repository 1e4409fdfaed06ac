"""The served app over real HTTP, sending through the real Plivo adapter to the emulator.

Each row of the issue's status table is driven end to end: uvicorn, FastAPI, the adapter's
pooled aiohttp client, and a real HTTP server playing Plivo with injected faults.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from smsgate.api.app import create_app
from smsgate.config import Settings
from smsgate.emulator import EmulatorServer, RequestRecord
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration

TO = "+14155552671"


@pytest.fixture
def base_url(plivo_settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(plivo_settings)) as url:
        yield url


def send(base_url: str, body: object = None, **kwargs: object) -> httpx.Response:
    payload = body if body is not None else {"to": TO, "text": "Your code is 123456"}
    return httpx.post(f"{base_url}/api/send-sms", json=payload, timeout=15, **kwargs)  # type: ignore[arg-type]


def sends(emulator: EmulatorServer) -> list[RequestRecord]:
    return [r for r in emulator.requests() if r.method == "POST"]


def message_uuids(emulator: EmulatorServer) -> list[str]:
    return emulator.call(lambda: list(emulator.state.messages))


def test_a_message_is_sent_through_plivo_and_plivos_ids_come_back(
    base_url: str, emulator: EmulatorServer
) -> None:
    response = send(base_url)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["to"] == TO
    (recorded,) = sends(emulator)
    assert isinstance(recorded.body, dict)
    assert recorded.body["dst"] == TO
    assert recorded.body["text"] == "Your code is 123456"
    assert recorded.body["src"] == "+14155550199"
    assert body["message_uuid"] in message_uuids(emulator)


def test_bad_input_never_reaches_plivo(base_url: str, emulator: EmulatorServer) -> None:
    response = send(base_url, {"to": "+1 415 555", "text": "hi"})
    assert response.status_code == 400
    assert response.json()["code"] == "number_too_short"
    assert sends(emulator) == []


def test_plivo_rejecting_the_destination_is_a_400_with_its_reason(
    base_url: str, emulator: EmulatorServer
) -> None:
    emulator.set_faults(status=400, body='{"api_id": "x", "error": "destination blocked"}')
    response = send(base_url)
    assert response.status_code == 400
    assert response.json()["code"] == "provider_rejected"
    assert "destination blocked" in response.json()["error"]


def test_plivo_refusing_our_credentials_is_a_502(
    emulator: EmulatorServer, plivo_settings: Settings
) -> None:
    settings = plivo_settings.model_copy(update={"plivo_auth_id": "MA" + "Z" * 18})
    with serve_in_thread(create_app(settings)) as url:
        response = send(url)
    assert response.status_code == 502
    assert response.json()["code"] == "provider_auth_failed"
    assert "PLIVO_AUTH_ID" in response.json()["error"]


def test_an_unreadable_success_is_a_502_and_not_retried(
    base_url: str, emulator: EmulatorServer
) -> None:
    emulator.set_faults(status=202, body="<html>queued</html>")
    response = send(base_url)
    assert response.status_code == 502
    assert response.json()["code"] == "provider_bad_response"
    assert len(sends(emulator)) == 1


def test_a_429_that_persists_is_passed_on_with_retry_after(
    base_url: str, emulator: EmulatorServer
) -> None:
    """Retry-After beyond our deadline is not waited out: the caller gets 429 at once."""
    emulator.set_faults(status=429, retry_after=60)
    response = send(base_url)
    assert response.status_code == 429
    assert response.json()["code"] == "provider_rate_limited"
    assert response.headers["retry-after"] == "60"
    assert len(sends(emulator)) == 1


def test_short_lived_429s_are_retried_within_the_deadline(
    base_url: str, emulator: EmulatorServer
) -> None:
    emulator.set_faults(status=429, retry_after=0, times=2)
    response = send(base_url)
    assert response.status_code == 200
    assert len(sends(emulator)) == 3


@pytest.mark.parametrize("status", [502, 503])
def test_5xx_that_clear_up_are_retried_and_sent_once(
    base_url: str, emulator: EmulatorServer, status: int
) -> None:
    emulator.set_faults(status=status, times=2)
    response = send(base_url)
    assert response.status_code == 200
    assert len(sends(emulator)) == 3
    assert len(message_uuids(emulator)) == 1


def test_plivo_answering_503_throughout_is_a_503(base_url: str, emulator: EmulatorServer) -> None:
    emulator.set_faults(status=503)
    response = send(base_url)
    assert response.status_code == 503
    assert response.json()["code"] == "provider_unavailable"
    assert len(sends(emulator)) > 1


def test_plivo_unreachable_is_a_503(plivo_settings: Settings) -> None:
    """Connection refused on every attempt: retried, then reported unavailable."""
    from tests.support.servers import free_port

    settings = plivo_settings.model_copy(
        update={"plivo_api_url": f"http://127.0.0.1:{free_port()}"}
    )
    with serve_in_thread(create_app(settings)) as url:
        response = send(url)
    assert response.status_code == 503
    assert response.json()["code"] == "provider_unavailable"


def test_a_timeout_is_a_504_and_the_message_is_not_sent_again(
    base_url: str, emulator: EmulatorServer
) -> None:
    """Plivo got the request but answered too late: no retry, so no double send."""
    emulator.set_faults(latency_ms=4000)
    response = send(base_url)
    assert response.status_code == 504
    assert response.json()["code"] == "provider_timeout"
    assert len(sends(emulator)) == 1


def test_a_connection_dropped_after_sending_is_a_504_and_not_retried(
    base_url: str, emulator: EmulatorServer
) -> None:
    emulator.set_faults(drop="before_response")
    response = send(base_url)
    assert response.status_code == 504
    assert len(sends(emulator)) == 1


def test_a_500_is_a_503_that_says_it_may_have_been_sent_and_is_not_retried(
    base_url: str, emulator: EmulatorServer
) -> None:
    """Plivo may have begun processing before a 500: not sent again, and not "try again"."""
    emulator.set_faults(status=500, times=1)
    response = send(base_url)
    assert response.status_code == 503
    assert response.json()["code"] == "provider_error"
    assert "may or may not have been sent" in response.json()["error"]
    assert "retry-after" not in response.headers
    assert len(sends(emulator)) == 1


def test_plivo_not_knowing_the_send_url_is_a_502_not_the_callers_fault(
    base_url: str, emulator: EmulatorServer
) -> None:
    emulator.set_faults(status=404, body='{"api_id": "x", "error": "not found"}')
    response = send(base_url)
    assert response.status_code == 502
    assert response.json()["code"] == "provider_bad_response"
    assert "PLIVO_API_URL" in response.json()["error"]


def test_an_unreachable_plivo_leaks_no_address_or_account_to_the_caller(
    plivo_settings: Settings,
) -> None:
    """Transport errors name hosts and URLs (with the auth ID); the caller sees none of it."""
    from tests.support.servers import free_port

    port = free_port()
    settings = plivo_settings.model_copy(update={"plivo_api_url": f"http://127.0.0.1:{port}"})
    with serve_in_thread(create_app(settings)) as url:
        response = send(url)
    assert response.status_code == 503
    assert str(port) not in response.text
    assert str(settings.plivo_auth_id) not in response.text
