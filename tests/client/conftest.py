"""What the client tests share: a record of what went over the wire, and the numbers used.

The clients talk to a real smsgate (the ``serve`` fixture: uvicorn, the real Plivo adapter,
the emulator). To see their retries, a test hands them an httpx client whose event hooks
write down each request's Idempotency-Key and each answer's status: an observer, not a mock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from smsgate.emulator import EmulatorServer, RequestRecord

TO = "+14155552671"
OTHER = "+14155552672"
THIRD = "+14155552673"


@dataclass
class Wire:
    """Each request's method, path and Idempotency-Key, and each answer's status."""

    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    @property
    def keys(self) -> list[str | None]:
        return [key for _, _, key in self.requests]

    def on_request(self, request: httpx.Request) -> None:
        key = request.headers.get("idempotency-key")
        self.requests.append((request.method, request.url.path, key))

    def on_response(self, response: httpx.Response) -> None:
        self.statuses.append(response.status_code)

    def http_client(self) -> httpx.Client:
        return httpx.Client(
            event_hooks={"request": [self.on_request], "response": [self.on_response]}
        )

    def async_http_client(self) -> httpx.AsyncClient:
        async def on_request(request: httpx.Request) -> None:
            self.on_request(request)

        async def on_response(response: httpx.Response) -> None:
            self.on_response(response)

        return httpx.AsyncClient(event_hooks={"request": [on_request], "response": [on_response]})


def plivo_sends(emulator: EmulatorServer) -> list[RequestRecord]:
    return [r for r in emulator.requests() if r.method == "POST"]
