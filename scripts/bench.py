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

TARGET_RPS = 2 * 1130  # twice the tutorial's Next.js route at 256 connections
TARGET_P50_MS = 60.0
TARGET_P99_MS = 100.0

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body   = '{"to": "+14155552671", "text": "Your smsgate code is 123456"}'
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %f, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


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
    plivo_connections: int = 0

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
    capacity, latency = runs[0], runs[1]
    rows = "\n".join(
        f"| {r.connections} | {r.plivo_connections} | {r.rps:,.0f} | {r.p50_ms:.1f} | "
        f"{r.p99_ms:.1f} | {r.errors} | {r.cpu_ms_per_request:.3f} | "
        f"{r.recorded:,} / {r.requests:,} |"
        for r in runs
    )
    verdict = [
        f"- {'met' if capacity.rps >= TARGET_RPS else 'MISSED'}: at least {TARGET_RPS:,} req/s "
        f"at 256 connections (measured {capacity.rps:,.0f}).",
        f"- {'met' if latency.p50_ms < TARGET_P50_MS else 'MISSED'}: p50 under "
        f"{TARGET_P50_MS:.0f} ms at 64 connections (measured {latency.p50_ms:.1f} ms).",
        f"- {'met' if latency.p99_ms < TARGET_P99_MS else 'MISSED'}: p99 under "
        f"{TARGET_P99_MS:.0f} ms at 64 connections (measured {latency.p99_ms:.1f} ms).",
    ]
    header = (
        "| Connections | Plivo connections | req/s | p50 ms | p99 ms | errors "
        "| server CPU ms/request | recorded by the emulator / requests |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    return f"""{header}
{rows}

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {description}.

Targets:
{chr(10).join(verdict)}
"""


def write(path: Path, table: str) -> None:
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
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


def smsgate_on_core(core: int, *args: str) -> list[str]:
    return ["taskset", "-c", str(core), sys.executable, "-m", "smsgate", *args]


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
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "send.lua")
        script.write_text(WRK_SCRIPT)
        with running(emulator, env, tmp, Path(tmp, "emulator.log")):
            wait_for(f"{emulator_url}/_emulator/stats")
            for cap, connections in ((args.max_connections, (256, 64)), (100, (256,))):
                port = free_port()
                server_env = {**env, "SMSGATE_PLIVO_MAX_CONNECTIONS": str(cap)}
                server = smsgate_on_core(0, "serve", "--port", str(port))
                with running(server, server_env, tmp, Path(tmp, f"server-{cap}.log")) as pid:
                    url = f"http://127.0.0.1:{port}"
                    wait_for(f"{url}/healthz")
                    print(f"bench: warming up (5 s), Plivo connections {cap}", file=sys.stderr)
                    wrk(f"{url}/api/send-sms", 64, 5, script)
                    for count in connections:
                        print(f"bench: {count} connections, {args.duration} s", file=sys.stderr)
                        run = measure(
                            f"{url}/api/send-sms", count, args.duration, script, pid, emulator_url
                        )
                        run.plivo_connections = cap
                        runs.append(run)
    table = report(runs, machine())
    print(table)
    if args.write:
        write(args.write, table)


if __name__ == "__main__":
    main()
