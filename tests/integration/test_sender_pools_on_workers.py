"""A pool of senders on two workers: Redis paces each number at its own rate, across both.

What issue #15 asks of a pool: three numbers at one message a second hand over 300 queued
messages in about 100 s, each number within its rate in every second, as the emulator saw
them arrive; a recipient keeps its number across a restart of the workers; and a 429 for one
number slows only that number.
"""

from __future__ import annotations

import signal
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from smsgate.emulator import EmulatorServer, RequestRecord
from tests.conftest import SettingsFactory
from tests.integration.test_workers import (
    Cluster,
    numbers,
    running_cluster,
    settled,
    wait_for,
)
from tests.support.databases import fresh_postgres_database
from tests.support.redis import private_redis

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

POOL = ("+14155550100", "+14155550101", "+14155550102")


@pytest.fixture
def cluster(
    emulator: EmulatorServer, make_settings: SettingsFactory, tmp_path: Path
) -> Iterator[Cluster]:
    from smsgate.db.migrate import upgrade

    with private_redis() as redis, fresh_postgres_database() as database:
        upgrade(database)
        with running_cluster(redis.url, database, emulator, make_settings, tmp_path) as ready:
            ready.env["SMSGATE_LOG_LEVEL"] = "info"  # for the workers' worker_started lines
            yield ready


def register(cluster: Cluster, address: str, mps: float) -> None:
    response = httpx.post(
        f"{cluster.url}/api/v1/senders", json={"address": address, "mps": mps}, timeout=10
    )
    assert response.status_code == 201, response.text


def arrivals(emulator: EmulatorServer) -> dict[str, list[tuple[float, str]]]:
    """The sends the emulator took, by sender: (arrival time, number), in order."""
    by_sender: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for request in accepted(emulator):
        assert isinstance(request.body, dict)
        by_sender[str(request.body["src"])].append((request.time, str(request.body["dst"])))
    return by_sender


def busiest(times: list[float], window: float) -> int:
    """The most of ``times`` (sorted) that fall in any ``window`` seconds."""
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def accepted(emulator: EmulatorServer) -> list[RequestRecord]:
    return [r for r in emulator.requests() if r.method == "POST" and r.status == 202]


def restart_workers(cluster: Cluster) -> None:
    for worker in cluster.workers:
        worker.send_signal(signal.SIGTERM)
    for worker in cluster.workers:
        worker.wait(timeout=30)
    cluster.workers.clear()
    for index in range(2):
        cluster.start_worker()
        cluster.wait_until_consuming(index)


def test_three_numbers_at_one_a_second_hand_over_300_messages_in_100_s(
    cluster: Cluster, emulator: EmulatorServer
) -> None:
    for address in POOL:
        register(cluster, address, mps=1)
    cluster.start_worker()
    cluster.start_worker()
    cluster.wait_until_consuming(0)
    cluster.wait_until_consuming(1)
    recipients = numbers(300)
    batch_id = cluster.batch(recipients)
    wait_for(lambda: settled(cluster, batch_id), 180, "the batch to be handed over")

    by_sender = arrivals(emulator)
    assert set(by_sender) == set(POOL)
    assert sum(len(sends) for sends in by_sender.values()) == 300
    times = sorted(time for sends in by_sender.values() for time, _ in sends)
    # 100 slots a number, the first at once: the last 99 s after the first, within 10 %.
    assert 89 <= times[-1] - times[0] <= 110, times[-1] - times[0]
    for sender, sends in by_sender.items():
        assert 90 <= len(sends) <= 110, (sender, len(sends))
        arrived = [time for time, _ in sends]
        # Within its rate in every window: at most one a second, plus one for the jitter
        # between a slot and its arrival (a connection being opened, a busy machine).
        for window in (1.0, 5.0, 20.0):
            assert busiest(arrived, window) <= window + 1, (sender, window)

    # The workers restart; a recipient texted again keeps the number it had.
    first_sender = {dst: src for src, sends in by_sender.items() for _, dst in sends}
    restart_workers(cluster)
    emulator.call(emulator.state.clear_requests)
    again = recipients[:6]
    second = cluster.batch(again)
    wait_for(lambda: settled(cluster, second), 60, "the second batch to be handed over")
    resent = {dst: src for src, sends in arrivals(emulator).items() for _, dst in sends}
    assert resent == {dst: first_sender[dst] for dst in again}


def test_a_429_for_one_number_slows_only_that_number(
    cluster: Cluster, emulator: EmulatorServer
) -> None:
    slowed, steady = POOL[0], POOL[1]
    register(cluster, slowed, mps=2)
    register(cluster, steady, mps=2)
    # Plivo rate-limits the first send from one number: hold it back for 5 s.
    emulator.set_faults(status=429, retry_after=5, times=1, src=slowed)
    cluster.start_worker()
    cluster.start_worker()
    cluster.wait_until_consuming(0)
    cluster.wait_until_consuming(1)
    batch_id = cluster.batch(numbers(40))
    wait_for(lambda: settled(cluster, batch_id), 90, "the batch to be handed over")

    refused = [
        r
        for r in emulator.requests()
        if r.method == "POST" and r.status == 429 and isinstance(r.body, dict)
    ]
    assert len(refused) == 1
    assert isinstance(refused[0].body, dict)
    assert refused[0].body["src"] == slowed
    held_from, held_until = refused[0].time, refused[0].time + 5
    by_sender = arrivals(emulator)
    # Nothing left the slowed number while it was held back...
    assert [t for t, _ in by_sender[slowed] if held_from < t < held_until - 0.1] == []
    # ...while the other kept its own pace, two a second, all along.
    during = [t for t, _ in by_sender[steady] if held_from < t < held_until]
    assert len(during) >= 8, len(during)
    assert sum(len(sends) for sends in by_sender.values()) == 40
    counts = cluster.counts(batch_id)
    assert set(counts) <= {"queued", "sent", "delivered"}, counts
