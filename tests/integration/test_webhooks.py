"""Webhooks to the user's app over real HTTP: a local receiver checks signatures, order,
backoff, dead-lettering and replay, isolation between endpoints, and a restart.

smsgate runs on the sandbox (its signed delivery reports drive the statuses) with short
webhook settings; ``SMSGATE_WEBHOOKS_ALLOW_PRIVATE`` lets it reach the receiver on loopback.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from smsgate.api.app import create_app
from smsgate.bootstrap import callback_token
from smsgate.config import ProviderName, Settings
from smsgate.providers.plivo.signature import signature_headers
from smsgate.webhooks import InvalidSignature, verify
from tests.cli.test_cli import environment
from tests.conftest import SettingsFactory
from tests.support.receiver import Receiver, running_receiver
from tests.support.servers import free_port, serve_in_thread

pytestmark = pytest.mark.integration
TO = "+14155550123"
Start = Callable[..., str]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(
        provider=ProviderName.SANDBOX,
        webhooks_allow_private=True,
        webhook_timeout=1.0,
        webhook_retry_base=0.2,
        callback_secret=SecretStr("whsec_callbacks"),
    )


@contextmanager
def smsgate(settings: Settings, **changes: Any) -> Iterator[str]:
    """smsgate in a thread, where the sandbox posts its reports (its own port)."""
    port = free_port()
    served = settings.model_copy(update={"port": port, **changes})
    with serve_in_thread(create_app(served), port=port) as url:
        yield url


@pytest.fixture
def url(settings: Settings) -> Iterator[str]:
    with smsgate(settings) as running:
        yield running


def register(url: str, target: str, events: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": target}
    if events is not None:
        body["events"] = events
    answer = httpx.post(f"{url}/api/v1/webhooks", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def send(url: str, to: str = TO, **fields: Any) -> str:
    answer = httpx.post(f"{url}/api/v1/messages", json={"to": to, "text": "hi", **fields})
    assert answer.status_code in (201, 202), answer.text
    message_id: str = answer.json().get("id") or answer.json()["messages"][0]["id"]
    return message_id


def deliveries(url: str, endpoint_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/webhooks/{endpoint_id}/deliveries", timeout=10)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def events(posts: list[Any], secret: str) -> list[dict[str, Any]]:
    return [verify(p.body, p.headers["smsgate-signature"], secret) for p in posts]


def test_each_status_change_arrives_once_signed_with_a_rising_sequence(
    url: str, receiver: Receiver
) -> None:
    endpoint = register(url, receiver.answer("/hook", 200))
    assert endpoint["secret"].startswith("whsec_")
    message_id = send(url)
    receiver.wait_for("/hook", 1, where=lambda post: b'"status":"delivered"' in post.body)
    time.sleep(0.3)  # anything else that would come
    posts = receiver.at("/hook")
    seen = events(posts, endpoint["secret"])
    assert [e["type"] for e in seen] == ["message.status_changed"] * len(seen)
    assert all(e["data"]["id"] == message_id for e in seen)
    statuses = [e["data"]["status"] for e in sorted(seen, key=lambda e: e["data"]["sequence"])]
    assert statuses == ["accepted", "sending", "queued", "sent", "delivered"]
    assert len({e["id"] for e in seen}) == len(seen)  # one event per change, never repeated
    for post, event in zip(posts, seen, strict=True):
        assert post.headers["smsgate-event-id"] == event["id"]
    delivered = next(e for e in seen if e["data"]["status"] == "delivered")
    assert delivered["data"]["to"] == TO
    assert delivered["data"]["segments"] == 1
    assert delivered["data"]["estimated_cost"] == "0.00350"
    # A receiver with the wrong secret, or a changed body, would be told so.
    with pytest.raises(InvalidSignature):
        verify(posts[0].body, posts[0].headers["smsgate-signature"], "whsec_wrong")
    with pytest.raises(InvalidSignature):
        verify(posts[0].body + b" ", posts[0].headers["smsgate-signature"], endpoint["secret"])


def test_an_endpoint_gets_only_the_events_it_asked_for(url: str, receiver: Receiver) -> None:
    opt_outs = register(url, receiver.answer("/opt-outs", 200), ["opt_out.changed"])
    inbound = register(url, receiver.answer("/inbound", 200), ["message.inbound"])
    send(url)
    assert httpx.post(f"{url}/api/v1/opt-outs", json={"number": TO}).status_code == 201
    assert httpx.delete(f"{url}/api/v1/opt-outs/{TO}").status_code == 204
    # Posted side by side, they may arrive in either order; receivers sort by time.
    arrived = events(receiver.wait_for("/opt-outs", 2), opt_outs["secret"])
    changes = sorted(arrived, key=lambda e: e["occurred_at"])
    assert [(e["type"], e["data"]["opted_out"]) for e in changes] == [
        ("opt_out.changed", True),
        ("opt_out.changed", False),
    ]
    assert changes[0]["data"]["number"] == TO
    # An inbound SMS, as Plivo posts it, signed.
    fields = {
        "From": "14155550123",
        "To": "14155550199",
        "Text": "Hello back",
        "Type": "sms",
        "MessageUUID": "in-uuid-1",
    }
    target = f"{url}/api/v1/webhooks/plivo/inbound"
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    # The sandbox's reports and this test sign alike: with this process's callback token.
    headers = signature_headers("POST", target, callback_token(settings), fields)
    answer = httpx.post(target, data=fields, headers=headers)
    assert answer.status_code == 200, answer.text
    (received,) = events(receiver.wait_for("/inbound", 1), inbound["secret"])
    assert received["type"] == "message.inbound"
    assert received["data"]["text"] == "Hello back"
    assert received["data"]["from"] == "+14155550123"
    time.sleep(0.5)
    assert len(receiver.at("/opt-outs")) == 2  # and no message events reached either
    assert len(receiver.at("/inbound")) == 1


def test_a_failing_receiver_is_retried_with_growing_waits(url: str, receiver: Receiver) -> None:
    endpoint = register(url, receiver.answer("/flaky", 500, 503, 500, 200), ["opt_out.changed"])
    assert httpx.post(f"{url}/api/v1/opt-outs", json={"number": TO}).status_code == 201
    posts = receiver.wait_for("/flaky", 4, seconds=20)
    assert len({p.body for p in posts}) == 1  # the same event, byte for byte
    gaps = [b.at - a.at for a, b in itertools.pairwise(posts)]
    # Full jitter between half the base and the doubling ceiling: 0.1-0.2, 0.1-0.4, 0.1-0.8 s.
    assert all(gap >= 0.09 for gap in gaps), gaps
    assert all(gap <= ceiling + 1.2 for gap, ceiling in zip(gaps, (0.2, 0.4, 0.8), strict=True))
    wait_until(lambda: deliveries(url, endpoint["id"])[0]["state"] == "delivered", 5, "delivered")
    (delivery,) = deliveries(url, endpoint["id"])
    assert [t["status_code"] for t in delivery["tries"]] == [500, 503, 500, 200]
    assert all(t["latency_ms"] >= 0 for t in delivery["tries"])
    assert delivery["attempts"] == 4


def test_a_dead_delivery_is_replayed_through_the_api_and_the_cli(
    settings: Settings, receiver: Receiver
) -> None:
    with smsgate(settings, webhook_max_age=1.0) as url:
        endpoint = register(url, receiver.answer("/down", 500), ["opt_out.changed"])
        for number in (TO, "+14155550124"):
            assert httpx.post(f"{url}/api/v1/opt-outs", json={"number": number}).status_code == 201

        def states() -> list[str]:
            return sorted(d["state"] for d in deliveries(url, endpoint["id"]))

        wait_until(lambda: states() == ["dead", "dead"], 15, "both deliveries to die")
        listed = subprocess.run(
            [sys.executable, "-m", "smsgate", "webhooks", "list"],
            env=environment(SMSGATE_DATABASE_URL=settings.database_url),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        line = next(row for row in listed.stdout.splitlines() if row.startswith(endpoint["id"]))
        assert line.split()[1:3] == ["0", "2"]  # pending, dead
        receiver.answer("/down", 200)
        first = deliveries(url, endpoint["id"])[0]
        replay = httpx.post(
            f"{url}/api/v1/webhooks/{endpoint['id']}/replay", json={"delivery_id": first["id"]}
        )
        assert replay.json() == {"replayed": 1}
        wait_until(lambda: states() == ["dead", "delivered"], 5, "the replayed one")
        env = environment(SMSGATE_DATABASE_URL=settings.database_url)
        cli = subprocess.run(
            [sys.executable, "-m", "smsgate", "webhooks", "replay", endpoint["id"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert cli.returncode == 0, cli.stderr
        assert "Replaying 1 dead delivery" in cli.stdout
        wait_until(lambda: states() == ["delivered", "delivered"], 5, "the CLI's replay")


def test_an_endpoint_that_hangs_does_not_slow_another(url: str, receiver: Receiver) -> None:
    register(url, receiver.answer("/slow", 200, delay=3.0), ["message.status_changed"])
    fast = register(url, receiver.answer("/fast", 200), ["message.status_changed"])
    started = time.monotonic()
    for n in range(3):
        send(url, f"+1415555020{n}")
    # 3 messages x 5 changes: the fast endpoint gets all 15 while the slow one times out.
    posts = receiver.wait_for("/fast", 15, seconds=10)
    assert posts[-1].at - started < 3.0
    assert len(events(posts, fast["secret"])) == 15


def test_events_wait_out_a_restart_and_are_delivered_after(
    settings: Settings, receiver: Receiver
) -> None:
    with smsgate(settings) as url:
        endpoint = register(url, receiver.answer("/later", 503), ["opt_out.changed"])
        assert httpx.post(f"{url}/api/v1/opt-outs", json={"number": TO}).status_code == 201
        receiver.wait_for("/later", 1)
    receiver.answer("/later", 200)
    with smsgate(settings) as url:
        wait_until(
            lambda: [d["state"] for d in deliveries(url, endpoint["id"])] == ["delivered"],
            10,
            "delivery after the restart",
        )
    bodies = {p.body for p in receiver.at("/later")}
    assert len(bodies) == 1  # the same event, not a new one
    assert json.loads(next(iter(bodies)))["data"]["opted_out"] is True


def test_a_messages_own_callback_url_gets_its_changes_signed_with_the_callback_secret(
    url: str, receiver: Receiver
) -> None:
    target = receiver.answer("/mine", 200)
    message_id = send(url, callback_url=target)
    wait_until(lambda: len(receiver.at("/mine")) >= 5, 10, "five changes")
    seen = events(receiver.at("/mine"), "whsec_callbacks")
    assert {e["data"]["id"] for e in seen} == {message_id}
    send(url, "+14155550125")  # no callback_url: nothing more arrives there
    time.sleep(1)
    assert len(receiver.at("/mine")) == 5


def test_webhook_urls_must_be_public_unless_allowed(settings: Settings, receiver: Receiver) -> None:
    with smsgate(settings, webhooks_allow_private=False) as url:
        for target in (
            receiver.url + "/x",
            "http://localhost:9/x",
            "http://10.0.0.5/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/x",
            "http://[::ffff:192.168.0.1]/x",
            "ftp://example.com/x",
            "http://user:pw@example.com/x",
        ):
            answer = httpx.post(f"{url}/api/v1/webhooks", json={"url": target})
            assert answer.status_code == 400, (target, answer.text)
            assert answer.json()["code"] == "invalid_webhook_url"
        answer = httpx.post(
            f"{url}/api/v1/messages", json={"to": TO, "text": "hi", "callback_url": receiver.url}
        )
        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_callback_url"
        assert httpx.get(f"{url}/api/v1/webhooks").json() == {"data": []}


def test_callback_url_needs_the_callback_secret(settings: Settings, receiver: Receiver) -> None:
    with smsgate(settings, callback_secret=None) as url:
        answer = httpx.post(
            f"{url}/api/v1/messages", json={"to": TO, "text": "hi", "callback_url": receiver.url}
        )
    assert answer.status_code == 400
    assert answer.json()["code"] == "callback_url_unavailable"


def test_the_python_client_passes_a_callback_url_on(url: str, receiver: Receiver) -> None:
    from smsgate import Client

    target = receiver.answer("/client", 200)
    with Client(url) as client:
        sent = client.send(TO, "hi", callback_url=target)
        batch = client.send_bulk(["+14155550126"], "hi", callback_url=target)
    ids = {sent.id, batch.messages[0].id}
    wait_until(lambda: len(receiver.at("/client")) >= 10, 10, "both messages' five changes")
    assert {e["data"]["id"] for e in events(receiver.at("/client"), "whsec_callbacks")} == ids
