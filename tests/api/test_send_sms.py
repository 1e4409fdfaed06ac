"""POST /api/send-sms in-process: every way a request can be wrong, and every provider outcome."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from smsgate.api.app import create_app
from smsgate.config import Settings
from smsgate.providers.base import (
    Accepted,
    Ambiguous,
    CredentialsRefused,
    OutboundSms,
    RateLimited,
    Rejected,
    SendResult,
    Transient,
    Unreadable,
)
from tests.conftest import SettingsFactory
from tests.support.fakes import RecordingProvider
from tests.support.servers import LOCAL_BASE_URL

VALID = "+14155552671"


@pytest.fixture
def provider() -> RecordingProvider:
    return RecordingProvider()


@pytest.fixture
def client(make_settings: SettingsFactory, provider: RecordingProvider) -> Iterator[TestClient]:
    with TestClient(
        create_app(make_settings(), provider=provider), base_url=LOCAL_BASE_URL
    ) as client:
        yield client


def test_a_valid_request_is_sent_and_answered_like_the_seed(
    client: TestClient, provider: RecordingProvider
) -> None:
    """200 with success, Plivo's ids, the E.164 number, the encoding and the segments."""
    provider.results.append(Accepted(message_uuids=("m-1",), api_id="a-1"))
    response = client.post("/api/send-sms", json={"to": "+1 (415) 555-2671", "text": "Hello"})
    assert response.status_code == 200
    document = response.json()
    assert len(document.pop("id")) == 26  # the stored message's ULID: the one field added
    assert document == {
        "success": True,
        "message_uuid": "m-1",
        "api_id": "a-1",
        "to": VALID,
        "encoding": "GSM-7",
        "segments": 1,
    }
    assert [(s.to, s.text) for s in provider.sent] == [(VALID, "Hello")]
    assert response.headers["x-request-id"]


def test_unicode_text_reports_ucs2_and_its_segments(client: TestClient) -> None:
    """One emoji makes the whole text UCS-2; 71 UTF-16 units take two segments."""
    response = client.post("/api/send-sms", json={"to": VALID, "text": "👋" + "a" * 69})
    assert response.json()["encoding"] == "UCS-2"
    assert response.json()["segments"] == 2


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("malformed JSON", b'{"to": "+14155552671", "text": ', "invalid_json"),
    ("empty body", b"", "empty_body"),
    ("a JSON array", b'["+14155552671", "hi"]', "invalid_body"),
    ("a JSON string", b'"hello"', "invalid_body"),
    ("missing to", b'{"text": "hi"}', "missing_field"),
    ("missing text", b'{"to": "+14155552671"}', "missing_field"),
    ("to is a number", b'{"to": 14155552671, "text": "hi"}', "invalid_field_type"),
    ("text is null", b'{"to": "+14155552671", "text": null}', "invalid_field_type"),
    ("text is a list", b'{"to": "+14155552671", "text": ["hi"]}', "invalid_field_type"),
    ("empty to", b'{"to": "", "text": "hi"}', "empty_field"),
    ("blank text", b'{"to": "+14155552671", "text": "  \\n "}', "empty_field"),
    ("unknown field", b'{"to": "+14155552671", "text": "hi", "from": "x"}', "unknown_field"),
    ("invalid number", b'{"to": "+1 415 555", "text": "hi"}', "number_too_short"),
    ("letters in the number", b'{"to": "+1-800-FLOWERS", "text": "hi"}', "invalid_number_format"),
    (
        "national number without region",
        b'{"to": "415 555 2671", "text": "hi"}',
        "missing_country_code",
    ),
    ("unknown country code", b'{"to": "+999 1234 5678", "text": "hi"}', "invalid_country_code"),
    (
        "text over 1,600 GSM-7",
        b'{"to": "+14155552671", "text": "' + b"a" * 1601 + b'"}',
        "text_too_long",
    ),
    (
        "text over 737 UCS-2",
        ('{"to": "+14155552671", "text": "' + "ç" * 738 + '"}').encode(),
        "text_too_long",
    ),
    ("invalid UTF-8", b'{"to": "+14155552671", "text": "\xff\xfe"}', "invalid_json"),
]


@pytest.mark.parametrize(
    ("body", "code"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES]
)
def test_bad_requests_get_400_with_their_own_code_and_send_nothing(
    client: TestClient, provider: RecordingProvider, body: bytes, code: str
) -> None:
    """Each way a request can be wrong has a stable code; nothing reaches the provider."""
    response = client.post(
        "/api/send-sms", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    document = response.json()
    assert document["success"] is False
    assert document["code"] == code
    assert isinstance(document["error"], str)
    assert document["error"]
    assert provider.sent == []


def test_a_form_content_type_with_a_json_body_is_accepted(
    client: TestClient, provider: RecordingProvider
) -> None:
    """`curl -d '{...}'` sends a form content type; the body is JSON, so it is read as JSON."""
    response = client.post(
        "/api/send-sms",
        content=b'{"to": "+14155552671", "text": "hi"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert (response.json()["success"], response.json()["to"]) == (True, "+14155552671")
    (sms,) = provider.sent
    assert (sms.to, sms.text) == ("+14155552671", "hi")


OUTCOMES: list[tuple[str, SendResult, int, str, str | None]] = [
    (
        "rejected",
        Rejected(status=400, error="'1415' is not a valid phone number."),
        400,
        "provider_rejected",
        None,
    ),
    (
        "credentials",
        CredentialsRefused(error="Authentication credentials invalid"),
        502,
        "provider_auth_failed",
        None,
    ),
    ("unreadable", Unreadable(error="HTML", status=200), 502, "provider_bad_response", None),
    ("rate limited", RateLimited(error="slow", retry_after=2.5), 429, "provider_rate_limited", "3"),
    ("rate limited, no hint", RateLimited(error="slow"), 429, "provider_rate_limited", "1"),
    ("unavailable", Transient(error="HTTP 503", status=503), 503, "provider_unavailable", "5"),
    (
        "500, may have been sent",
        Transient(error="boom", status=500, may_have_been_sent=True),
        503,
        "provider_error",
        None,
    ),
    ("404 from Plivo", Rejected(status=404, error="not found"), 502, "provider_bad_response", None),
    ("timeout", Ambiguous(error="timed out"), 504, "provider_timeout", None),
]


@pytest.mark.parametrize(
    ("result", "status", "code", "retry_after"),
    [o[1:] for o in OUTCOMES],
    ids=[o[0] for o in OUTCOMES],
)
def test_each_provider_outcome_gets_its_honest_status(
    client: TestClient,
    provider: RecordingProvider,
    result: SendResult,
    status: int,
    code: str,
    retry_after: str | None,
) -> None:
    """Plivo's refusal of our credentials is a 502, never a 401 to our caller; and so on."""
    provider.results.append(result)
    response = client.post("/api/send-sms", json={"to": VALID, "text": "hi"})
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.headers.get("retry-after") == retry_after


def test_the_rejection_reason_from_plivo_is_passed_on(
    client: TestClient, provider: RecordingProvider
) -> None:
    """The caller learns why Plivo refused the destination."""
    provider.results.append(Rejected(status=400, error="'1415' is not a valid phone number."))
    response = client.post("/api/send-sms", json={"to": VALID, "text": "hi"})
    assert "'1415' is not a valid phone number." in response.json()["error"]


def test_another_method_gets_405_with_allow(client: TestClient) -> None:
    """GET on the send route answers 405 in the error shape, with an Allow header."""
    response = client.get("/api/send-sms")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"


def test_an_unknown_path_gets_404_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": "There is nothing at this address.",
        "code": "not_found",
    }


def test_a_body_over_64_kib_gets_413_before_it_is_read(
    client: TestClient, provider: RecordingProvider
) -> None:
    """The cap is enforced from Content-Length."""
    body = b'{"to": "+14155552671", "text": "' + b"a" * (64 * 1024) + b'"}'
    response = client.post("/api/send-sms", content=body)
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert provider.sent == []


def test_a_chunked_body_over_64_kib_gets_413(
    client: TestClient, provider: RecordingProvider
) -> None:
    """Without Content-Length, the cap is enforced while the body streams in."""

    def chunks() -> Iterator[bytes]:
        yield b'{"to": "+14155552671", "text": "'
        for _ in range(70):
            yield b"a" * 1024
        yield b'"}'

    response = client.post("/api/send-sms", content=chunks())
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert provider.sent == []


def test_a_body_of_exactly_64_kib_is_read(client: TestClient) -> None:
    """The cap is 64 KiB inclusive: the edge itself is accepted (and then judged on content)."""
    prefix, suffix = b'{"to": "+14155552671", "text": "', b'"}'
    body = prefix + b"a" * (64 * 1024 - len(prefix) - len(suffix)) + suffix
    assert len(body) == 64 * 1024
    response = client.post("/api/send-sms", content=body)
    assert response.status_code == 400
    assert response.json()["code"] == "text_too_long"


def test_a_national_number_is_accepted_with_a_default_region(
    make_settings: SettingsFactory, provider: RecordingProvider
) -> None:
    """With SMSGATE_DEFAULT_REGION=US, (415) 555-2671 means +14155552671."""
    app = create_app(make_settings(default_region="US"), provider=provider)
    with TestClient(app, base_url=LOCAL_BASE_URL) as client:
        response = client.post("/api/send-sms", json={"to": "(415) 555-2671", "text": "hi"})
    assert response.json()["to"] == VALID


class TestApiKeys:
    @pytest.fixture
    def settings(self, make_settings: SettingsFactory) -> Settings:
        return make_settings(api_keys="key-one, key-two")

    @pytest.fixture
    def client(self, settings: Settings, provider: RecordingProvider) -> Iterator[TestClient]:
        with TestClient(create_app(settings, provider=provider), base_url=LOCAL_BASE_URL) as client:
            yield client

    @pytest.mark.parametrize(
        "header",
        [None, "Bearer wrong", "Bearer ", "Basic a2V5LW9uZQ==", "key-one", "Bearer key-one2"],
        ids=["missing", "wrong key", "empty", "basic scheme", "no scheme", "key prefix"],
    )
    def test_without_a_valid_key_the_api_answers_401(
        self, client: TestClient, provider: RecordingProvider, header: str | None
    ) -> None:
        """401 with WWW-Authenticate, and nothing is sent."""
        headers = {"Authorization": header} if header is not None else {}
        response = client.post("/api/send-sms", json={"to": VALID, "text": "hi"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
        assert provider.sent == []

    @pytest.mark.parametrize("key", ["key-one", "key-two"])
    def test_each_configured_key_works(self, client: TestClient, key: str) -> None:
        response = client.post(
            "/api/send-sms",
            json={"to": VALID, "text": "hi"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 200

    def test_health_and_the_page_need_no_key(self, client: TestClient) -> None:
        """Only /api/* is guarded."""
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200


def test_healthz_answers_ok(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_a_usable_configuration(client: TestClient) -> None:
    assert client.get("/readyz").json() == {
        "ready": True,
        "provider": "sandbox",
        "problem": None,
        "database": "ok",
        "broker": None,
        "down": [],
    }


def test_readyz_reports_an_unusable_configuration_with_503(
    make_settings: SettingsFactory, provider: RecordingProvider
) -> None:
    """A Plivo configuration missing its sender is not ready, and says why."""
    settings = make_settings(plivo_auth_id="MA" + "A" * 18, plivo_auth_token="token-123456")
    with TestClient(create_app(settings, provider=provider), base_url=LOCAL_BASE_URL) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["ready"] is False
    assert "PLIVO_SENDER_ID" in response.json()["problem"]
    assert response.json()["down"] == ["configuration"]


def test_the_page_shows_the_form_and_the_counter(client: TestClient) -> None:
    """The seed's form: number, text, a counter and a Send button."""
    page = client.get("/").text
    for fragment in ['id="to"', 'id="text"', 'id="counter"', ">Send</button>", "gsm7-tables"]:
        assert fragment in page


def test_openapi_documents_the_send_route_and_its_errors(client: TestClient) -> None:
    """/openapi.json describes the request body, the answer and each error status."""
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/send-sms"]["post"]

    def resolve(reference: dict[str, str]) -> dict[str, object]:
        name = reference["$ref"].rsplit("/", 1)[1]
        model: dict[str, object] = schema["components"]["schemas"][name]
        return model

    body = resolve(operation["requestBody"]["content"]["application/json"]["schema"])
    assert set(body["required"]) == {"to", "text"}  # type: ignore[call-overload]
    assert body["additionalProperties"] is False
    answers = operation["responses"]
    statuses = (200, 400, 401, 402, 403, 405, 409, 413, 422, 429, 502, 503, 504)
    expected = {str(status) for status in statuses}
    assert expected == set(answers)
    ok = resolve(answers["200"]["content"]["application/json"]["schema"])
    assert set(ok["properties"]) == {  # type: ignore[call-overload]
        "success",
        "message_uuid",
        "api_id",
        "to",
        "encoding",
        "segments",
    }
    error = resolve(answers["503"]["content"]["application/json"]["schema"])
    assert set(error["properties"]) == {"success", "error", "code"}  # type: ignore[call-overload]
    assert "/healthz" in schema["paths"]
    assert client.get("/docs").status_code == 200


class ExplodingProvider(RecordingProvider):
    async def send(self, sms: OutboundSms) -> SendResult:
        raise RuntimeError("a bug in an adapter")


def test_an_unexpected_failure_is_a_500_in_the_error_shape(make_settings: SettingsFactory) -> None:
    """A bug answers JSON 500 with `internal_error`, and the server keeps serving."""
    app = create_app(make_settings(), provider=ExplodingProvider())
    with TestClient(app, base_url=LOCAL_BASE_URL, raise_server_exceptions=False) as client:
        response = client.post("/api/send-sms", json={"to": VALID, "text": "hi"})
        assert response.status_code == 500
        assert response.json() == {
            "success": False,
            "error": "Something went wrong inside smsgate.",
            "code": "internal_error",
        }
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_every_other_method_on_the_send_route_gets_405(client: TestClient, method: str) -> None:
    response = client.request(method, "/api/send-sms")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_the_page_is_served_with_a_strict_content_security_policy(client: TestClient) -> None:
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    # Everything the page loads comes from this server, as the policy demands.
    assert "https://" not in page.text.split("<body")[0]


def test_static_files_and_json_answers_are_not_sniffed(client: TestClient) -> None:
    assert client.get("/static/app.js").headers["x-content-type-options"] == "nosniff"
    health = client.get("/healthz")
    assert health.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in health.headers  # JSON: nothing to render
