"""The web console's pages and sessions, in-process: sign-in, cookies, CSRF, revocation."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from smsgate.api.app import create_app
from smsgate.config import Settings
from tests.conftest import SettingsFactory
from tests.support.api_keys import create_key, revoke_key
from tests.support.fakes import RecordingProvider
from tests.support.servers import LOCAL_BASE_URL

SEND = {"to": "+14155552671", "text": "hello"}


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
def keyed(settings: Settings) -> Iterator[tuple[TestClient, str, str]]:
    """A console with stored keys: an admin key and a read-only one."""
    _, admin = create_key(settings.database_url, "ops", "admin")
    _, reader = create_key(settings.database_url, "reports", "read")
    app = create_app(settings, provider=RecordingProvider())
    with TestClient(app, base_url=LOCAL_BASE_URL, follow_redirects=False) as client:
        yield client, admin, reader


def sign_in(client: TestClient, key: str) -> str:
    answer = client.post("/login", data={"api_key": key})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert match is not None
    return match.group(1)


def test_without_a_session_every_page_sends_you_to_sign_in(
    keyed: tuple[TestClient, str, str],
) -> None:
    client, _, _ = keyed
    for path in ("/", "/messages", "/messages/01M8J7J44ZQQNHM4DZGYMRSZ6C", "/opt-outs"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/login"
    assert client.get("/login").status_code == 200


def test_signing_in_sets_a_strict_httponly_cookie(keyed: tuple[TestClient, str, str]) -> None:
    client, admin, _ = keyed
    answer = client.post("/login", data={"api_key": admin})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("smsgate_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http here; https gets Secure
    assert admin not in cookie  # the key itself is never the cookie


def test_a_wrong_key_is_shown_inline_and_sets_nothing(keyed: tuple[TestClient, str, str]) -> None:
    client, _, _ = keyed
    answer = client.post("/login", data={"api_key": "sg_live_" + "x" * 40})
    assert answer.status_code == 401
    assert "The API key is not valid." in answer.text
    assert "set-cookie" not in answer.headers


def test_the_session_calls_the_api_and_a_change_needs_the_csrf_token(
    keyed: tuple[TestClient, str, str],
) -> None:
    client, admin, _ = keyed
    csrf = sign_in(client, admin)
    assert client.get("/api/v1/messages").status_code == 200  # reading needs no token
    refused = client.post("/api/v1/messages", json=SEND)
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    wrong = client.post("/api/v1/messages", json=SEND, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    sent = client.post("/api/v1/messages", json=SEND, headers={"X-CSRF-Token": csrf})
    assert sent.status_code == 201, sent.text


def test_a_session_acts_with_its_keys_scopes(keyed: tuple[TestClient, str, str]) -> None:
    client, _, reader = keyed
    csrf = sign_in(client, reader)
    answer = client.post("/api/v1/messages", json=SEND, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 403
    assert answer.json()["code"] == "insufficient_scope"
    assert "cannot send" in client.get("/").text


def test_revoking_the_key_ends_its_sessions(
    keyed: tuple[TestClient, str, str], settings: Settings
) -> None:
    client, admin, _ = keyed
    sign_in(client, admin)
    assert revoke_key(settings.database_url, admin[:16]) is not None
    assert client.get("/").status_code == 303
    assert client.get("/api/v1/messages").status_code == 401


def test_signing_out_needs_the_token_and_ends_the_session(
    keyed: tuple[TestClient, str, str],
) -> None:
    client, admin, _ = keyed
    csrf = sign_in(client, admin)
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/").status_code == 200
    out = client.post("/logout", data={"csrf": csrf})
    assert out.status_code == 303
    assert client.get("/").status_code == 303


def test_another_site_cannot_sign_you_in(keyed: tuple[TestClient, str, str]) -> None:
    client, admin, _ = keyed
    answer = client.post(
        "/login", data={"api_key": admin}, headers={"Origin": "http://evil.example"}
    )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


def test_a_keyless_smsgate_shows_its_pages_to_this_machine_only(settings: Settings) -> None:
    app = create_app(settings, provider=RecordingProvider())
    with TestClient(app, base_url=LOCAL_BASE_URL, follow_redirects=False) as client:
        for path in ("/", "/messages", "/opt-outs"):
            assert client.get(path).status_code == 200, path
        assert client.get("/login").status_code == 303
        assert client.get("/", headers={"Host": "evil.example"}).status_code == 404


def test_the_number_check_says_where_and_at_what_price(settings: Settings) -> None:
    app = create_app(settings, provider=RecordingProvider())
    with TestClient(app, base_url=LOCAL_BASE_URL) as client:
        ok = client.get("/api/v1/numbers/check", params={"number": "+1 415 555 2671"}).json()
        assert ok["valid"] is True
        assert ok["e164"] == "+14155552671"
        assert ok["country"] == "US"
        assert ok["country_name"] == "United States"
        assert ok["price_per_segment"] == "0.00350"
        assert ok["currency"] == "USD"  # the shipped price table's
        bad = client.get("/api/v1/numbers/check", params={"number": "+1415"}).json()
        assert bad["valid"] is False
        assert bad["code"] == "number_too_short"
        assert bad["currency"] is None
        abroad = client.get("/api/v1/numbers/check", params={"number": "+447911123456"}).json()
        assert abroad["code"] == "country_not_allowed"


def test_the_dashboard_draws_the_last_day_and_todays_spend(settings: Settings) -> None:
    app = create_app(settings, provider=RecordingProvider())
    with TestClient(app, base_url=LOCAL_BASE_URL) as client:
        for n in range(3):
            sent = client.post("/api/v1/messages", json={**SEND, "to": f"+1415555267{n}"})
            assert sent.is_success
        page = client.get("/dashboard")
    assert page.status_code == 200
    assert '<svg viewBox="0 0 720 220" role="img"' in page.text
    assert page.text.count("<rect ") == 1  # this hour's bar: three messages, one outcome
    assert "3 other" in page.text  # queued with the recording provider: on their way
    assert 'id="spend">0.01050' in page.text  # three US messages at 0.00350, estimated
    assert 'id="spend">0.01050 USD (no daily limit set)' in page.text  # in its currency
    assert "none settled yet" in page.text
