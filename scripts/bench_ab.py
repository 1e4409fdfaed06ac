"""Interleaved A/B of the seed route: two (or more) checkouts served in turn, round after round.

This machine's figures drift by ±15 % from one minute to the next, more than most changes
are worth. Serving each checkout in turn against one emulator, several rounds, lets a change
be compared with the commit before it under the same drift. Each checkout's ``src`` is put
first on ``PYTHONPATH``, so one virtual environment serves them all. The checkouts must need
the same dependencies.

Usage:
    git worktree add --detach ../before HEAD~1
    python scripts/bench_ab.py --tree before=../before --tree after=. [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench  # the sibling script: its runner, wrk driver and measurements

from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN

POOL = ("+14155550100", "+14155550101", "+14155550102")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH, twice or more")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=12, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument(
        "--keyed", action="store_true", help="a stored key and the limits on, as make bench's"
    )
    parser.add_argument(
        "--postgres", metavar="ADMIN_URL", help="serve on a fresh PostgreSQL database per run"
    )
    parser.add_argument(
        "--pooled",
        action="append",
        default=[],
        metavar="NAME",
        help="serve the tree NAME with a pool of three senders registered (fast enough that "
        "pacing never waits): what choosing a sender costs",
    )
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.tree)
    emulator_url = f"http://127.0.0.1:{bench.free_port()}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PLIVO_", "SMSGATE_"))},
        "PLIVO_AUTH_ID": DEFAULT_AUTH_ID,
        "PLIVO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "PLIVO_SENDER_ID": "+14155550199",
        "PLIVO_API_URL": emulator_url,
        "SMSGATE_PLIVO_MAX_CONNECTIONS": "512",
        **(bench.LIMITS_ON if args.keyed else bench.LIMITS_OFF),
    }
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "send.lua")
        script.write_text(bench.WRK_SCRIPT)
        port = emulator_url.rsplit(":", 1)[1]
        emulator = bench.smsgate_on_core(1, "emulator", "--port", port, "--latency-ms", "50")
        with bench.running(emulator, env, tmp, Path(tmp, "emulator.log")):
            bench.wait_for(f"{emulator_url}/_emulator/stats")
            for round_ in range(1, args.rounds + 1):
                for name, tree in trees.items():
                    port = str(bench.free_port())
                    database = "PostgreSQL" if args.postgres else "SQLite"
                    sqlite_path = Path(tmp, f"{name}-{round_}.db")
                    with bench.database_url(database, sqlite_path, args.postgres or "") as url:
                        server_env = {
                            **env,
                            "PYTHONPATH": str(Path(tree).resolve() / "src"),
                            "SMSGATE_DATABASE_URL": url,
                        }
                        run = serve_and_measure(server_env, tmp, name, port, script, args)
                    cpu[name].append(run.cpu_ms_per_request)
                    print(
                        f"round {round_} {name}: {run.rps:,.0f} req/s, "
                        f"{run.cpu_ms_per_request:.3f} ms CPU a request, "
                        f"p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms, "
                        f"peak RSS {run.peak_rss_mb:.0f} MiB",
                        flush=True,
                    )
    for name, figures in cpu.items():
        print(f"{name}: median {statistics.median(figures):.3f} ms CPU a request")


def serve_and_measure(
    server_env: dict[str, str], tmp: str, name: str, port: str, script: Path, args: Any
) -> bench.Run:
    """One checkout served, warmed up and measured."""
    if args.keyed:
        script = Path(tmp, f"keyed-{name}.lua")
        script.write_text(bench.WRK_KEYED_SCRIPT.replace("KEY", bench.create_key(server_env, tmp)))
    if name in args.pooled:
        for address in POOL:
            add = bench.smsgate_on_core(0, "senders", "add", address, "--mps", "10000")
            subprocess.run(add, env=server_env, check=True, capture_output=True)
    emulator_url = server_env["PLIVO_API_URL"]
    server = bench.smsgate_on_core(0, "serve", "--port", port)
    with bench.running(server, server_env, tmp, Path(tmp, f"{name}.log")) as pid:
        base = f"http://127.0.0.1:{port}"
        bench.wait_for(f"{base}/healthz")
        bench.wrk(f"{base}/api/send-sms", 64, 5, script)
        return bench.measure(
            f"{base}/api/send-sms", args.connections, args.duration, script, pid, emulator_url
        )


if __name__ == "__main__":
    main()
