"""Helpers for tests of queued sending over HTTP: what the emulator took, batch progress."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from smsgate.emulator import EmulatorServer, RequestRecord


def sends(emulator: EmulatorServer) -> list[RequestRecord]:
    """The sends the emulator accepted (answered 202)."""
    return [r for r in emulator.requests() if r.method == "POST" and r.status == 202]


def wait_for(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def batch_counts(url: str, batch_id: str) -> dict[str, int]:
    """A batch's messages by status, leaving out the statuses it has none of."""
    progress = httpx.get(f"{url}/api/v1/batches/{batch_id}", timeout=10).json()
    return {status: n for status, n in progress["counts"].items() if n}
