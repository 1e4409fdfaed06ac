"""GET /readyz checks what sending needs: the configuration, the database and the broker.

The database and the broker are real servers the tests stop and start again: a private
PostgreSQL, a private Redis. Each check has two seconds; 503 names what is down.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pika.exceptions
import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from smsgate.api.app import create_app
from smsgate.db.migrate import upgrade
from smsgate.engines.dramatiq import BrokerProbe
from tests.conftest import SettingsFactory
from tests.integration.test_workers import RABBITMQ, require_rabbitmq
from tests.support.fakes import RecordingProvider
from tests.support.private_postgres import private_postgres
from tests.support.redis import private_redis
from tests.support.servers import LOCAL_BASE_URL, free_port

pytestmark = pytest.mark.integration


def readiness(client: TestClient) -> tuple[int, dict[str, object]]:
    response = client.get("/readyz")
    body: dict[str, object] = response.json()
    return response.status_code, body


@pytest.fixture
def silent_socket() -> Iterator[int]:
    """A port that takes connections and never says a word: a server that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_ready_when_the_configuration_and_the_database_are(make_settings: SettingsFactory) -> None:
    with TestClient(
        create_app(make_settings(), provider=RecordingProvider()), base_url=LOCAL_BASE_URL
    ) as client:
        assert readiness(client) == (
            200,
            {
                "ready": True,
                "provider": "sandbox",
                "problem": None,
                "database": "ok",
                "broker": None,
                "down": [],
            },
        )


def test_a_database_that_goes_down_makes_it_unready_until_it_is_back(
    make_settings: SettingsFactory,
) -> None:
    with private_postgres() as postgres:
        upgrade(postgres.url)
        settings = make_settings(database_url=postgres.url)
        with TestClient(
            create_app(settings, provider=RecordingProvider()), base_url=LOCAL_BASE_URL
        ) as client:
            assert readiness(client)[0] == 200
            postgres.stop()
            started = time.monotonic()
            with capture_logs() as logs:
                status, body = readiness(client)
            assert time.monotonic() - started < 2.5
            assert status == 503
            assert (body["ready"], body["database"], body["down"]) == (False, "down", ["database"])
            problem = str(body["problem"])
            assert problem.startswith("the database is unreachable (")
            assert "postgres@" not in problem
            assert [e["down"] for e in logs if e["event"] == "not_ready"] == [["database"]]
            postgres.start()
            assert readiness(client)[0] == 200


def test_a_broker_that_goes_down_makes_it_unready_until_it_is_back(
    make_settings: SettingsFactory,
) -> None:
    with private_redis() as redis_server:
        settings = make_settings(broker_url=redis_server.url)
        with TestClient(
            create_app(settings, provider=RecordingProvider()), base_url=LOCAL_BASE_URL
        ) as client:
            status, body = readiness(client)
            assert (status, body["broker"], body["down"]) == (200, "ok", [])
            redis_server.stop()
            status, body = readiness(client)
            assert status == 503
            assert (body["database"], body["broker"], body["down"]) == ("ok", "down", ["broker"])
            assert str(body["problem"]).startswith("the broker is unreachable (")
            redis_server.start()
            assert readiness(client)[0] == 200


def test_a_broker_that_never_answers_is_down_after_two_seconds(
    make_settings: SettingsFactory, silent_socket: int
) -> None:
    settings = make_settings(broker_url=f"redis://127.0.0.1:{silent_socket}/0")
    with TestClient(
        create_app(settings, provider=RecordingProvider()), base_url=LOCAL_BASE_URL
    ) as client:
        started = time.monotonic()
        status, body = readiness(client)
        assert 1.9 < time.monotonic() - started < 3.5
    assert status == 503
    assert body["problem"] == "the broker did not answer within 2 s"


def test_everything_down_is_named_together(make_settings: SettingsFactory) -> None:
    """A Plivo configuration without its sender, and a broker nobody listens on."""
    settings = make_settings(
        plivo_auth_id="MA" + "A" * 18,
        plivo_auth_token="token-123456",
        broker_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    with TestClient(
        create_app(settings, provider=RecordingProvider()), base_url=LOCAL_BASE_URL
    ) as client:
        status, body = readiness(client)
    assert status == 503
    assert body["down"] == ["configuration", "broker"]
    problem = str(body["problem"])
    assert problem.startswith("PLIVO_SENDER_ID is not set")
    assert "; the broker is unreachable (" in problem


def test_an_amqp_broker_is_checked_by_connecting() -> None:
    require_rabbitmq()

    async def probe(url: str) -> None:
        checker = BrokerProbe(url)
        try:
            await checker.ping(2.0)
        finally:
            await checker.aclose()

    asyncio.run(probe(RABBITMQ))
    # Refused at once, not timed out.
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        asyncio.run(probe(f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"))
