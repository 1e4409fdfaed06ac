"""A server killed between "stored" and "sent" loses nothing and sends nothing twice.

The process dies (SIGKILL) while Plivo (the emulator, made slow) holds the request. After a
restart the message is still there, settled as ``unknown`` (it may have reached Plivo), and
nothing sends it again.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, EmulatorServer
from tests.cli.test_cli import environment, wait_until_up
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


def start(env: dict[str, str], port: int, cwd: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "smsgate", "serve", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
    return process


def test_a_send_cut_off_by_a_crash_is_found_unknown_after_restart_and_never_resent(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    env = environment(
        PLIVO_AUTH_ID=DEFAULT_AUTH_ID,
        PLIVO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        PLIVO_SENDER_ID="+14155550199",
        PLIVO_API_URL=emulator.base_url,
        SMSGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'smsgate.db'}",
        SMSGATE_PLIVO_TIMEOUT="1",
    )
    emulator.set_faults(latency_ms=5000)  # Plivo holds the request while we pull the plug
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start(env, port, tmp_path)
    request = threading.Thread(target=_post_ignoring_errors, args=(url,), daemon=True)
    request.start()
    deadline = time.monotonic() + 10
    while not [r for r in emulator.requests() if r.method == "POST"]:
        assert time.monotonic() < deadline, "the send never reached the emulator"
        time.sleep(0.02)
    server.send_signal(signal.SIGKILL)
    server.communicate(timeout=10)
    request.join(timeout=10)

    time.sleep(2.2)  # older than twice the deadline: surely cut off, not in progress
    emulator.set_faults()
    server = start(env, port, tmp_path)
    try:
        listed = httpx.get(f"{url}/api/v1/messages").json()["data"]
        assert [m["status"] for m in listed] == ["unknown"]
        shown = httpx.get(f"{url}/api/v1/messages/{listed[0]['id']}").json()
        assert [e["status"] for e in shown["events"]] == ["accepted", "sending", "unknown"]
        assert shown["events"][-1]["source"] == "recovery"
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)
    assert len([r for r in emulator.requests() if r.method == "POST"]) == 1


def _post_ignoring_errors(url: str) -> None:
    # The server is killed mid-request: that is the point, so its failure is expected.
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{url}/api/v1/messages", json={"to": "+14155552671", "text": "hi"}, timeout=10)
