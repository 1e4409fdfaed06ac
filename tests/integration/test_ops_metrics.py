"""The metrics that the alerts in docs/operations.md are written against: delivery reports
by status, and today's estimated spend beside its limit, over real HTTP with the sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from smsgate.api.app import create_app
from tests.conftest import SettingsFactory
from tests.support.servers import free_port, serve_in_thread

pytestmark = pytest.mark.integration


@pytest.fixture
def url(make_settings: SettingsFactory) -> Iterator[str]:
    port = free_port()
    settings = make_settings(port=port, daily_spend_limit="25")
    with serve_in_thread(create_app(settings), port=port) as served:
        yield served


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_delivery_reports_are_counted_by_status_and_spend_shown_beside_its_limit(
    url: str,
) -> None:
    costs = Decimal(0)
    for to in ("+14155552671", "+14155552672", "+15005550002"):  # the last: undelivered
        answer = httpx.post(f"{url}/api/v1/messages", json={"to": to, "text": "hi"}, timeout=10)
        assert answer.status_code == 201, answer.text
        costs += Decimal(answer.json()["estimated_cost"])

    def reports(status: str) -> float:
        return samples(url).get(("smsgate_status_reports_total", (("status", status),)), 0.0)

    deadline = time.monotonic() + 10
    while reports("delivered") < 2 or reports("undelivered") < 1:
        assert time.monotonic() < deadline, samples(url)
        time.sleep(0.1)
    found = samples(url)
    assert reports("sent") == 3
    assert reports("failed") == 0
    assert found[("smsgate_estimated_spend_today", ())] == pytest.approx(float(costs))
    assert costs > 0
    assert found[("smsgate_daily_spend_limit", ())] == 25.0
