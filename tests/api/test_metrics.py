"""GET /metrics: Prometheus text with the counters, the latency histogram and the gauges."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from smsgate.api.app import create_app
from smsgate.providers.base import Accepted, Rejected
from tests.conftest import SettingsFactory
from tests.support.fakes import RecordingProvider
from tests.support.servers import LOCAL_BASE_URL


@pytest.fixture
def client(make_settings: SettingsFactory) -> Iterator[TestClient]:
    provider = RecordingProvider(
        Accepted(message_uuids=("u1",), api_id="a"), Rejected(status=400, error="bad dst")
    )
    with TestClient(create_app(make_settings(), provider=provider), base_url=LOCAL_BASE_URL) as c:
        yield c


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_sends_show_in_the_latency_histogram_errors_and_status_gauges(client: TestClient) -> None:
    client.post("/api/send-sms", json={"to": "+14155552671", "text": "one"})
    client.post("/api/send-sms", json={"to": "+14155552672", "text": "two"})
    found = samples(client)
    assert found[("smsgate_provider_call_seconds_count", (("outcome", "accepted"),))] == 1
    assert found[("smsgate_provider_call_seconds_count", (("outcome", "rejected"),))] == 1
    assert found[("smsgate_provider_errors_total", (("outcome", "rejected"),))] == 1
    assert found[("smsgate_messages", (("status", "queued"),))] == 1
    assert found[("smsgate_messages", (("status", "rejected"),))] == 1
    assert found[("smsgate_messages", (("status", "delivered"),))] == 0
    assert found[("smsgate_queue_due_messages", ())] == 0
    assert found[("smsgate_queue_oldest_due_age_seconds", ())] == 0


def test_metrics_hold_no_number_or_text(client: TestClient) -> None:
    client.post("/api/send-sms", json={"to": "+14155552671", "text": "your code is zebra"})
    text = client.get("/metrics").text
    assert "4155552671" not in text  # (digits that a float's sum could hold are avoided)
    assert "zebra" not in text


def test_the_price_tables_currency_is_a_label_of_an_info_gauge(client: TestClient) -> None:
    """The spend gauges are in the price table's currency; this says which (#13, item 17)."""
    assert samples(client)[("smsgate_price_table_info", (("currency", "USD"),))] == 1
