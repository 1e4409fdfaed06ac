"""Queued sending end to end: a 10,000-recipient batch, from the 202 to every row handed over.

The Plivo emulator answers each send after 50 ms and shares core 1 with nothing else; pacing
is off. Two engines are measured on the same batch:

- two `smsgate worker` processes (8 threads each, up to 50 messages per broker message) on
  a Redis broker, against PostgreSQL, with `smsgate serve` (pinned to core 0) only storing
  and announcing;
- the in-process dispatcher of one `smsgate serve` (pinned to core 0, 128 at a time), on
  SQLite and on PostgreSQL.

"Handed over" means the row left `accepted` and `sending`: the emulator took it. The clock
starts when the POST is sent, so it includes validating and storing the batch. Worker memory
is each worker's peak RSS (VmHWM) at the end.

Usage: python scripts/bench_queue.py [--write docs/benchmarks.md] [--recipients 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import redis

sys.path.insert(0, str(Path(__file__).parent))
from bench import (
    database_url,
    emulator_messages,
    free_port,
    machine,
    running,
    smsgate_on_core,
    wait_for,
    write,
)

from smsgate.db.engine import is_sqlite
from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN

TARGET_PER_S = 1000  # issue #4: two workers on a 2-core machine
BROKER_DB = 14  # a Redis database of its own, emptied before each run


@dataclass
class Result:
    engine: str
    database: str
    recipients: int
    accept_s: float  # until the 202 came back
    total_s: float  # until every row was handed over
    sent: int
    worker_rss_mb: list[float]

    @property
    def per_second(self) -> float:
        return self.recipients / self.total_s


def post_batch(base: str, recipients: int) -> tuple[float, float]:
    numbers = [f"+1415{5551000 + n:07d}" for n in range(recipients)]
    body = json.dumps({"to": numbers, "text": "Your order shipped"}).encode()
    request = urllib.request.Request(  # noqa: S310 (loopback URL we built)
        f"{base}/api/v1/messages", body, {"Content-Type": "application/json"}
    )
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
        assert answer.status == 202, answer.status
        document = json.load(answer)
    assert document["accepted"] == recipients, document["refused"]
    return started, time.monotonic() - started


def count_waiting(url: str) -> int:
    """Messages not handed over yet (accepted or sending), straight from the database."""
    query = "SELECT count(*) FROM messages WHERE status IN ('accepted', 'sending')"
    if is_sqlite(url):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            (waiting,) = connection.execute(query).fetchone()
            return int(waiting)

    async def ask() -> int:
        connection = await asyncpg.connect(url)
        try:
            return int(await connection.fetchval(query))
        finally:
            await connection.close()

    return asyncio.run(ask())


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(
    engine: str, database: str, recipients: int, env: dict[str, str], tmp: str, emulator: str
) -> Result:
    with ExitStack() as stack:
        url = stack.enter_context(database_url(database, Path(tmp, f"{engine}.db"), POSTGRES))
        port = free_port()
        server_env = {**env, "SMSGATE_DATABASE_URL": url}
        workers: list[int] = []
        if engine == "workers":
            broker = f"redis://127.0.0.1:6379/{BROKER_DB}"
            redis.Redis.from_url(broker).flushdb()
            server_env["SMSGATE_BROKER_URL"] = broker
        else:
            server_env["SMSGATE_DISPATCH_CONCURRENCY"] = "128"
        server = smsgate_on_core(0, "serve", "--port", str(port))
        stack.enter_context(running(server, server_env, tmp, Path(tmp, f"serve-{engine}.log")))
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz")
        if engine == "workers":
            for n in range(2):
                command = [sys.executable, "-m", "smsgate", "worker", "--threads", "8"]
                log = Path(tmp, f"worker-{n}.log")
                workers.append(stack.enter_context(running(command, server_env, tmp, log)))
            time.sleep(3)  # the workers connect and start consuming
        before = emulator_messages(emulator)
        started, accept_s = post_batch(base, recipients)
        while count_waiting(url) > 0:
            time.sleep(0.05)
        total_s = time.monotonic() - started
        rss = [peak_rss_mb(pid) for pid in workers]
        sent = emulator_messages(emulator) - before
    return Result(engine, database, recipients, accept_s, total_s, sent, rss)


def report(results: list[Result], description: str) -> str:
    rows = "\n".join(
        f"| {r.engine} | {r.database} | {r.recipients:,} | {r.accept_s:.2f} | {r.total_s:.1f} "
        f"| {r.per_second:,.0f} | {r.sent:,} | "
        f"{', '.join(f'{mb:.0f}' for mb in r.worker_rss_mb) or 'n/a'} |"
        for r in results
    )
    workers = next(r for r in results if r.engine == "workers")
    verdict = "met" if workers.per_second >= TARGET_PER_S else "MISSED"
    header = (
        "| Engine | Database | Recipients | 202 after s | all handed over after s | messages/s "
        "| sent by the emulator | worker peak RSS MiB |\n|---|---|---|---|---|---|---|---|"
    )
    return f"""{header}
{rows}

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {description}.

Target (#4): {verdict}: at least {TARGET_PER_S:,} messages/s end to end with two workers
(measured {workers.per_second:,.0f}).
"""


POSTGRES = os.environ.get("SMSGATE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="update the queue block in this file")
    parser.add_argument("--recipients", type=int, default=10_000)
    args = parser.parse_args()
    emulator_url = f"http://127.0.0.1:{free_port()}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PLIVO_", "SMSGATE_"))},
        "PLIVO_AUTH_ID": DEFAULT_AUTH_ID,
        "PLIVO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "PLIVO_SENDER_ID": "+14155550199",
        "PLIVO_API_URL": emulator_url,
        "SMSGATE_SENDER_MPS": "0",
        # Measured without the abuse limits (scripts/bench.py measures what they cost).
        "SMSGATE_RATE_LIMIT": "off",
        "SMSGATE_DESTINATION_LIMIT": "off",
        "SMSGATE_DAILY_MESSAGE_LIMIT": "off",
        "SMSGATE_LOG_LEVEL": "warning",
    }
    emulator = smsgate_on_core(
        1, "emulator", "--port", emulator_url.rsplit(":", 1)[1], "--latency-ms", "50"
    )
    results = []
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        stack.enter_context(running(emulator, env, tmp, Path(tmp, "emulator.log")))
        wait_for(f"{emulator_url}/_emulator/stats")
        for engine, database in (
            ("workers", "PostgreSQL"),
            ("in-process", "SQLite"),
            ("in-process", "PostgreSQL"),
        ):
            print(f"bench: {engine} on {database}", file=sys.stderr)
            results.append(run(engine, database, args.recipients, env, tmp, emulator_url))
    table = report(results, machine())
    print(table)
    if args.write:
        write(args.write, table, block="bench-queue")


if __name__ == "__main__":
    main()
