"""The Plivo emulator over real HTTP: Plivo's answers, faults, signed callbacks, the SDK."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from unittest import mock

import aiohttp
import httpx
import plivo
import plivo.exceptions
import plivo.utils
import pytest
from aiohttp import web

from smsgate.emulator import (
    DEFAULT_AUTH_ID,
    DEFAULT_AUTH_TOKEN,
    EmulatorServer,
    EmulatorState,
)
from smsgate.providers.plivo.signature import verify_v2, verify_v3

pytestmark = pytest.mark.integration

SEND = f"/v1/Account/{DEFAULT_AUTH_ID}/Message/"
SRC = "14155550100"
DST = "14155552671"
DST_UK = "447911123456"
STEP_S = 0.01  # seconds between a message's states, so callback tests finish quickly


@pytest.fixture(scope="module")
def running_emulator() -> Iterator[EmulatorServer]:
    state = EmulatorState(callback_delay_s=STEP_S, callback_retry_scale=0.0002)
    with EmulatorServer(state) as server:
        yield server


@pytest.fixture
def emulator(running_emulator: EmulatorServer) -> EmulatorServer:
    """Overrides the conftest emulator: this one walks states and retries in milliseconds."""
    running_emulator.wait_for_callbacks()  # so a previous test's callbacks cannot leak in
    running_emulator.reset()
    return running_emulator


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    auth = (emulator.auth_id, emulator.auth_token)
    with httpx.Client(base_url=emulator.base_url, auth=auth, timeout=5) as client:
        yield client


def send(client: httpx.Client, **fields: object) -> httpx.Response:
    return client.post(SEND, json={"src": SRC, "dst": DST, "text": "hello", **fields})


# Plivo's answers


def test_a_send_is_answered_202_with_one_uuid_per_destination(client: httpx.Client) -> None:
    response = send(client)

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"api_id", "message", "message_uuid"}
    assert body["message"] == "message(s) queued"
    assert len(body["message_uuid"]) == 1
    uuid.UUID(body["api_id"])
    uuid.UUID(body["message_uuid"][0])


def test_destinations_joined_with_lt_are_cleaned_deduplicated_and_invalid_ones_listed(
    client: httpx.Client,
) -> None:
    response = send(client, dst=f"{DST}<+1 (415) 555-2671<1111111<{DST_UK}<1111111")

    assert response.status_code == 202
    body = response.json()
    assert len(body["message_uuid"]) == 2
    assert body["invalid_number"] == ["1111111"]


def test_a_form_encoded_send_is_accepted_like_json(client: httpx.Client) -> None:
    response = client.post(SEND, data={"src": SRC, "dst": DST, "text": "hello"})

    assert response.status_code == 202


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param({"dst": None}, "dst is a required parameter", id="no-dst"),
        pytest.param({"text": None}, "text is a required parameter for sms messages", id="no-text"),
        pytest.param(
            {"dst": "+1 415-555-0100"},
            "destination number cannot be same as source number",
            id="src-is-dst",
        ),
        pytest.param(
            {"dst": "1111111"}, "'1111111' is not a valid phone number.", id="invalid-number"
        ),
        pytest.param(
            {"dst": "1111111<222"}, "'1111111<222' is not a valid phone number.", id="all-invalid"
        ),
        pytest.param(
            {"text": "ж" * 738},
            "text parameter length exceeds 737 unicode characters",
            id="ucs2-too-long",
        ),
        pytest.param(
            {"text": "a" * 1601}, "text parameter length exceeds 1600 characters", id="gsm-too-long"
        ),
        pytest.param(
            {"text": "{" * 801},
            "text parameter length exceeds 1600 characters",
            id="gsm-extension-counts-two",
        ),
        pytest.param(
            {"src": None},
            "Specify either powerpack_uuid or src in request params to send a message",
            id="no-sender",
        ),
        pytest.param(
            {"powerpack_uuid": "pp"},
            "Both powerpack_uuid and src cannot be specified. Specify either powerpack_uuid"
            " or src in request params to send a message.",
            id="two-senders",
        ),
        pytest.param(
            {"type": "fax"}, "type must be one of 'sms', 'mms' or 'whatsapp'", id="bad-type"
        ),
        pytest.param({"url": "ftp://x.test/"}, "url must be a valid http or https URL", id="url"),
        pytest.param({"method": "PUT"}, "method must be GET or POST", id="bad-method"),
        pytest.param({"dst": ["14155552671"]}, "dst must be a string", id="dst-list"),
    ],
)
def test_a_send_plivo_would_refuse_is_answered_400_with_its_error(
    client: httpx.Client, fields: dict[str, object], error: str
) -> None:
    body = {"src": SRC, "dst": DST, "text": "hello", **fields}
    response = client.post(SEND, json={k: v for k, v in body.items() if v is not None})

    assert response.status_code == 400
    assert response.json() == {"api_id": response.json()["api_id"], "error": error}


def test_a_body_that_is_not_json_is_answered_400(client: httpx.Client) -> None:
    response = client.post(SEND, content=b"{nope", headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json()["error"] == "request body is not valid JSON"


@pytest.mark.parametrize(
    ("text", "units"),
    [
        pytest.param("a" * 160, 1, id="gsm-160"),
        pytest.param("a" * 161, 2, id="gsm-161"),
        pytest.param("a" * 306, 2, id="gsm-306"),
        pytest.param("a" * 307, 3, id="gsm-307"),
        pytest.param("€" * 80, 1, id="gsm-extension-80"),
        pytest.param("€" * 81, 2, id="gsm-extension-81"),
        pytest.param("ж" * 70, 1, id="ucs2-70"),
        pytest.param("ж" * 71, 2, id="ucs2-71"),
        pytest.param("😀" * 35, 1, id="emoji-35-is-70-units"),
        pytest.param("😀" * 36, 2, id="emoji-36"),
        pytest.param("a" * 1600, 11, id="gsm-max"),
        pytest.param("ж" * 737, 11, id="ucs2-max"),
    ],
)
def test_units_follow_the_encoding_and_concatenation_rules(
    client: httpx.Client, text: str, units: int
) -> None:
    message_uuid = send(client, text=text).json()["message_uuid"][0]

    message = client.get(f"{SEND}{message_uuid}/").json()

    assert message["units"] == units


def test_a_send_without_credentials_gets_the_401_without_api_id(
    emulator: EmulatorServer,
) -> None:
    response = httpx.post(emulator.base_url + SEND, json={"src": SRC, "dst": DST, "text": "x"})

    assert response.status_code == 401
    assert response.json() == {"error": "authentication credentials were not provided"}


@pytest.mark.parametrize(
    ("path_auth_id", "auth"),
    [
        pytest.param(DEFAULT_AUTH_ID, (DEFAULT_AUTH_ID, "wrong"), id="wrong-token"),
        pytest.param(DEFAULT_AUTH_ID, ("MAWRONG0000000000001", DEFAULT_AUTH_TOKEN), id="wrong-id"),
        pytest.param(
            "MAOTHER0000000000001", (DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN), id="path-not-user"
        ),
    ],
)
def test_a_send_with_wrong_credentials_gets_the_401_with_api_id(
    emulator: EmulatorServer, path_auth_id: str, auth: tuple[str, str]
) -> None:
    url = f"{emulator.base_url}/v1/Account/{path_auth_id}/Message/"
    response = httpx.post(url, json={"src": SRC, "dst": DST, "text": "x"}, auth=auth)

    assert response.status_code == 401
    body = response.json()
    assert body == {"api_id": body["api_id"], "error": "Authentication credentials invalid"}


def test_a_message_can_be_read_back_and_advances_to_delivered() -> None:
    # Its own emulator, with states far enough apart that the first read sees "queued".
    step_s = 0.2
    with (
        EmulatorServer(EmulatorState(callback_delay_s=step_s)) as emulator,
        httpx.Client(
            base_url=emulator.base_url, auth=(emulator.auth_id, emulator.auth_token)
        ) as client,
    ):
        message_uuid = send(client).json()["message_uuid"][0]
        queued = client.get(f"{SEND}{message_uuid}/")
        time.sleep(step_s * 2.5)
        delivered = client.get(f"{SEND}{message_uuid}/").json()

    assert queued.status_code == 200
    assert queued.json()["message_state"] == "queued"
    assert queued.json()["error_code"] is None
    assert queued.json()["total_amount"] == "0.00000"
    assert delivered["message_state"] == "delivered"
    assert delivered["error_code"] == "000"
    assert {k: delivered[k] for k in ("message_uuid", "from_number", "to_number", "units")} == {
        "message_uuid": message_uuid,
        "from_number": SRC,
        "to_number": DST,
        "units": 1,
    }
    assert delivered["message_direction"] == "outbound"
    assert delivered["message_type"] == "sms"
    assert delivered["total_amount"] == "0.00500"


def test_a_scripted_failure_shows_in_the_message_record(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    client.put(f"/_emulator/outcomes/+{DST}", json={"status": "failed", "error_code": "450"})
    message_uuid = send(client).json()["message_uuid"][0]
    time.sleep(STEP_S * 3)

    message = client.get(f"{SEND}{message_uuid}/").json()

    assert (message["message_state"], message["error_code"]) == ("failed", "450")
    assert message["total_amount"] == "0.00000"
    assert message["message_sent_time"] is None


def test_an_unknown_message_is_answered_404(client: httpx.Client) -> None:
    response = client.get(f"{SEND}{uuid.uuid4()}/")

    assert response.status_code == 404
    assert response.json()["error"] == "not found"
    assert "api_id" in response.json()


def test_the_account_can_be_read_with_valid_credentials(client: httpx.Client) -> None:
    response = client.get(f"/v1/Account/{DEFAULT_AUTH_ID}/")

    assert response.status_code == 200
    assert response.json()["auth_id"] == DEFAULT_AUTH_ID
    assert response.json()["cash_credits"] == "100.00000"


def test_unknown_routes_and_methods_get_plivo_shaped_json(client: httpx.Client) -> None:
    assert client.get("/v1/nothing/").json()["error"] == "not found"
    response = client.delete(SEND)
    assert response.status_code == 405
    assert response.json()["error"] == "method not allowed"


# Faults


def test_latency_delays_every_send(emulator: EmulatorServer, client: httpx.Client) -> None:
    emulator.set_faults(latency_ms=150)

    started = time.monotonic()
    response = send(client)

    assert response.status_code == 202
    assert time.monotonic() - started >= 0.14


def test_an_injected_status_answers_every_send_with_a_plivo_error(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    emulator.set_faults(status=503)

    responses = [send(client) for _ in range(3)]

    assert [r.status_code for r in responses] == [503, 503, 503]
    assert set(responses[0].json()) == {"api_id", "error"}
    assert emulator.stats()["messages"] == 0
    assert [r.status for r in emulator.requests()] == [503, 503, 503]


def test_failure_rate_fails_a_reproducible_fraction_of_sends(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    draws = random.Random(42)
    expected = [500 if draws.random() < 0.3 else 202 for _ in range(30)]

    emulator.set_faults(failure_rate=0.3, seed=42)
    first = [send(client).status_code for _ in range(30)]
    emulator.set_faults(failure_rate=0.3, seed=42)
    second = [send(client).status_code for _ in range(30)]

    assert first == second == expected
    assert {202, 500} <= set(first)


def test_failure_rate_uses_the_injected_status_when_set(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    emulator.set_faults(failure_rate=1.0, status=502)

    assert send(client).status_code == 502


def test_a_429_carries_retry_after(emulator: EmulatorServer, client: httpx.Client) -> None:
    emulator.set_faults(status=429, retry_after=7)

    response = send(client)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"] == "Too Many Requests"


def test_a_success_status_with_a_raw_body_creates_no_message(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    emulator.set_faults(status=202, body="<html>queued</html>")

    response = send(client)

    assert (response.status_code, response.text) == (202, "<html>queued</html>")
    assert emulator.stats()["messages"] == 0


def test_a_raw_body_replaces_the_error_json(emulator: EmulatorServer, client: httpx.Client) -> None:
    page = "<html><body>502 Bad Gateway</body></html>"
    emulator.set_faults(status=502, body=page)

    response = send(client)

    assert response.status_code == 502
    assert response.text == page
    assert response.headers["Content-Type"].startswith("text/html")


def test_drop_before_response_accepts_the_send_but_never_answers(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    emulator.set_faults(drop="before_response")

    with pytest.raises(httpx.RemoteProtocolError):
        send(client)

    assert emulator.stats()["messages"] == 1
    assert [r.status for r in emulator.requests()] == [None]


def test_drop_rate_mixes_timeouts_into_the_injected_errors(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    draws = random.Random(7)
    expected: list[int | None] = []
    for _ in range(60):
        if draws.random() < 0.3:
            expected.append(503)
        else:
            expected.append(None if draws.random() < 0.2 else 202)
    emulator.set_faults(status=503, failure_rate=0.3, drop_rate=0.2, seed=7)
    for _ in range(60):
        with suppress(httpx.RemoteProtocolError):
            send(client)
    assert [r.status for r in emulator.requests()] == expected
    assert {503, None, 202} <= set(expected)
    # A dropped send was accepted: its message exists, only the answer was lost.
    assert emulator.stats()["messages"] == expected.count(202) + expected.count(None)


def test_drop_before_request_closes_without_reading_or_recording(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    emulator.set_faults(drop="before_request")

    with pytest.raises(httpx.RemoteProtocolError):
        send(client)

    assert emulator.stats()["messages"] == 0
    assert emulator.requests() == []


def test_times_limits_a_fault_to_the_next_sends_then_clears_it(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    emulator.set_faults(status=500, times=2)

    statuses = [send(client).status_code for _ in range(3)]

    assert statuses == [500, 500, 202]
    assert client.get("/_emulator/faults").json()["status"] is None


def test_faults_can_be_replaced_read_and_reset_over_http(client: httpx.Client) -> None:
    put = client.put("/_emulator/faults", json={"status": 503, "times": 1})

    assert put.status_code == 200
    assert client.get("/_emulator/faults").json()["status"] == 503
    assert client.delete("/_emulator/faults").json()["status"] is None
    assert send(client).status_code == 202


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"colour": "red"}, id="unknown-field"),
        pytest.param({"status": 600}, id="status-out-of-range"),
        pytest.param({"status": "503"}, id="status-string"),
        pytest.param({"failure_rate": 1.5}, id="rate-above-one"),
        pytest.param({"latency_ms": -1}, id="negative-latency"),
        pytest.param({"drop": "sometimes"}, id="unknown-drop"),
        pytest.param({"times": 0}, id="zero-times"),
        pytest.param({"retry_after": True}, id="bool-retry-after"),
        pytest.param([], id="not-an-object"),
    ],
)
def test_invalid_faults_are_refused_with_400(client: httpx.Client, faults: object) -> None:
    response = client.put("/_emulator/faults", json=faults)

    assert response.status_code == 400
    assert response.json()["error"]
    assert client.get("/_emulator/faults").json()["status"] is None


def test_the_control_api_lists_clears_and_counts_requests(client: httpx.Client) -> None:
    send(client, text="first")
    send(client, text="second")

    latest = client.get("/_emulator/requests", params={"limit": 1}).json()
    stats = client.get("/_emulator/stats").json()
    client.delete("/_emulator/requests")

    assert latest["total"] == 2
    [record] = latest["requests"]
    assert record["body"]["text"] == "second"
    assert record["auth_user"] == DEFAULT_AUTH_ID
    assert record["status"] == 202
    assert record["content_type"] == "application/json"
    assert stats["requests"] == 2
    assert stats["messages"] == 2
    assert client.get("/_emulator/requests").json() == {"total": 0, "requests": []}


# Status callbacks


@dataclass
class Received:
    method: str
    url: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class Receiver:
    url: str
    calls: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    fail_first: int = 0  # answer this many requests with 500 before answering 200

    async def wait_for(self, count: int, timeout: float = 5) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.calls) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.calls


@asynccontextmanager
async def callback_receiver(fail_first: int = 0) -> AsyncIterator[Receiver]:
    """A small aiohttp app on a free port that records the callbacks it is sent."""
    app = web.Application()
    runner = web.AppRunner(app, access_log=None)
    receiver = Receiver(url="", fail_first=fail_first)
    attempts = 0

    async def record(request: web.Request) -> web.Response:
        nonlocal attempts
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        attempts += 1
        if attempts <= receiver.fail_first:
            return web.Response(status=500)
        receiver.calls.append(
            Received(request.method, str(request.url), dict(request.headers), form)
        )
        receiver.arrived.set()
        return web.Response(text="ok")

    app.router.add_route("*", "/status", record)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/status"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def send_async(emulator: EmulatorServer, **fields: object) -> str:
    # aiohttp 3.14 deprecates BasicAuth in favour of a ready-made header.
    headers = {"Authorization": aiohttp.encode_basic_auth(emulator.auth_id, emulator.auth_token)}
    body = {"src": SRC, "dst": DST, "text": "hello", **fields}
    async with (
        aiohttp.ClientSession() as session,
        session.post(emulator.base_url + SEND, json=body, headers=headers) as response,
    ):
        assert response.status == 202
        answer = await response.json()
    return str(answer["message_uuid"][0])


def assert_signed_by_plivo(call: Received, token: str) -> None:
    """Both signature versions hold, checked by smsgate's code and by the official SDK."""
    headers = call.headers
    nonce_v2, v2 = headers["X-Plivo-Signature-V2-Nonce"], headers["X-Plivo-Signature-V2"]
    nonce_v3, v3 = headers["X-Plivo-Signature-V3-Nonce"], headers["X-Plivo-Signature-V3"]
    params = call.form if call.method == "POST" else None
    assert verify_v2(call.url, nonce_v2, v2, token)
    assert verify_v2(call.url, nonce_v2, headers["X-Plivo-Signature-Ma-V2"], token)
    assert verify_v3(call.method, call.url, nonce_v3, v3, token, params)
    assert verify_v3(
        call.method, call.url, nonce_v3, headers["X-Plivo-Signature-Ma-V3"], token, params
    )
    assert plivo.utils.validate_signature(call.url, nonce_v2, v2, token)
    assert plivo.utils.validate_v3_signature(call.method, call.url, nonce_v3, token, v3, params)


def test_post_callbacks_are_signed_and_walk_queued_sent_delivered(
    emulator: EmulatorServer,
) -> None:
    async def scenario() -> tuple[str, list[Received]]:
        async with callback_receiver() as receiver:
            message_uuid = await send_async(emulator, url=receiver.url + "?tag=a+b&x=")
            return message_uuid, await receiver.wait_for(3)

    message_uuid, calls = asyncio.run(scenario())

    assert [c.form["Status"] for c in calls] == ["queued", "sent", "delivered"]
    assert [c.form["Sequence"] for c in calls] == ["1", "2", "3"]
    for call in calls:
        assert call.method == "POST"
        assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert_signed_by_plivo(call, emulator.auth_token)
        assert call.form["MessageUUID"] == call.form["ParentMessageUUID"] == message_uuid
        assert (call.form["To"], call.form["From"], call.form["Type"]) == (DST, SRC, "sms")
        assert call.form["ErrorCode"] == ""
        assert call.form["PowerpackUUID"] == ""
    delivered = calls[2].form
    assert delivered["Units"] == "1"
    assert (delivered["TotalRate"], delivered["TotalAmount"]) == ("0.00500", "0.00500")
    assert delivered["SentTime"]
    assert delivered["DeliveryReportTime"]
    time.strptime(delivered["MessageTime"], "%Y-%m-%d %H:%M:%S.%f")
    assert calls[0].form["SentTime"] == calls[0].form["DeliveryReportTime"] == ""


def test_get_callbacks_carry_the_fields_in_the_query_and_are_signed(
    emulator: EmulatorServer,
) -> None:
    async def scenario() -> list[Received]:
        async with callback_receiver() as receiver:
            await send_async(emulator, url=receiver.url + "?tag=1", method="GET")
            return await receiver.wait_for(3)

    calls = asyncio.run(scenario())

    assert [c.method for c in calls] == ["GET", "GET", "GET"]
    assert [httpx.URL(c.url).params["Status"] for c in calls] == ["queued", "sent", "delivered"]
    assert all(httpx.URL(c.url).params["tag"] == "1" for c in calls)
    for call in calls:
        assert_signed_by_plivo(call, emulator.auth_token)


@pytest.mark.parametrize(
    ("outcome", "statuses"),
    [
        pytest.param(("undelivered", "30"), ["queued", "sent", "undelivered"], id="undelivered"),
        pytest.param(("failed", "450"), ["queued", "failed"], id="failed"),
    ],
)
def test_scripted_outcomes_end_the_callbacks_with_their_error_code(
    emulator: EmulatorServer, outcome: tuple[str, str], statuses: list[str]
) -> None:
    emulator.set_outcome(DST, *outcome)

    async def scenario() -> list[Received]:
        async with callback_receiver() as receiver:
            await send_async(emulator, url=receiver.url)
            return await receiver.wait_for(len(statuses))

    calls = asyncio.run(scenario())

    assert [c.form["Status"] for c in calls] == statuses
    assert [c.form["ErrorCode"] for c in calls] == [""] * (len(statuses) - 1) + [outcome[1]]
    assert_signed_by_plivo(calls[-1], emulator.auth_token)


def test_a_refused_callback_is_retried_and_every_attempt_recorded(
    emulator: EmulatorServer,
) -> None:
    async def scenario() -> list[Received]:
        async with callback_receiver(fail_first=2) as receiver:
            await send_async(emulator, url=receiver.url)
            return await receiver.wait_for(3)

    calls = asyncio.run(scenario())
    emulator.wait_for_callbacks()
    attempts = emulator.callback_attempts()

    assert [c.form["Sequence"] for c in calls] == ["1", "2", "3"]
    assert [(a.sequence, a.attempt, a.status) for a in attempts] == [
        (1, 0, 500),
        (1, 1, 500),
        (1, 2, 200),
        (2, 0, 200),
        (3, 0, 200),
    ]
    assert emulator.stats()["callbacks_sent"] == 5


def test_an_unreachable_callback_url_is_tried_four_times_per_state(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    emulator.set_outcome(DST, "failed", "50")
    send(client, url="http://127.0.0.1:9/status")  # the discard port: nothing listens

    emulator.wait_for_callbacks()
    attempts = client.get("/_emulator/callbacks").json()["attempts"]

    assert [(a["sequence"], a["attempt"]) for a in attempts] == [
        (sequence, attempt) for sequence in (1, 2) for attempt in range(4)
    ]
    assert all(a["status"] is None and a["error"] for a in attempts)


def test_callbacks_to_another_machine_are_refused_unless_allowed(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    """An exposed emulator must not post signed requests wherever a caller points it."""
    send(client, url="http://callbacks.example/status")

    emulator.wait_for_callbacks()
    attempts = client.get("/_emulator/callbacks").json()["attempts"]

    assert attempts
    assert all(a["status"] is None and a["error"].startswith("refused") for a in attempts)


# The official SDK against the emulator


@pytest.fixture
def sdk(emulator: EmulatorServer) -> Iterator[plivo.RestClient]:
    # The SDK reads its base URL from this module constant on every request (reference §9).
    with (
        mock.patch("plivo.rest.client.PLIVO_API_BASE_URI", emulator.plivo_base_uri),
        plivo.RestClient(emulator.auth_id, emulator.auth_token) as client,
    ):
        yield client


def test_the_sdk_sends_and_reads_back_through_the_emulator(sdk: plivo.RestClient) -> None:
    response = sdk.messages.create(src=SRC, dst=f"{DST}<{DST_UK}", text="hello")

    assert response.message == "message(s) queued"
    assert len(response.message_uuid) == 2
    message = sdk.messages.get(response.message_uuid[0])
    assert message.message_uuid == response.message_uuid[0]
    assert sdk.account.get().auth_id == DEFAULT_AUTH_ID


def test_the_sdk_raises_validation_error_for_a_400(sdk: plivo.RestClient) -> None:
    with pytest.raises(plivo.exceptions.ValidationError, match="is not a valid phone number"):
        sdk.messages.create(src=SRC, dst="1111111", text="hello")


def test_the_sdk_raises_authentication_error_for_a_401(emulator: EmulatorServer) -> None:
    with (
        mock.patch("plivo.rest.client.PLIVO_API_BASE_URI", emulator.plivo_base_uri),
        plivo.RestClient(emulator.auth_id, "wrong-token") as client,
        pytest.raises(plivo.exceptions.AuthenticationError, match="credentials invalid"),
    ):
        client.messages.create(src=SRC, dst=DST, text="hello")


def test_the_sdk_raises_resource_not_found_for_an_unknown_message(sdk: plivo.RestClient) -> None:
    with pytest.raises(plivo.exceptions.ResourceNotFoundError, match="not found"):
        sdk.messages.get(str(uuid.uuid4()))


def test_the_sdk_reports_a_429_only_as_a_bare_rest_error(
    emulator: EmulatorServer, sdk: plivo.RestClient
) -> None:
    emulator.set_faults(status=429, retry_after=1)

    with pytest.raises(plivo.exceptions.PlivoRestError, match="Received status code 429"):
        sdk.messages.create(src=SRC, dst=DST, text="hello")
