"""/api/v1/messages in-process: create, read with timeline, list, export, idempotency."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smsgate.api.app import create_app
from smsgate.providers.base import Accepted, Ambiguous, RateLimited, Rejected, Transient
from tests.conftest import SettingsFactory
from tests.support.fakes import RecordingProvider
from tests.support.servers import LOCAL_BASE_URL

TO = "+14155552671"


@pytest.fixture
def provider() -> RecordingProvider:
    return RecordingProvider()


@pytest.fixture
def client(make_settings: SettingsFactory, provider: RecordingProvider) -> Iterator[TestClient]:
    app = create_app(make_settings(), provider=provider)
    with TestClient(app, base_url=LOCAL_BASE_URL) as client:
        yield client


def create(client: TestClient, text: str = "hi", to: str = TO, **headers: str) -> dict[str, object]:
    response = client.post("/api/v1/messages", json={"to": to, "text": text}, headers=headers)
    document: dict[str, object] = response.json()
    document["_status"] = response.status_code
    return document


def test_a_created_message_is_answered_201_and_reads_back_with_its_timeline(
    client: TestClient, provider: RecordingProvider
) -> None:
    provider.results.append(Accepted(message_uuids=("plivo-1",), api_id="a"))
    created = create(client, text="Grüße ç")
    assert created["_status"] == 201
    assert created["status"] == "queued"
    assert created["provider_message_uuid"] == "plivo-1"
    assert (created["encoding"], created["segments"]) == ("UCS-2", 1)
    shown = client.get(f"/api/v1/messages/{created['id']}").json()
    assert shown["text"] == "Grüße ç"
    assert [(e["status"], e["source"]) for e in shown["events"]] == [
        ("accepted", "api"),
        ("sending", "api"),
        ("queued", "provider"),
    ]


@pytest.mark.parametrize(
    ("result", "status", "stored"),
    [
        (Rejected(status=400, error="bad number"), 400, "rejected"),
        (Transient(error="down", status=503), 503, "failed"),
        (Ambiguous(error="timed out"), 504, "unknown"),
        (Transient(error="boom", status=500, may_have_been_sent=True), 503, "unknown"),
    ],
    ids=["refused", "unavailable", "timeout", "500"],
)
def test_a_send_that_failed_is_stored_with_what_is_known_of_it(
    client: TestClient,
    provider: RecordingProvider,
    result: object,
    status: int,
    stored: str,
) -> None:
    """Refused: rejected. Never taken: failed. Maybe sent: unknown, never sent again."""
    provider.results.append(result)  # type: ignore[arg-type]
    answer = create(client)
    assert answer["_status"] == status
    assert answer["success"] is False
    message = client.get(f"/api/v1/messages/{answer['id']}").json()
    assert message["status"] == stored
    assert message["error"]["reason"]


def test_the_seed_route_stores_its_messages_too(client: TestClient) -> None:
    sent = client.post("/api/send-sms", json={"to": TO, "text": "seed"}).json()
    assert client.get(f"/api/v1/messages/{sent['id']}").json()["text"] == "seed"


def test_an_unknown_message_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/messages/01ZZZZZZZZZZZZZZZZZZZZZZZZ")
    assert response.status_code == 404
    assert response.json()["code"] == "message_not_found"


def test_invalid_input_is_not_stored(client: TestClient) -> None:
    assert create(client, to="+1 415 555")["_status"] == 400
    assert client.get("/api/v1/messages").json()["data"] == []


def test_the_list_is_newest_first_filtered_and_paged(
    client: TestClient, provider: RecordingProvider
) -> None:
    provider.results.extend([Accepted(message_uuids=(f"p{n}",), api_id="a") for n in range(4)])
    provider.results.append(Rejected(status=400, error="no"))
    ids = [create(client, text=f"m{n}")["id"] for n in range(5)]
    first = client.get("/api/v1/messages", params={"limit": 2}).json()
    assert [m["id"] for m in first["data"]] == ids[::-1][:2]
    second = client.get("/api/v1/messages", params={"limit": 2, "cursor": first["next_cursor"]})
    assert [m["id"] for m in second.json()["data"]] == ids[::-1][2:4]
    rejected = client.get("/api/v1/messages", params={"status": "rejected"}).json()["data"]
    assert [m["id"] for m in rejected] == [ids[4]]
    by_number = client.get("/api/v1/messages", params={"to": "+1 (415) 555-2671"}).json()
    assert len(by_number["data"]) == 5
    assert (
        client.get("/api/v1/messages", params={"created_after": "2999-01-01T00:00:00Z"}).json()[
            "data"
        ]
        == []
    )


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "lost"}, "invalid_query"),
        ({"limit": "0"}, "invalid_query"),
        ({"limit": "201"}, "invalid_query"),
        ({"created_after": "yesterday"}, "invalid_query"),
        ({"created_after": "2026-01-01T00:00:00"}, "invalid_query"),
        ({"to": "+1 415 555"}, "number_too_short"),
    ],
    ids=["unknown status", "limit 0", "limit over 200", "not a date", "no zone", "bad number"],
)
def test_bad_filters_get_400_with_a_code(
    client: TestClient, params: dict[str, str], code: str
) -> None:
    response = client.get("/api/v1/messages", params=params)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_the_csv_export_has_a_header_a_row_per_message_and_no_text(client: TestClient) -> None:
    for n in range(3):
        create(client, text=f"secret {n}")
    response = client.get("/api/v1/messages.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:5] == ["id", "created_at", "to", "from", "status"]
    assert len(rows) == 4
    assert "secret" not in response.text


def test_other_methods_on_the_create_route_get_405_with_allow(client: TestClient) -> None:
    response = client.delete("/api/v1/messages")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


class TestIdempotencyKeys:
    def test_a_repeat_returns_the_first_answer_and_sends_once(
        self, client: TestClient, provider: RecordingProvider
    ) -> None:
        first = create(client, **{"Idempotency-Key": "order-1"})
        again = create(client, **{"Idempotency-Key": "order-1"})
        assert first == again
        assert len(provider.sent) == 1

    def test_the_key_works_on_the_seed_route_too(
        self, client: TestClient, provider: RecordingProvider
    ) -> None:
        body = {"to": TO, "text": "hi"}
        headers = {"Idempotency-Key": "seed-1"}
        first = client.post("/api/send-sms", json=body, headers=headers).json()
        again = client.post("/api/send-sms", json=body, headers=headers).json()
        assert first == again
        assert len(provider.sent) == 1

    def test_the_same_key_with_another_body_is_422(
        self, client: TestClient, provider: RecordingProvider
    ) -> None:
        create(client, text="one", **{"Idempotency-Key": "k"})
        reused = create(client, text="two", **{"Idempotency-Key": "k"})
        assert reused["_status"] == 422
        assert reused["code"] == "idempotency_key_reused"
        assert len(provider.sent) == 1

    def test_json_spacing_and_key_order_do_not_make_a_different_body(
        self, client: TestClient, provider: RecordingProvider
    ) -> None:
        headers = {"Idempotency-Key": "k2", "Content-Type": "application/json"}
        a = client.post(
            "/api/v1/messages", content=b'{"to":"+14155552671","text":"x"}', headers=headers
        )
        b = client.post(
            "/api/v1/messages", content=b'{ "text": "x",  "to": "+14155552671" }', headers=headers
        )
        assert a.json() == b.json()
        assert len(provider.sent) == 1

    def test_a_failed_answer_is_repeated_too(
        self, client: TestClient, provider: RecordingProvider
    ) -> None:
        """A refusal is an answer: repeating the request repeats it, and sends nothing."""
        provider.results.append(Rejected(status=400, error="no"))
        first = create(client, **{"Idempotency-Key": "k3"})
        again = create(client, **{"Idempotency-Key": "k3"})
        assert first == again
        assert first["_status"] == 400
        assert len(provider.sent) == 1

    @pytest.mark.parametrize(
        "refusal",
        [RateLimited(error="slow", retry_after=1), Transient(error="down", status=503)],
        ids=["429", "503"],
    )
    @pytest.mark.parametrize("route", ["/api/v1/messages", "/api/send-sms"])
    def test_a_retry_after_nothing_was_sent_sends_the_same_message(
        self, client: TestClient, provider: RecordingProvider, refusal: object, route: str
    ) -> None:
        """One key, one message: the retry sends the stored one, whose timeline has both."""
        provider.results.append(refusal)  # type: ignore[arg-type]
        headers = {"Idempotency-Key": f"retry-{route}"}
        body = {"to": TO, "text": "hi"}
        first = client.post(route, json=body, headers=headers)
        assert first.status_code in {429, 503}
        message_id = first.json()["id"]
        waiting = client.get(f"/api/v1/messages/{message_id}").json()
        assert waiting["status"] == "accepted"  # never "rejected": Plivo took nothing
        again = client.post(route, json=body, headers=headers)
        # The seed route answers 200, as the tutorial's did; v1 answers 201. Both name the id.
        assert again.status_code == (200 if route == "/api/send-sms" else 201)
        assert again.json()["id"] == message_id
        shown = client.get(f"/api/v1/messages/{message_id}").json()
        assert [e["status"] for e in shown["events"]] == [
            "accepted",
            "sending",
            "accepted",
            "sending",
            "queued",
        ]
        assert shown["attempts"] == 2
        assert shown["error"] is None
        listed = client.get("/api/v1/messages").json()["data"]
        assert [m["id"] for m in listed] == [message_id]
        assert len(provider.sent) == 2
        # And from then on the key repeats its answer, sending nothing.
        assert client.post(route, json=body, headers=headers).json() == again.json()
        assert len(provider.sent) == 2

    def test_without_a_key_a_send_plivo_never_took_has_failed(
        self, client: TestClient, provider: RecordingProvider
    ) -> None:
        provider.results.append(RateLimited(error="slow", retry_after=1))
        answer = create(client)
        assert answer["_status"] == 429
        message = client.get(f"/api/v1/messages/{answer['id']}").json()
        assert message["status"] == "failed"
        assert "nothing was sent" in message["error"]["reason"]

    def test_a_held_message_canceled_meanwhile_is_not_sent_by_the_retry(
        self, client: TestClient, provider: RecordingProvider
    ) -> None:
        provider.results.append(Transient(error="down", status=503))
        first = create(client, **{"Idempotency-Key": "held-cancel"})
        canceled = client.post(f"/api/v1/messages/{first['id']}/cancel")
        assert canceled.json()["status"] == "canceled"
        again = create(client, **{"Idempotency-Key": "held-cancel"})
        assert (again["_status"], again["code"], again["id"]) == (
            409,
            "message_not_pending",
            first["id"],
        )
        assert len(provider.sent) == 1

    def test_a_held_message_to_a_number_that_opted_out_meanwhile_is_not_sent(
        self, client: TestClient, provider: RecordingProvider
    ) -> None:
        """A STOP between the 429 and the retry: the retry's claim finds it, nothing is sent."""
        provider.results.append(RateLimited(error="slow", retry_after=1))
        first = create(client, **{"Idempotency-Key": "held-stop"})
        added = client.post("/api/v1/opt-outs", json={"number": TO})
        assert added.status_code in {200, 201}
        again = create(client, **{"Idempotency-Key": "held-stop"})
        assert (again["_status"], again["code"], again["id"]) == (
            409,
            "recipient_opted_out",
            first["id"],
        )
        assert client.get(f"/api/v1/messages/{first['id']}").json()["status"] == "rejected"
        assert len(provider.sent) == 1

    @pytest.mark.parametrize("key", ["", " ", "x" * 256, "tab\tkey"])
    def test_an_unusable_key_is_400(self, client: TestClient, key: str) -> None:
        answer = create(client, **{"Idempotency-Key": key})
        assert answer["_status"] == 400
        assert answer["code"] == "invalid_idempotency_key"

    def test_keys_expire_after_their_ttl(
        self, make_settings: SettingsFactory, provider: RecordingProvider
    ) -> None:
        app = create_app(make_settings(idempotency_ttl_hours=1e-6), provider=provider)
        with TestClient(app, base_url=LOCAL_BASE_URL) as client:
            create(client, **{"Idempotency-Key": "short"})
            create(client, **{"Idempotency-Key": "short"})
        assert len(provider.sent) == 2


def test_openapi_documents_the_create_route_and_the_idempotency_key(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    create = schema["paths"]["/api/v1/messages"]["post"]
    assert {"201", "400", "409", "422", "503"} <= set(create["responses"])
    assert [p["name"] for p in create["parameters"]] == ["Idempotency-Key"]
    assert "get" in schema["paths"]["/api/v1/messages"]
    assert {"409", "422"} <= set(schema["paths"]["/api/send-sms"]["post"]["responses"])


def test_a_created_message_matches_its_documented_schema(client: TestClient) -> None:
    """The 201 body and the documented MessageOut must not drift apart."""
    from smsgate.api.schemas import MessageOut

    created = create(client, text="hi")
    created.pop("_status")
    MessageOut.model_validate(created)
    assert set(created) == {f.alias or name for name, f in MessageOut.model_fields.items()}


@pytest.mark.parametrize(
    ("to", "text", "cost"),
    [
        (TO, "hi", "0.00350"),  # the shipped table: US at 0.0035 per segment
        (TO, "x" * 161, "0.00700"),  # two GSM-7 segments
        ("+16135550123", "hi", None),  # Canada: not in the shipped table
    ],
)
def test_a_message_is_stored_with_its_estimated_cost(
    client: TestClient, provider: RecordingProvider, to: str, text: str, cost: str | None
) -> None:
    provider.results.append(Accepted(message_uuids=("plivo-1",), api_id="a"))
    created = create(client, text=text, to=to)
    assert created["_status"] == 201, created
    assert created["estimated_cost"] == cost
    assert client.get(f"/api/v1/messages/{created['id']}").json()["estimated_cost"] == cost
    exported = list(csv.DictReader(io.StringIO(client.get("/api/v1/messages.csv").text)))
    assert exported[0]["estimated_cost"] == (cost or "")


def test_a_configured_price_table_is_used(
    make_settings: SettingsFactory, provider: RecordingProvider, tmp_path: Path
) -> None:
    table = tmp_path / "prices.json"
    table.write_text(
        '{"currency": "USD", "source": "test", "as_of": "2026-11-28", "rates": {"CA": "0.01"}}'
    )
    provider.results.append(Accepted(message_uuids=("plivo-1",), api_id="a"))
    app = create_app(make_settings(price_table=table), provider=provider)
    with TestClient(app, base_url=LOCAL_BASE_URL) as client:
        created = create(client, to="+16135550123")
    assert created["estimated_cost"] == "0.01000"


@pytest.mark.parametrize(
    ("to", "currency"),
    [(TO, "USD"), ("+16135550123", None)],  # the shipped table prices the US, not Canada
    ids=["priced", "unpriced"],
)
def test_the_message_and_its_csv_row_name_the_price_tables_currency(
    client: TestClient, provider: RecordingProvider, to: str, currency: str | None
) -> None:
    """Issue #13, item 17: money had no currency anywhere."""
    provider.results.append(Accepted(message_uuids=("plivo-1",), api_id="a"))
    created = create(client, to=to)
    assert created["_status"] == 201, created
    assert created["currency"] == currency
    assert client.get(f"/api/v1/messages/{created['id']}").json()["currency"] == currency
    (listed,) = client.get("/api/v1/messages").json()["data"]
    assert listed["currency"] == currency
    rows = list(csv.reader(io.StringIO(client.get("/api/v1/messages.csv").text)))
    assert rows[0][-1] == "currency"
    assert rows[0][12:15] == ["estimated_cost", "amount", "updated_at"]  # where they were
    assert rows[1][-1] == (currency or "")


def test_the_currency_is_the_configured_price_tables(
    make_settings: SettingsFactory, provider: RecordingProvider, tmp_path: Path
) -> None:
    table = tmp_path / "prices.json"
    table.write_text(
        '{"currency": "EUR", "source": "test", "as_of": "2026-11-28", '
        '"rates": {"US": "0.004", "CA": "0.005"}}'
    )
    provider.results.append(Accepted(message_uuids=("plivo-1",), api_id="a"))
    settings = make_settings(price_table=table, daily_spend_limit="5")
    app = create_app(settings, provider=provider)
    with TestClient(app, base_url=LOCAL_BASE_URL) as client:
        created = create(client)
        exported = list(csv.DictReader(io.StringIO(client.get("/api/v1/messages.csv").text)))
        checked = client.get("/api/v1/numbers/check", params={"number": TO}).json()
        dashboard = client.get("/dashboard").text
    assert (created["estimated_cost"], created["currency"]) == ("0.00400", "EUR")
    assert (exported[0]["estimated_cost"], exported[0]["currency"]) == ("0.00400", "EUR")
    assert (checked["price_per_segment"], checked["currency"]) == ("0.00400", "EUR")
    assert 'id="spend">0.00400 EUR of the daily limit, 5 EUR,' in dashboard


def test_openapi_documents_queued_requests_and_their_202(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    create = schema["paths"]["/api/v1/messages"]["post"]
    assert "202" in create["responses"]
    body = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/CreateMessagesIn")
    fields = schema["components"]["schemas"]["CreateMessagesIn"]["properties"]
    assert {"to", "text", "send_at", "mode", "validity", "callback_url", "from", "pool"} == set(
        fields
    )
    seed = schema["paths"]["/api/send-sms"]["post"]["requestBody"]
    assert seed["content"]["application/json"]["schema"]["$ref"].endswith("/SendSmsIn")


def test_a_queued_answer_matches_its_documented_schema(client: TestClient) -> None:
    from smsgate.api.schemas import BatchAcceptedOut

    answer = client.post(
        "/api/v1/messages", json={"to": [TO, "nope"], "text": "hi", "mode": "queued"}
    )
    assert answer.status_code == 202
    BatchAcceptedOut.model_validate(answer.json())
    assert set(answer.json()) == set(BatchAcceptedOut.model_fields)


def test_a_country_outside_the_allowlist_is_refused_403_and_nothing_is_stored(
    client: TestClient, provider: RecordingProvider
) -> None:
    refused = create(client, to="+442071838750")
    assert (refused["_status"], refused["code"]) == (403, "country_not_allowed")
    seed = client.post("/api/send-sms", json={"to": "+442071838750", "text": "hi"})
    assert (seed.status_code, seed.json()["code"]) == (403, "country_not_allowed")
    assert provider.sent == []
    assert client.get("/api/v1/messages").json()["data"] == []


def test_a_batch_reports_rows_outside_the_allowlist_and_queues_the_rest(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/messages", json={"to": [TO, "+442071838750"], "text": "hi", "mode": "queued"}
    ).json()
    assert answer["accepted"] == 1
    assert [(e["index"], e["code"]) for e in answer["errors"]] == [(1, "country_not_allowed")]


def test_every_country_can_be_allowed(
    make_settings: SettingsFactory, provider: RecordingProvider
) -> None:
    app = create_app(make_settings(allowed_countries=("*",)), provider=provider)
    with TestClient(app, base_url=LOCAL_BASE_URL) as client:
        assert create(client, to="+442071838750")["_status"] == 201


@pytest.mark.parametrize("route", ["/api/send-sms", "/api/v1/messages"])
def test_control_characters_in_the_text_are_refused_400(
    client: TestClient, provider: RecordingProvider, route: str
) -> None:
    answer = client.post(route, json={"to": TO, "text": "hi\x1b[2J"})
    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_characters")
    assert provider.sent == []
