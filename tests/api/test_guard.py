"""Who may call /api: other websites never; foreign host names only with keys; keys as set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from smsgate.api.app import create_app
from tests.conftest import SettingsFactory
from tests.support.fakes import RecordingProvider
from tests.support.servers import LOCAL_BASE_URL

BODY = b'{"to": "+14155552671", "text": "hi"}'


@pytest.fixture
def provider() -> RecordingProvider:
    return RecordingProvider()


@pytest.fixture
def open_client(
    make_settings: SettingsFactory, provider: RecordingProvider
) -> Iterator[TestClient]:
    """The default: no API keys, bound to loopback."""
    with TestClient(create_app(make_settings(), provider=provider), base_url=LOCAL_BASE_URL) as c:
        yield c


CROSS_SITE = [
    ("a form on another site", {"Origin": "http://evil.example", "Content-Type": "text/plain"}),
    ("fetch from another port", {"Origin": "http://127.0.0.1:9999"}),
    ("an opaque origin", {"Origin": "null"}),
    ("marked cross-site", {"Sec-Fetch-Site": "cross-site"}),
    ("marked same-site", {"Sec-Fetch-Site": "same-site"}),
]


@pytest.mark.parametrize("headers", [c[1] for c in CROSS_SITE], ids=[c[0] for c in CROSS_SITE])
def test_a_request_another_website_started_is_refused_and_nothing_is_sent(
    open_client: TestClient, provider: RecordingProvider, headers: dict[str, str]
) -> None:
    response = open_client.post("/api/send-sms", content=BODY, headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "cross_site_request"
    assert provider.sent == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
    ],
    ids=["no browser headers (curl, servers)", "smsgate's own page", "typed into the browser"],
)
def test_same_origin_and_non_browser_requests_pass(
    open_client: TestClient, provider: RecordingProvider, headers: dict[str, str]
) -> None:
    response = open_client.post("/api/send-sms", content=BODY, headers=headers)
    assert response.status_code == 200
    assert len(provider.sent) == 1


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "192.168.1.5:8000"])
def test_an_open_smsgate_answers_no_foreign_host_name(
    open_client: TestClient, provider: RecordingProvider, host: str
) -> None:
    """DNS rebinding: a foreign page reaching loopback under its own name gets nothing."""
    response = open_client.post("/api/send-sms", content=BODY, headers={"Host": host})
    assert response.status_code == 403
    assert response.json()["code"] == "host_not_allowed"
    assert provider.sent == []


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000", "127.0.0.2:80"])
def test_an_open_smsgate_answers_its_local_names(
    open_client: TestClient, provider: RecordingProvider, host: str
) -> None:
    response = open_client.post("/api/send-sms", content=BODY, headers={"Host": host})
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert [sms.to for sms in provider.sent] == ["+14155552671"]


def test_with_api_keys_any_host_name_is_served(
    make_settings: SettingsFactory, provider: RecordingProvider
) -> None:
    """Behind a proxy the Host is the public name; the key is what protects the API then."""
    app = create_app(make_settings(api_keys="k1"), provider=provider)
    with TestClient(app, base_url="http://sms.example.com") as client:
        response = client.post(
            "/api/send-sms", content=BODY, headers={"Authorization": "Bearer k1"}
        )
        assert response.status_code == 200
        stored = client.get(
            f"/api/v1/messages/{response.json()['id']}", headers={"Authorization": "Bearer k1"}
        )
    assert stored.json()["status"] == "queued"
    assert [sms.to for sms in provider.sent] == ["+14155552671"]


def test_the_health_checks_are_not_guarded(open_client: TestClient) -> None:
    for path in ("/healthz", "/readyz"):
        assert open_client.get(path, headers={"Host": "evil.example"}).status_code == 200


def test_an_open_smsgates_console_shows_nothing_to_a_foreign_host_name(
    open_client: TestClient,
) -> None:
    """DNS rebinding again: the console's pages would show every message."""
    assert open_client.get("/", headers={"Host": "evil.example"}).status_code == 404
    assert open_client.get("/messages", headers={"Host": "localhost:8000"}).status_code == 200
