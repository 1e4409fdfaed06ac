"""SIGTERM to `smsgate serve` while Plivo holds sends: every one finishes and is answered, and
nothing reaches Plivo twice, before or after a restart.

The emulator is made slow (1.5 s a send) so that, at the signal, inline sends are waiting for
Plivo's answer and queued hand-offs of the in-process dispatcher are in flight too.
"""

from __future__ import annotations

import concurrent.futures
import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, EmulatorServer
from tests.cli.test_cli import environment, wait_until_up
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

INLINE = [f"+1415555{n:04d}" for n in range(8)]
QUEUED = [f"+1415556{n:04d}" for n in range(3)]


def start(env: dict[str, str], port: int, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "smsgate", "serve", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.PIPE,
        )
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
    return process


def sent(emulator: EmulatorServer) -> Counter[str]:
    return Counter(
        str(r.body["dst"])  # type: ignore[index]
        for r in emulator.requests()
        if r.method == "POST"
    )


def test_sigterm_lets_every_send_in_flight_finish_and_sends_nothing_twice(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    env = environment(
        PLIVO_AUTH_ID=DEFAULT_AUTH_ID,
        PLIVO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        PLIVO_SENDER_ID="+14155550199",
        PLIVO_API_URL=emulator.base_url,
        SMSGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'smsgate.db'}",
        SMSGATE_PLIVO_TIMEOUT="5",
        SMSGATE_DESTINATION_LIMIT="off",
        SMSGATE_RATE_LIMIT="off",
        SMSGATE_SENDER_MPS="0",
    )
    emulator.set_faults(latency_ms=1500)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = start(env, port, tmp_path, log)

    queued = httpx.post(f"{url}/api/v1/messages", json={"to": QUEUED, "text": "Queued"}, timeout=10)
    assert queued.status_code == 202, queued.text
    pool = concurrent.futures.ThreadPoolExecutor(len(INLINE))
    answers = [
        pool.submit(
            httpx.post, f"{url}/api/v1/messages", json={"to": number, "text": "Now"}, timeout=30
        )
        for number in INLINE
    ]
    deadline = time.monotonic() + 10
    while sum(sent(emulator).values()) < len(INLINE) + len(QUEUED):
        assert time.monotonic() < deadline, f"only {sent(emulator)} reached Plivo"
        time.sleep(0.02)
    server.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    time.sleep(0.3)
    # New connections are refused at once, while the sends in flight go on.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)
    assert not any(answer.done() for answer in answers)

    # Every inline send in flight gets its answer: Plivo took it.
    for answer in answers:
        response = answer.result(timeout=30)
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "queued"
    pool.shutdown()
    _, stderr = server.communicate(timeout=20)
    assert time.monotonic() - signalled < 10, "the server took too long to stop"
    # Ended by the signal it got, after a clean shutdown (systemd counts SIGTERM as success).
    assert server.returncode in (0, -signal.SIGTERM), stderr
    assert b"Traceback" not in stderr, stderr.decode()
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    # The app stopped last, after every hand-off (inline or queued) was logged.
    assert events[-2:] == ["stopping", "stopped"], events
    assert events.count("provider_call") == len(INLINE) + len(QUEUED)

    # After a restart, nothing is sent again and nothing was left half done.
    emulator.set_faults()
    server = start(env, port, tmp_path, log)
    try:
        listed = httpx.get(f"{url}/api/v1/messages", params={"limit": 50}, timeout=10).json()
        statuses = {m["to"]: m["status"] for m in listed["data"]}
        assert statuses == dict.fromkeys(INLINE + QUEUED, "queued"), statuses
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)
    assert sent(emulator) == Counter(INLINE + QUEUED)


def test_a_stalled_upload_does_not_hold_sigterm_past_the_grace(tmp_path: Path) -> None:
    env = environment(
        SMSGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'smsgate.db'}", SMSGATE_PLIVO_TIMEOUT="1"
    )
    port = free_port()
    server = start(env, port, tmp_path, tmp_path / "serve.log")
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.sendall(
        b"POST /api/v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: text/csv\r\nContent-Length: 1000\r\n\r\nto,text\n"
    )
    time.sleep(0.3)
    signalled = time.monotonic()
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=30)
    assert time.monotonic() - signalled < 15  # 1 s + 10 s of grace
    stalled.close()
