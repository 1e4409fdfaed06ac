"""A server killed between "stored" and "sent" loses nothing and sends nothing twice.

The process dies (SIGKILL) while Plivo (the emulator, made slow) holds the request. After a
restart the message is still there; the reconciler finds it in Plivo's records and takes
Plivo's UUID and state, and nothing sends it again.
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


def test_a_send_cut_off_by_a_crash_is_reconciled_after_restart_and_never_resent(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    env = environment(
        PLIVO_AUTH_ID=DEFAULT_AUTH_ID,
        PLIVO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        PLIVO_SENDER_ID="+14155550199",
        PLIVO_API_URL=emulator.base_url,
        SMSGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'smsgate.db'}",
        SMSGATE_PLIVO_TIMEOUT="1",
        SMSGATE_STALE_SENDING_AFTER="2",
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
        assert len(listed) == 1
        shown = httpx.get(f"{url}/api/v1/messages/{listed[0]['id']}").json()
        (taken,) = emulator.call(lambda: list(emulator.state.messages))
        assert shown["provider_message_uuid"] == taken
        assert shown["status"] in {"queued", "sent", "delivered"}
        assert [e["status"] for e in shown["events"]][:2] == ["accepted", "sending"]
        assert shown["events"][2]["source"] == "reconciler"
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)
    assert len([r for r in emulator.requests() if r.method == "POST"]) == 1


def _post_ignoring_errors(url: str) -> None:
    # The server is killed mid-request: that is the point, so its failure is expected.
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{url}/api/v1/messages", json={"to": "+14155552671", "text": "hi"}, timeout=10)
