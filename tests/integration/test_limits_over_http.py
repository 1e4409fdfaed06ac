"""Each abuse limit at its edge over real HTTP: N allowed, N+1 refused with its status, code
and Retry-After, and nothing stored for the refused request. Then two ``smsgate serve``
processes sharing the limits through Redis."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from smsgate.config import ProviderName, Settings
from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, EmulatorServer
from tests.cli.test_cli import environment, wait_until_up
from tests.conftest import ServeApp
from tests.support.redis import PrivateRedis, private_redis
from tests.support.servers import free_port

pytestmark = pytest.mark.integration
A, B, C = "+14155550101", "+14155550102", "+14155550103"
CANADA = "+16135550123"  # allowed by default, but the shipped price table has no rate for it


def send(url: str, to: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(
        f"{url}/api/send-sms", json={"to": to, "text": "hi"}, headers=headers, timeout=10
    )


def queue(url: str, to: list[str], key: str | None = None) -> httpx.Response:
    body = {"to": to, "text": "hi", "mode": "queued"}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{url}/api/v1/messages", json=body, headers=headers, timeout=10)


def stored(settings: Settings) -> list[str]:
    """The number of every stored message, read from the database file itself."""
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT to_number FROM messages")]


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["code"] == code
    return body


def test_the_request_rate_is_per_key_and_counts_every_api_request(
    serve: ServeApp, plivo_settings: Settings
) -> None:
    url = serve(rate_limit="3/minute", api_keys=(SecretStr("k1"), SecretStr("k2")))
    assert send(url, A, "k1").status_code == 200
    assert httpx.get(f"{url}/api/v1/messages", headers={"Authorization": "Bearer k1"}).is_success
    assert send(url, B, "k1").status_code == 200
    answer = send(url, C, "k1")
    refused(answer, 429, "rate_limit_exceeded")
    assert 1 <= int(answer.headers["Retry-After"]) <= 20
    assert sorted(stored(plivo_settings)) == [A, B]
    assert send(url, C, "k2").status_code == 200  # another key, another bucket
    # Health checks and the page are not API requests.
    assert all(httpx.get(f"{url}/healthz").is_success for _ in range(5))


def test_a_destination_gets_n_messages_per_window_then_429(
    serve: ServeApp, plivo_settings: Settings, emulator: EmulatorServer
) -> None:
    url = serve(destination_limit="2/hour")
    assert [send(url, A).status_code for _ in range(2)] == [200, 200]
    answer = send(url, A)
    body = refused(answer, 429, "destination_limit_exceeded")
    assert "+1415***0101" in body["error"]
    assert 3500 < int(answer.headers["Retry-After"]) <= 3600
    assert stored(plivo_settings) == [A, A]
    assert len([r for r in emulator.requests() if r.method == "POST"]) == 2
    # In a batch, the full number's row is refused; the others are queued.
    batch = queue(url, [A, B])
    assert batch.status_code == 202, batch.text
    document = batch.json()
    assert [m["to"] for m in document["messages"]] == [B]
    assert [(e["index"], e["code"]) for e in document["errors"]] == [
        (0, "destination_limit_exceeded")
    ]
    # A batch whose every row is refused stores nothing.
    refused(queue(url, [A]), 400, "no_valid_recipients")
    assert sorted(stored(plivo_settings)) == [A, A, B]


def test_a_key_gets_n_messages_a_day_and_a_restart_remembers_them(
    serve: ServeApp, plivo_settings: Settings
) -> None:
    keys = (SecretStr("k1"), SecretStr("k2"))
    url = serve(daily_message_limit=3, api_keys=keys)
    assert queue(url, [A, B], "k1").status_code == 202
    answer = queue(url, [C, "+14155550104"], "k1")
    refused(answer, 429, "daily_limit_exceeded")
    assert 0 < int(answer.headers["Retry-After"]) <= 86400
    assert sorted(stored(plivo_settings)) == [A, B]  # nothing of the refused batch
    assert send(url, C, "k1").status_code == 200  # the third fits
    refused(send(url, "+14155550104", "k1"), 429, "daily_limit_exceeded")
    assert send(url, "+14155550104", "k2").status_code == 200  # another key's day
    # A new server on the same database starts the day from what is stored.
    again = serve(daily_message_limit=4, api_keys=keys)
    assert send(again, "+14155550105", "k1").status_code == 200
    refused(send(again, "+14155550106", "k1"), 429, "daily_limit_exceeded")


def test_without_keys_only_the_destination_and_spend_limits_apply(
    serve: ServeApp, plivo_settings: Settings
) -> None:
    """An open smsgate answers only this machine: no key can leak, so no per-key limits."""
    url = serve(rate_limit="2/minute", daily_message_limit=2, destination_limit="3/hour")
    assert [send(url, n).status_code for n in (A, A, A, B, C)] == [200] * 5
    refused(send(url, A), 429, "destination_limit_exceeded")


def test_the_daily_spend_limit_refuses_with_402_and_unpriced_countries_too(
    serve: ServeApp, plivo_settings: Settings
) -> None:
    # The shipped price table: US at 0.00350 a segment. Two fit in 0.008, a third does not.
    url = serve(daily_spend_limit=Decimal("0.008"))
    assert [send(url, n).status_code for n in (A, B)] == [200, 200]
    answer = send(url, C)
    body = refused(answer, 402, "spend_limit_reached")
    assert "SMSGATE_DAILY_SPEND_LIMIT" in body["error"]
    body = refused(send(url, CANADA), 402, "price_unknown")
    assert "CA" in body["error"]
    assert sorted(stored(plivo_settings)) == [A, B]


def test_a_refused_request_does_not_use_up_its_idempotency_key(serve: ServeApp) -> None:
    url = serve(destination_limit="1/hour")
    assert send(url, A).status_code == 200
    headers = {"Idempotency-Key": "order-1"}
    body = {"to": A, "text": "hi"}
    first = httpx.post(f"{url}/api/send-sms", json=body, headers=headers, timeout=10)
    refused(first, 429, "destination_limit_exceeded")
    # Not kept for the key: the same request later is tried again (and refused again, now).
    second = httpx.post(f"{url}/api/send-sms", json=body, headers=headers, timeout=10)
    refused(second, 429, "destination_limit_exceeded")


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


def test_two_processes_share_every_limit_through_redis(
    tmp_path: Path, redis_server: PrivateRedis, emulator: EmulatorServer
) -> None:
    env = environment(
        # Through Plivo (the emulator): sandboxed sends count against no window or spend.
        PLIVO_AUTH_ID=DEFAULT_AUTH_ID,
        PLIVO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        PLIVO_SENDER_ID="+14155550100",
        PLIVO_API_URL=emulator.base_url,
        SMSGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'smsgate.db'}",
        SMSGATE_REDIS_URL=redis_server.url,
        SMSGATE_API_KEYS="k1,k2",
        SMSGATE_RATE_LIMIT="6/minute",
        SMSGATE_DESTINATION_LIMIT="2/hour",
        SMSGATE_DAILY_MESSAGE_LIMIT="4",
        SMSGATE_DAILY_SPEND_LIMIT="0.016",  # four US messages at 0.0035 fit, a fifth does not
        SMSGATE_ALLOWED_COUNTRIES="US",  # priced, as serve requires with a spend limit
        SMSGATE_LOG_LEVEL="warning",
    )
    servers = []
    try:
        for _ in range(2):
            port = free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "smsgate", "serve", "--port", str(port)],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            servers.append((process, f"http://127.0.0.1:{port}"))
            wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
        one, two = servers[0][1], servers[1][1]
        # The destination window: two to A in all, whichever process takes them.
        assert send(one, A, "k1").status_code == 200
        assert send(two, A, "k1").status_code == 200
        refused(send(one, A, "k1"), 429, "destination_limit_exceeded")
        # The day: four messages in all for the key.
        assert send(two, B, "k1").status_code == 200
        assert send(one, C, "k1").status_code == 200
        refused(send(two, "+14155550104", "k1"), 429, "daily_limit_exceeded")
        # The request bucket: six requests in all (all made above), then refused anywhere.
        listing = httpx.get(f"{two}/api/v1/messages", headers={"Authorization": "Bearer k1"})
        refused(listing, 429, "rate_limit_exceeded")
        refused(send(one, "+14155550105", "k1"), 429, "rate_limit_exceeded")
        # The spend, for the whole service: k1 spent 0.014; k2's first message passes 0.016.
        refused(send(two, "+14155550106", "k2"), 402, "spend_limit_reached")
        refused(send(one, "+14155550106", "k2"), 402, "spend_limit_reached")
    finally:
        for process, _ in servers:
            process.terminate()
            process.communicate(timeout=15)


def test_sends_that_cannot_leave_the_machine_never_count_against_destination_or_spend(
    serve: ServeApp, plivo_settings: Settings
) -> None:
    """The README's own curl, six times within the hour on the sandbox: nothing reaches a
    phone or costs, so neither the destination window nor the spend refuses it."""
    url = serve(
        provider=ProviderName.SANDBOX,
        destination_limit="2/hour",
        daily_spend_limit=Decimal("0.001"),
    )
    assert [send(url, "+14155552671").status_code for _ in range(6)] == [200] * 6
    batch = queue(url, ["+14155552671", A])
    assert batch.status_code == 202, batch.text
    assert batch.json()["errors"] == []
    assert sorted(stored(plivo_settings)) == sorted(["+14155552671"] * 7 + [A])


def test_live_sends_still_count_after_sandboxed_ones(
    serve: ServeApp, plivo_settings: Settings
) -> None:
    """A test key's sends (the sandbox) leave the live window and spend untouched."""
    keys = (SecretStr("sg_test_k1"), SecretStr("sg_live_k2"))
    url = serve(destination_limit="2/hour", api_keys=keys)
    assert [send(url, A, "sg_test_k1").status_code for _ in range(3)] == [200] * 3
    assert [send(url, A, "sg_live_k2").status_code for _ in range(2)] == [200, 200]
    refused(send(url, A, "sg_live_k2"), 429, "destination_limit_exceeded")
