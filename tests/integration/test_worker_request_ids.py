"""A queued message's hand-off, in a real `smsgate worker` process, is logged with the id of
the API request that queued it: the id travels in the Dramatiq message, and goes on with a
retry the worker announces itself."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from smsgate.emulator import EmulatorServer
from tests.conftest import SettingsFactory
from tests.integration.test_workers import (
    database,  # noqa: F401 (a fixture)
    redis_server,  # noqa: F401 (a fixture)
    running_cluster,
    settled,
    wait_for,
)
from tests.support.redis import PrivateRedis

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_a_workers_log_lines_for_a_hand_off_carry_the_request_id_that_queued_it(
    database: str,  # noqa: F811
    redis_server: PrivateRedis,  # noqa: F811
    emulator: EmulatorServer,
    make_settings: SettingsFactory,
    tmp_path: Path,
) -> None:
    # The first hand-off is rate-limited for longer than a send's deadline (nothing sent):
    # its retry is announced by the worker, and must carry the id as well.
    emulator.set_faults(status=429, retry_after=3, times=1)
    queued: dict[str, str] = {}  # message id -> the request id that queued it
    with running_cluster(redis_server.url, database, emulator, make_settings, tmp_path) as cluster:
        cluster.env["SMSGATE_LOG_LEVEL"] = "info"
        cluster.start_worker()
        batches = []
        for request_id, numbers in [
            ("ops-req-1", ["+14155550101", "+14155550102"]),
            ("ops-req-2", ["+14155550103"]),
        ]:
            answer = httpx.post(
                f"{cluster.url}/api/v1/messages",
                json={"to": numbers, "text": "Your order shipped"},
                headers={"X-Request-ID": request_id},
                timeout=10,
            )
            assert answer.status_code == 202, answer.text
            assert answer.headers["X-Request-ID"] == request_id
            batches.append(answer.json()["batch_id"])
            queued.update({m["id"]: request_id for m in answer.json()["messages"]})
        wait_for(
            lambda: all(settled(cluster, batch_id) for batch_id in batches),
            15,
            "the batches to be handed over",
        )
    written = [line for line in (tmp_path / "worker-0.log").read_text().splitlines() if line]
    # All of it JSON, Dramatiq's and Alembic's lines too (issue #13, item 7).
    assert [line for line in written if not line.startswith("{")] == []
    lines = [json.loads(line) for line in written]
    calls = [line for line in lines if line["event"] == "provider_call"]
    assert len(calls) == 4  # three messages, one of them twice
    assert sorted(call["outcome"] for call in calls) == ["accepted"] * 3 + ["rate_limited"]
    for call in calls:
        assert call["request_id"] == queued[call["message_id"]], call
    # Lines of the worker's own (not of a request's work) carry none.
    started = next(line for line in lines if line["event"] == "worker_started")
    assert "request_id" not in started
