"""Test keys never reach Plivo (issue #5), over real HTTP.

smsgate is configured for Plivo, pointed at the emulator. A test key's messages, sent inline,
queued or uploaded, go to the sandbox instead: the emulator gets nothing, the messages are
stored for the sandbox, and the sandbox's signed reports come back through the real callback
route until they are delivered. A live key on the same server still reaches Plivo.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from smsgate.api.app import create_app
from smsgate.config import Settings
from smsgate.emulator import EmulatorServer, RequestRecord
from tests.support.api_keys import create_key, rows
from tests.support.servers import free_port, serve_in_thread

pytestmark = pytest.mark.integration

TO = "+14155552671"
OTHER = "+14155552672"


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    database_url: str
    test_key: dict[str, str]  # Authorization headers
    live_key: dict[str, str]

    def post(
        self,
        path: str,
        key: dict[str, str],
        headers: dict[str, str] | None = None,
        **arguments: Any,
    ) -> httpx.Response:
        return httpx.post(
            f"{self.url}{path}", headers={**key, **(headers or {})}, timeout=15, **arguments
        )

    def message(self, message_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/api/v1/messages/{message_id}", headers=self.live_key)
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document


@pytest.fixture
def served(plivo_settings: Settings) -> Iterator[Served]:
    """smsgate on Plivo (the emulator), with a stored test key and a stored live key.

    No SMSGATE_PUBLIC_URL, so Plivo is asked for no callbacks; the sandbox posts its own to
    http://{host}:{port}, which must be where this server listens.
    """
    port = free_port()
    settings = plivo_settings.model_copy(update={"port": port})
    _, test_key = create_key(settings.database_url, "staging", "send,read", test=True)
    _, live_key = create_key(settings.database_url, "shop", "send,read")
    with serve_in_thread(create_app(settings), port=port) as url:
        yield Served(
            url,
            settings.database_url,
            {"Authorization": f"Bearer {test_key}"},
            {"Authorization": f"Bearer {live_key}"},
        )


def plivo_sends(emulator: EmulatorServer) -> list[RequestRecord]:
    return [r for r in emulator.requests() if r.method == "POST"]


def wait_for_status(served: Served, message_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while (message := served.message(message_id))["status"] != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"{message_id} is {message['status']}, not {status}")
        time.sleep(0.05)
    return message


def ids_in(answer: httpx.Response) -> list[str]:
    assert answer.status_code in (200, 201, 202), answer.text
    document = answer.json()
    if "messages" in document:
        return [message["id"] for message in document["messages"]]
    return [document.get("id") or document["message_id"]]


def test_a_test_keys_messages_go_to_the_sandbox_and_are_delivered_never_to_plivo(
    served: Served, emulator: EmulatorServer
) -> None:
    key = served.test_key
    sent = [
        *ids_in(served.post("/api/send-sms", key, json={"to": TO, "text": "seed route"})),
        *ids_in(served.post("/api/v1/messages", key, json={"to": TO, "text": "inline"})),
        *ids_in(
            served.post(
                "/api/v1/messages", key, json={"to": TO, "text": "queued", "mode": "queued"}
            )
        ),
        *ids_in(served.post("/api/v1/messages", key, json={"to": [TO, OTHER], "text": "a list"})),
        *ids_in(
            served.post(
                "/api/v1/batches",
                key,
                content=f"to,text\n{TO},uploaded\n".encode(),
                headers={"Content-Type": "text/csv"},
            )
        ),
    ]
    assert len(sent) == 6
    for message_id in sent:
        message = wait_for_status(served, message_id, "delivered")
        assert message["provider"] == "sandbox"
        sources = [(e["status"], e["source"]) for e in message["events"]]
        assert ("sent", "callback") in sources
        assert ("delivered", "callback") in sources
    assert plivo_sends(emulator) == []

    # A live key on the same server, meanwhile, reaches Plivo, inline and queued.
    live = served.live_key
    live_sent = [
        *ids_in(served.post("/api/v1/messages", live, json={"to": TO, "text": "live"})),
        *ids_in(
            served.post(
                "/api/v1/messages", live, json={"to": OTHER, "text": "later", "mode": "queued"}
            )
        ),
    ]
    for message_id in live_sent:
        message = wait_for_status(served, message_id, "queued")  # Plivo took it
        assert message["provider"] == "plivo"
    destinations = [r.body.get("dst") for r in plivo_sends(emulator) if isinstance(r.body, dict)]
    assert sorted(map(str, destinations)) == [TO, OTHER]
    stored = rows(served.database_url, "SELECT provider, count(*) AS n FROM messages GROUP BY 1")
    assert {row["provider"]: row["n"] for row in stored} == {"sandbox": 6, "plivo": 2}


# The sandbox's test numbers (providers/sandbox.py): the HTTP status and error code of an
# inline send's answer, and the status the stored message ends in.
SIMULATIONS = {
    "+15005550001": (400, "provider_rejected", "rejected"),
    "+15005550002": (201, None, "undelivered"),
    "+15005550003": (503, "provider_unavailable", "failed"),
    "+15005550004": (504, "provider_timeout", "unknown"),
    "+15005550005": (429, "provider_rate_limited", "failed"),
    "+15005550006": (502, "provider_auth_failed", "rejected"),
}


def test_a_test_key_gets_the_sandboxs_simulated_outcomes(
    served: Served, emulator: EmulatorServer
) -> None:
    wrong: list[str] = []
    for number, (status, code, final) in SIMULATIONS.items():
        answer = served.post("/api/v1/messages", served.test_key, json={"to": number, "text": "x"})
        document = answer.json()
        if (answer.status_code, document.get("code")) != (status, code):
            wrong.append(f"{number}: {answer.status_code} {answer.text}")
            continue
        message = wait_for_status(served, document["id"], final)
        if message["provider"] != "sandbox":
            wrong.append(f"{number}: stored for {message['provider']}")
        if final == "undelivered" and message["error"]["code"] != "30":
            wrong.append(f"{number}: error {message['error']}")
    assert not wrong, "\n".join(wrong)
    assert plivo_sends(emulator) == []


def test_a_test_keys_queued_messages_play_out_the_simulations_too(
    served: Served, emulator: EmulatorServer
) -> None:
    numbers = ["+15005550001", "+15005550002", TO]
    answer = served.post("/api/v1/messages", served.test_key, json={"to": numbers, "text": "batch"})
    rejected, undelivered, delivered = ids_in(answer)
    assert wait_for_status(served, rejected, "rejected")["provider"] == "sandbox"
    assert wait_for_status(served, undelivered, "undelivered")["error"]["code"] == "30"
    assert wait_for_status(served, delivered, "delivered")["provider"] == "sandbox"
    assert plivo_sends(emulator) == []
