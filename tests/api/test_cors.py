"""CORS: off unless SMSGATE_CORS_ORIGINS lists origins; listed ones still need an API key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from smsgate.api.app import create_app
from smsgate.bootstrap import check_serving
from smsgate.config import ConfigError, Settings
from tests.conftest import SettingsFactory
from tests.support.fakes import RecordingProvider

APP = "https://app.example.com"
KEY = "k-0123456789abcdef"
BODY = {"to": "+14155552671", "text": "hi"}


def from_site(origin: str, **headers: str) -> dict[str, str]:
    """What a browser adds to a request a page on ``origin`` makes."""
    return {"Origin": origin, "Sec-Fetch-Site": "cross-site", **headers}


@pytest.fixture
def provider() -> RecordingProvider:
    return RecordingProvider()


@pytest.fixture
def client(make_settings: SettingsFactory, provider: RecordingProvider) -> Iterator[TestClient]:
    settings = make_settings(api_keys=KEY, cors_origins=APP, host="0.0.0.0")
    with TestClient(create_app(settings, provider=provider), base_url="http://sms.test") as c:
        yield c


def test_a_preflight_from_a_listed_origin_is_answered(client: TestClient) -> None:
    answer = client.options(
        "/api/v1/messages",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == APP
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "idempotency-key" in answer.headers["access-control-allow-headers"].lower()


def test_a_listed_origin_with_a_key_sends_and_can_read_the_answer(
    client: TestClient, provider: RecordingProvider
) -> None:
    answer = client.post(
        "/api/v1/messages", json=BODY, headers=from_site(APP, Authorization=f"Bearer {KEY}")
    )
    assert answer.status_code == 201
    assert answer.headers["access-control-allow-origin"] == APP
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()
    assert len(provider.sent) == 1


def test_a_listed_origin_without_a_key_is_refused_401(
    client: TestClient, provider: RecordingProvider
) -> None:
    answer = client.post("/api/v1/messages", json=BODY, headers=from_site(APP))
    assert (answer.status_code, answer.json()["code"]) == (401, "unauthorized")
    assert provider.sent == []


def test_an_unlisted_origin_is_refused_even_with_a_key(
    client: TestClient, provider: RecordingProvider
) -> None:
    answer = client.post(
        "/api/send-sms",
        json=BODY,
        headers=from_site("https://evil.example", Authorization=f"Bearer {KEY}"),
    )
    assert (answer.status_code, answer.json()["code"]) == (403, "cross_site_request")
    assert "access-control-allow-origin" not in answer.headers
    assert provider.sent == []


def test_without_listed_origins_there_is_no_cors_at_all(
    make_settings: SettingsFactory, provider: RecordingProvider
) -> None:
    settings = make_settings(api_keys=KEY, host="0.0.0.0")
    with TestClient(create_app(settings, provider=provider), base_url="http://sms.test") as c:
        answer = c.post(
            "/api/send-sms", json=BODY, headers=from_site(APP, Authorization=f"Bearer {KEY}")
        )
    assert (answer.status_code, answer.json()["code"]) == (403, "cross_site_request")
    assert "access-control-allow-origin" not in answer.headers


def test_cors_without_api_keys_is_refused_at_start() -> None:
    settings = Settings.model_validate({"cors_origins": APP})
    with pytest.raises(ConfigError, match="SMSGATE_CORS_ORIGINS"):
        check_serving(settings)


@pytest.mark.parametrize("origin", ["app.example.com", "ftp://app.example.com", f"{APP}/path"])
def test_an_origin_is_a_scheme_and_a_host(origin: str) -> None:
    with pytest.raises(ValidationError, match="cors_origins"):
        Settings.model_validate({"cors_origins": origin})
