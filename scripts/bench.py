"""Load-test POST /api/send-sms against the Plivo emulator and write docs/benchmarks.md.

The server runs alone on core 0; the emulator (50 ms of latency per send, like a real Plivo round
trip) and wrk share core 1. After a warm-up, wrk drives the route for 15 s at 256 connections
(capacity) and for 15 s at 64 connections (latency). Server CPU time comes from /proc, so "CPU ms
per request" is what the server itself spent, whatever the load generator cost.

Usage: python scripts/bench.py [--write docs/benchmarks.md] [--duration 15]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN

TUTORIAL_RPS = 1130  # the tutorial's Next.js route at 256 connections (it stores nothing)
FOUNDATION_RPS = 2 * TUTORIAL_RPS  # issue #2, for the route before messages were stored
FOUNDATION_P50_MS = 60.0
FOUNDATION_P99_MS = 100.0
STORED_RPS = int(1.5 * TUTORIAL_RPS)  # issue #3, for the stored path
STORED_P99_MS = 150.0
# Issue #14: the stored send against the yardstick in the same run.
SPEED_SHARE_SEED = 0.85  # the keyed seed route's req/s at 256 connections
SPEED_SHARE_MESSAGES = 0.75  # POST /api/v1/messages, SQLite and PostgreSQL
SPEED_P50_SLACK_MS = 10.0  # the seed route's p50 at 64 connections, over the yardstick's
SPEED_P99_SLACK_MS = 30.0
SPEED_RSS_MB = 100
BARE_REFERENCE_RPS = 2970  # the bare ASGI app on the reference machine, 256 connections
BARE_REFERENCE_CPU_MS = 0.3  # and its CPU a request there
BARE = "bare ASGI app"
SEED = "/api/send-sms"
MESSAGES = "/api/v1/messages"
# The seed route as a production setup runs it: a stored API key looked up on every request,
# the request bucket, a destination window and the daily spend counted (numbers vary, and
# the limits are set high enough never to refuse: this measures their cost).
KEYED = "/api/send-sms, stored key + limits"
# The seed route with a pool of three senders registered (issue #15), fast enough that pacing
# never waits: what choosing a sender (local, sticky, least busy) adds to a send.
POOLED = "/api/send-sms, a pool of 3 senders"
POOL = ("+14155550100", "+14155550101", "+14155550102")
# At most this much CPU a request over the seed route's, on the reference machine: scaled by
# the yardstick's CPU a request in the same run, as machines of one kind differ by 2x.
CHOOSING_MS = 0.05
LIMITS_ON = {
    "SMSGATE_RATE_LIMIT": "100000000/minute",
    "SMSGATE_DESTINATION_LIMIT": "5/hour",
    "SMSGATE_DAILY_MESSAGE_LIMIT": "off",
    "SMSGATE_DAILY_SPEND_LIMIT": "1000000",
    "SMSGATE_ALLOWED_COUNTRIES": "US",  # a spend limit needs a price for every allowed country
}
# The other scenarios measure the routes themselves: one number, sent again and again.
LIMITS_OFF = {
    "SMSGATE_RATE_LIMIT": "off",
    "SMSGATE_DESTINATION_LIMIT": "off",
    "SMSGATE_DAILY_MESSAGE_LIMIT": "off",
}
DEFAULT_CAP = 100

WRK_DONE = """

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %f, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""
WRK_SCRIPT = (
    """
wrk.method = "POST"
wrk.body   = '{"to": "+14155552671", "text": "Your smsgate code is 123456"}'
wrk.headers["Content-Type"] = "application/json"
"""
    + WRK_DONE
)
# A different valid US number on each request, with a bearer key (KEY is replaced).
WRK_KEYED_SCRIPT = (
    """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer KEY"
request = function()
  local to = string.format("+1415%d%04d", math.random(200, 999), math.random(0, 9999))
  return wrk.format(nil, nil, nil,
    '{"to": "' .. to .. '", "text": "Your smsgate code is 123456"}')
end
"""
    + WRK_DONE
)


@dataclass
class Run:
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_request: float
    recorded: int
    peak_rss_mb: float = 0.0  # the server's resident memory at its highest so far
    plivo_connections: int = 0
    route: str = "/api/send-sms"
    database: str = "SQLite"

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback URL we built)
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"bench: {url} did not come up")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def emulator_messages(base: str) -> int:
    with urllib.request.urlopen(f"{base}/_emulator/stats", timeout=5) as answer:  # noqa: S310
        stats: dict[str, int] = json.load(answer)
    return stats["messages"]


def wrk(url: str, connections: int, seconds: int, script: Path) -> dict[str, float]:
    command = [
        "taskset",
        "-c",
        "1",
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    return result


def measure(
    url: str, connections: int, seconds: int, script: Path, server_pid: int, emulator: str
) -> Run:
    cpu_before, recorded_before = cpu_seconds(server_pid), emulator_messages(emulator)
    result = wrk(url, connections, seconds, script)
    cpu = cpu_seconds(server_pid) - cpu_before
    errors = sum(int(result[k]) for k in ("connect", "read", "write", "status", "timeout"))
    requests = int(result["requests"])
    return Run(
        connections=connections,
        requests=requests,
        seconds=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        errors=errors,
        cpu_ms_per_request=cpu * 1000 / max(requests, 1),
        recorded=emulator_messages(emulator) - recorded_before,
        peak_rss_mb=peak_rss_mb(server_pid),
    )


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{os.cpu_count()} cores ({model}), {memory_kb / 1024 / 1024:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"uvicorn {version('uvicorn')} (uvloop {version('uvloop')}, httptools "
        f"{version('httptools')}), FastAPI {version('fastapi')}, aiohttp {version('aiohttp')}"
    )


def report(runs: list[Run], description: str) -> str:
    rows = "\n".join(
        f"| {r.route if r.route in (BARE, KEYED) else f'`{r.route}`'} | {r.database} | "
        f"{r.connections} | {r.plivo_connections} | "
        f"{r.rps:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors} | "
        f"{r.cpu_ms_per_request:.3f} | {r.peak_rss_mb:.0f} | {r.recorded:,} / {r.requests:,} |"
        for r in runs
    )
    header = (
        "| Route | Database | Connections | Plivo connections | req/s | p50 ms | p99 ms "
        "| errors | server CPU ms/request | server peak RSS MiB "
        "| recorded by the emulator / requests |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )

    bare_256 = next(r for r in runs if r.route == BARE and r.connections == 256)
    bare_64 = next(r for r in runs if r.route == BARE and r.connections == 64)
    bare_busy = bare_256.rps * bare_256.cpu_ms_per_request / 1000

    def find(route: str, database: str, connections: int) -> Run:
        return next(
            r
            for r in runs
            if (r.route, r.database, r.connections) == (route, database, connections)
            and r.plivo_connections != DEFAULT_CAP
        )

    verdict = []
    seed_256, seed_64 = find(SEED, "SQLite", 256), find(SEED, "SQLite", 64)
    keyed_256, keyed_64 = find(KEYED, "SQLite", 256), find(KEYED, "SQLite", 64)
    verdict += [
        _verdict(
            seed_256.rps >= FOUNDATION_RPS,
            f"#2: at least {FOUNDATION_RPS:,} req/s on {SEED} at 256 connections",
            f"{seed_256.rps:,.0f}",
        ),
        _verdict(
            seed_64.p50_ms < FOUNDATION_P50_MS,
            f"#2: p50 under {FOUNDATION_P50_MS:.0f} ms at 64 connections",
            f"{seed_64.p50_ms:.1f} ms",
        ),
        _verdict(
            seed_64.p99_ms < FOUNDATION_P99_MS,
            f"#2: p99 under {FOUNDATION_P99_MS:.0f} ms at 64 connections",
            f"{seed_64.p99_ms:.1f} ms",
        ),
    ]
    # Issue #14's targets: ratios against the yardstick measured in this very run.
    verdict += [
        _verdict(
            keyed_256.rps >= SPEED_SHARE_SEED * bare_256.rps,
            f"#14: {KEYED} at least {SPEED_SHARE_SEED:.0%} of the yardstick's req/s at 256 "
            "connections",
            f"{keyed_256.rps / bare_256.rps:.0%}",
        ),
        _verdict(
            seed_64.p50_ms <= bare_64.p50_ms + SPEED_P50_SLACK_MS,
            f"#14: p50 on {SEED} within {SPEED_P50_SLACK_MS:.0f} ms of the yardstick's at 64",
            f"{seed_64.p50_ms - bare_64.p50_ms:+.1f} ms",
        ),
        _verdict(
            seed_64.p99_ms <= bare_64.p99_ms + SPEED_P99_SLACK_MS,
            f"#14: p99 on {SEED} within {SPEED_P99_SLACK_MS:.0f} ms of the yardstick's at 64",
            f"{seed_64.p99_ms - bare_64.p99_ms:+.1f} ms",
        ),
    ]
    for database in ("SQLite", "PostgreSQL"):
        share = find(MESSAGES, database, 256).rps / bare_256.rps
        verdict.append(
            _verdict(
                share >= SPEED_SHARE_MESSAGES,
                f"#14: {MESSAGES} ({database}) at least {SPEED_SHARE_MESSAGES:.0%} of the "
                "yardstick's req/s at 256 connections",
                f"{share:.0%}",
            )
        )
    served = [r for r in runs if r.route != BARE]
    pooled = find(POOLED, "SQLite", 256)
    added = pooled.cpu_ms_per_request - seed_256.cpu_ms_per_request
    allowed = CHOOSING_MS * bare_256.cpu_ms_per_request / BARE_REFERENCE_CPU_MS
    verdict.append(
        _verdict(
            added <= allowed,
            f"#15: choosing a pool's sender adds at most {CHOOSING_MS} ms CPU a request on the "
            f"reference machine ({allowed:.3f} ms here, by the yardstick)",
            f"{added:+.3f} ms",
        )
    )
    peak = max(r.peak_rss_mb for r in served)
    verdict.append(
        _verdict(
            peak <= SPEED_RSS_MB,
            f"#14: server RSS under load at most {SPEED_RSS_MB} MiB",
            f"peak {peak:.0f} MiB",
        )
    )
    for database in ("SQLite", "PostgreSQL"):
        at_256, at_64 = find(MESSAGES, database, 256), find(MESSAGES, database, 64)
        verdict += [
            _verdict(
                at_256.rps >= STORED_RPS,
                f"#3: at least {STORED_RPS:,} req/s on {MESSAGES} ({database}) at 256 connections",
                f"{at_256.rps:,.0f}",
            ),
            _verdict(
                at_64.p99_ms < STORED_P99_MS,
                f"#3: p99 under {STORED_P99_MS:.0f} ms on "
                f"{MESSAGES} ({database}) at 64 connections",
                f"{at_64.p99_ms:.1f} ms",
            ),
        ]
    return f"""{header}
{rows}

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {description}.

Yardstick: the bare ASGI app (scripts/bare_asgi.py) made {bare_256.rps:,.0f} req/s at 256
connections on this machine, its core {bare_busy:.0%} busy at {bare_256.cpu_ms_per_request:.3f} ms
CPU per request; p50 {bare_64.p50_ms:.1f} ms, p99 {bare_64.p99_ms:.1f} ms at 64 connections. On
the issue's reference machine: {BARE_REFERENCE_RPS:,} req/s at {BARE_REFERENCE_CPU_MS} ms,
p50 56 ms, p99 75 ms.

With a stored API key and the limits on (`{KEYED}`), the seed route made {keyed_256.rps:,.0f}
req/s at 256 connections at {keyed_256.cpu_ms_per_request:.3f} ms CPU per request (without:
{seed_256.cpu_ms_per_request:.3f} ms); p50 {keyed_64.p50_ms:.1f} ms, p99 {keyed_64.p99_ms:.1f} ms
at 64 connections.

Targets:
{chr(10).join(verdict)}
"""


def _verdict(met: bool, target: str, measured: str) -> str:
    return f"- {'met' if met else 'MISSED'}: {target} (measured {measured})."


def write(path: Path, table: str, block: str = "bench") -> None:
    """Replace the text between ``<!-- {block}:begin -->`` and its end marker in ``path``."""
    begin, end = f"<!-- {block}:begin -->", f"<!-- {block}:end -->"
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{begin}\n{table}{end}{tail}")


@contextmanager
def running(command: list[str], env: dict[str, str], cwd: str, log: Path) -> Iterator[int]:
    """Run ``command`` until the block ends (SIGTERM, then wait); yields its pid."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=output, env=env, cwd=cwd)
        try:
            yield process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


@contextmanager
def database_url(database: str, sqlite_path: Path, postgres: str) -> Iterator[str]:
    """A fresh database for one scenario: a SQLite file, or a new PostgreSQL database."""
    if database != "PostgreSQL":  # SQLite, or none for the yardstick (the URL goes unused)
        yield f"sqlite:///{sqlite_path}"
        return
    import asyncio

    import asyncpg

    name = f"smsgate_bench_{os.getpid()}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(postgres)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def path_of(route: str) -> str:
    return SEED if route in (BARE, KEYED, POOLED) else route


def register_pool(server_env: dict[str, str]) -> None:
    """The pool of POOLED, through the CLI, before the server starts."""
    for address in POOL:
        add = smsgate_on_core(0, "senders", "add", address, "--mps", "10000")
        subprocess.run(add, env=server_env, check=True, capture_output=True)


def create_key(env: dict[str, str], cwd: str) -> str:
    """A live API key with the send scope, stored in the scenario's database."""
    command = [sys.executable, "-m", "smsgate", "keys", "create", "--name", "bench", "--json"]
    output = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=True)
    key: str = json.loads(output.stdout)["key"]
    return key


def smsgate_on_core(core: int, *args: str) -> list[str]:
    return ["taskset", "-c", str(core), sys.executable, "-m", "smsgate", *args]


def bare_on_core(core: int, port: int) -> list[str]:
    """The yardstick (scripts/bare_asgi.py) under uvicorn with smsgate's loop and parser."""
    return [
        "taskset",
        "-c",
        str(core),
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(Path(__file__).parent),
        "bare_asgi:app",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="update the results block in this file")
    parser.add_argument("--duration", type=int, default=15, help="seconds per measured run")
    parser.add_argument(
        "--max-connections",
        type=int,
        default=512,
        help="SMSGATE_PLIVO_MAX_CONNECTIONS for the main runs (the default, 100, is run too)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "SMSGATE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server to create the benchmark's database on (admin URL)",
    )
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: {tool} is not installed (Debian: apt-get install {tool})")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("bench: needs two cores, one for the server and one for the load")

    emulator_url = f"http://127.0.0.1:{free_port()}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PLIVO_", "SMSGATE_"))},
        "PLIVO_AUTH_ID": DEFAULT_AUTH_ID,
        "PLIVO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "PLIVO_SENDER_ID": "+14155550199",
        "PLIVO_API_URL": emulator_url,
    }
    emulator = smsgate_on_core(
        1, "emulator", "--port", emulator_url.rsplit(":", 1)[1], "--latency-ms", "50"
    )
    scenarios = [
        # route, database, Plivo connection cap, connection counts
        (BARE, "none", args.max_connections, (256, 64)),
        (SEED, "SQLite", args.max_connections, (256, 64)),
        (MESSAGES, "SQLite", args.max_connections, (256, 64)),
        (MESSAGES, "PostgreSQL", args.max_connections, (256, 64)),
        (SEED, "SQLite", DEFAULT_CAP, (256,)),
        (KEYED, "SQLite", args.max_connections, (256, 64)),
        (POOLED, "SQLite", args.max_connections, (256,)),
    ]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        plain_script = Path(tmp, "send.lua")
        plain_script.write_text(WRK_SCRIPT)
        with running(emulator, env, tmp, Path(tmp, "emulator.log")):
            wait_for(f"{emulator_url}/_emulator/stats")
            for n, (route, database, cap, connections) in enumerate(scenarios):
                with database_url(database, Path(tmp, f"bench-{n}.db"), args.postgres) as url_:
                    port = free_port()
                    server_env = {
                        **env,
                        **(LIMITS_ON if route == KEYED else LIMITS_OFF),
                        "SMSGATE_PLIVO_MAX_CONNECTIONS": str(cap),
                        "SMSGATE_DATABASE_URL": url_,
                    }
                    script = plain_script
                    if route == POOLED:
                        register_pool(server_env)
                    if route == KEYED:
                        script = Path(tmp, "keyed.lua")
                        script.write_text(
                            WRK_KEYED_SCRIPT.replace("KEY", create_key(server_env, tmp))
                        )
                    server = (
                        bare_on_core(0, port)
                        if route == BARE
                        else smsgate_on_core(0, "serve", "--port", str(port))
                    )
                    log = Path(tmp, f"server-{n}.log")
                    with running(server, server_env, tmp, log) as pid:
                        base = f"http://127.0.0.1:{port}"
                        wait_for(f"{base}/healthz")
                        print(f"bench: {route} on {database}, warming up (5 s)", file=sys.stderr)
                        wrk(f"{base}{path_of(route)}", 64, 5, script)
                        for count in connections:
                            print(f"bench: {count} connections, {args.duration} s", file=sys.stderr)
                            run = measure(
                                f"{base}{path_of(route)}",
                                count,
                                args.duration,
                                script,
                                pid,
                                emulator_url,
                            )
                            run.plivo_connections, run.route, run.database = cap, route, database
                            runs.append(run)
    table = report(runs, machine())
    print(table)
    if args.write:
        write(args.write, table)


if __name__ == "__main__":
    main()
