"""Who may do what (issue #5): every /api route, for every kind of caller, as a table.

The routes are read from the app itself (FastAPI's routes and the fast lane's), so a route
added later without a row here fails the table instead of going untested. The callers are
real keys, stored in the test's database before the app starts, plus a bootstrap key from
SMSGATE_API_KEYS. A refused request must change nothing in the database and send nothing.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.types import ASGIApp

from smsgate.api.app import create_app
from smsgate.api.fastlane import FastLane
from smsgate.db.api_keys import ApiKeyStore
from smsgate.domain.access import ALL_SCOPES, Scope
from smsgate.emulator import DEFAULT_AUTH_TOKEN
from smsgate.providers.plivo.signature import signature_headers
from tests.conftest import SettingsFactory
from tests.support.api_keys import create_key, revoke_key, rows, sqlite_path, with_store
from tests.support.fakes import RecordingProvider
from tests.support.servers import LOCAL_BASE_URL, free_port, serve_in_thread

TO = "+14155552671"
OPTED_OUT = "+14155550142"
ANOTHER = "+14155550143"
BOOTSTRAP = "bootstrap-key-of-the-access-table"
SIGNED_PREFIX = "/api/v1/webhooks/plivo/"

SEND, READ, ADMIN = Scope.SEND, Scope.READ, Scope.ADMIN
Route = tuple[str, str]  # method, path template

# The scope each route needs. A route the app serves that is missing here fails every test
# of the table: add its row (and its request below, if it needs a body).
NEEDS: dict[Route, Scope] = {
    ("POST", "/api/send-sms"): SEND,
    ("GET", "/api/v1/numbers/check"): SEND,
    ("POST", "/api/v1/messages"): SEND,
    ("GET", "/api/v1/messages"): READ,
    ("GET", "/api/v1/messages.csv"): READ,
    ("GET", "/api/v1/messages/{message_id}"): READ,
    ("POST", "/api/v1/messages/{message_id}/cancel"): SEND,
    ("POST", "/api/v1/batches"): SEND,
    ("GET", "/api/v1/batches/{batch_id}"): READ,
    ("POST", "/api/v1/batches/{batch_id}/cancel"): SEND,
    ("GET", "/api/v1/opt-outs"): READ,
    ("POST", "/api/v1/opt-outs"): ADMIN,
    ("DELETE", "/api/v1/opt-outs/{number}"): ADMIN,
    # An endpoint receives every message's status: registering one reads everything.
    ("POST", "/api/v1/webhooks"): ADMIN,
    ("GET", "/api/v1/webhooks"): ADMIN,
    ("GET", "/api/v1/webhooks/{endpoint_id}"): ADMIN,
    ("DELETE", "/api/v1/webhooks/{endpoint_id}"): ADMIN,
    ("GET", "/api/v1/webhooks/{endpoint_id}/deliveries"): ADMIN,
    ("POST", "/api/v1/webhooks/{endpoint_id}/replay"): ADMIN,
    ("POST", "/api/v1/senders"): ADMIN,
    ("GET", "/api/v1/senders"): ADMIN,
    ("GET", "/api/v1/senders/{key}"): ADMIN,
    ("PATCH", "/api/v1/senders/{key}"): ADMIN,
    ("DELETE", "/api/v1/senders/{key}"): ADMIN,
    ("GET", "/api/v1/pools"): ADMIN,
}

# Paths under /api that no route of the table names: the guard does not know them, so they
# need admin, even those that merely start like a known route. Under the Plivo webhooks'
# prefix only those two routes go without a key: a webhook endpoint's id may read "plivo".
UNKNOWN: dict[Route, Scope] = {
    ("GET", "/api/"): ADMIN,
    ("GET", "/api/v1/no-such-route"): ADMIN,
    ("GET", "/api/v1/messages-export"): ADMIN,
    ("POST", "/api/v1/batches-archive"): ADMIN,
    ("GET", "/api/v1/opt-outs-export"): ADMIN,
    ("GET", "/api/v1/webhooks/plivo/deliveries"): ADMIN,
    ("POST", "/api/v1/webhooks/plivo/replay"): ADMIN,
    ("GET", "/api/v1/webhooks/plivo/no-such-route"): ADMIN,
}


@dataclass(frozen=True, slots=True)
class Seeded:
    """What the table's paths point at: a message queued for tomorrow, its batch, an opt-out."""

    message_id: str
    batch_id: str
    number: str
    later: str
    endpoint_id: str = "01M8J7J44ZQQNHM4DZGYMRSZ6C"  # no such endpoint: a 404 when allowed
    key: str = "01M8J7J44ZQQNHM4DZGYMRSZ6D"  # no such sender: a 404 when allowed


def request_arguments(route: Route, seeded: Seeded) -> dict[str, Any]:
    """The arguments of a valid request to ``route``: allowed, it does its work."""
    method, template = route
    arguments: dict[str, Any] = {"method": method, "url": template.format(**asdict(seeded))}
    match route:
        case ("POST", "/api/send-sms" | "/api/v1/messages"):
            arguments["json"] = {"to": TO, "text": "hello"}
        case ("POST", "/api/v1/batches"):
            arguments["content"] = f"to,text\n{TO},hello\n".encode()
            arguments["headers"] = {"Content-Type": "text/csv"}
            arguments["params"] = {"send_at": seeded.later}
        case ("POST", "/api/v1/opt-outs"):
            arguments["json"] = {"number": ANOTHER}
        case ("POST", "/api/v1/webhooks"):
            arguments["json"] = {"url": "http://127.0.0.1:9/events"}  # refused (private): 400
        case ("POST", "/api/v1/senders"):
            arguments["json"] = {"address": "not a sender!"}  # refused: 400
        case ("PATCH", "/api/v1/senders/{key}"):
            arguments["json"] = {"mps": 2}
    return arguments


def fastapi_of(app: ASGIApp) -> tuple[FastAPI, FastLane]:
    """The FastAPI app and the fast lane inside the middleware layers."""
    layer: Any = app
    lane: FastLane | None = None
    while not isinstance(layer, FastAPI):
        if isinstance(layer, FastLane):
            lane = layer
        layer = layer.app
    assert lane is not None
    return layer, lane


def api_routes(app: ASGIApp) -> set[Route]:
    """Every (method, path) the app serves under /api, fast lane included."""
    api, lane = fastapi_of(app)
    found: set[Route] = set(lane.routes)
    for route in iter_route_contexts(api.routes):
        if route.path and route.path.startswith("/api/") and route.methods:
            found |= {(method, route.path) for method in route.methods if method != "HEAD"}
    return found


def guarded_routes(app: ASGIApp) -> set[Route]:
    return {route for route in api_routes(app) if not route[1].startswith(SIGNED_PREFIX)}


def signed_routes(app: ASGIApp) -> set[Route]:
    return {route for route in api_routes(app) if route[1].startswith(SIGNED_PREFIX)}


# Who calls, and the scopes they hold; None: not a valid key at all.
GRANTS: dict[str, frozenset[Scope] | None] = {
    "no key": None,
    "bad key": None,
    "revoked key": None,
    "read-only key": frozenset({READ}),
    "test key (send,read)": frozenset({SEND, READ}),
    "live admin key": ALL_SCOPES,
    "bootstrap key": ALL_SCOPES,
}


def expected_refusal(grants: frozenset[Scope] | None, needs: Scope) -> int | None:
    if grants is None:
        return 401
    if ADMIN in grants or needs in grants:
        return None
    return 403


@dataclass
class World:
    client: TestClient
    provider: RecordingProvider
    database_url: str
    headers: dict[str, dict[str, str]]  # by caller
    key_ids: dict[str, str]  # stored keys' ids, by caller
    seeded: Seeded
    own_url: str  # what Plivo's signatures cover


def store_callers(database_url: str) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Every caller's Authorization header, their keys stored (and one revoked)."""
    made = {
        "read-only key": create_key(database_url, "reports", "read"),
        "test key (send,read)": create_key(database_url, "staging", "send,read", test=True),
        "live admin key": create_key(database_url, "ops", "admin"),
        "revoked key": create_key(database_url, "old shop", "send,read"),
    }
    assert revoke_key(database_url, made["revoked key"][0].prefix) is not None
    headers = {name: {"Authorization": f"Bearer {key}"} for name, (_, key) in made.items()}
    headers["no key"] = {}
    headers["bad key"] = {"Authorization": "Bearer sg_live_" + "x" * 40}
    headers["bootstrap key"] = {"Authorization": f"Bearer {BOOTSTRAP}"}
    return headers, {name: record.id for name, (record, _) in made.items()}


def seed(client: TestClient, headers: dict[str, str]) -> Seeded:
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    queued = client.post(
        "/api/v1/messages", json={"to": TO, "text": "tomorrow", "send_at": later}, headers=headers
    )
    assert queued.status_code == 202, queued.text
    opted = client.post("/api/v1/opt-outs", json={"number": OPTED_OUT}, headers=headers)
    assert opted.status_code == 201, opted.text
    batch = queued.json()
    return Seeded(batch["messages"][0]["id"], batch["batch_id"], OPTED_OUT, later)


@pytest.fixture
def world(make_settings: SettingsFactory) -> Iterator[World]:
    # A port nobody listens on: the sandbox's callbacks for test keys' messages go nowhere.
    # The webhooks' signatures cover this address (there is no SMSGATE_PUBLIC_URL).
    settings = make_settings(
        api_keys=BOOTSTRAP, port=free_port(), plivo_auth_token=DEFAULT_AUTH_TOKEN
    )
    headers, key_ids = store_callers(settings.database_url)
    provider = RecordingProvider()
    app = create_app(settings, provider=provider)
    with TestClient(app, base_url=LOCAL_BASE_URL) as client:
        seeded = seed(client, headers["bootstrap key"])
        yield World(
            client,
            provider,
            settings.database_url,
            headers,
            key_ids,
            seeded,
            f"http://{settings.host}:{settings.port}",
        )


# Written in the background, whatever the requests: the keys' last use, and the webhook
# fan-out's bookkeeping (it marks status changes as looked at, and empties its outbox).
BACKGROUND_TABLES = {"api_keys", "alembic_version", "webhook_outbox"}
BACKGROUND_COLUMNS = {"message_events": "published"}


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but what the background writes."""
    with closing(sqlite3.connect(sqlite_path(database_url))) as connection:
        tables = [
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if name not in BACKGROUND_TABLES
        ]
        found = {}
        for table in tables:
            # The names come from sqlite_master, not from a request.
            columns = [
                row[1]
                for row in connection.execute(f'PRAGMA table_info("{table}")')
                if row[1] != BACKGROUND_COLUMNS.get(table)
            ]
            listed = ", ".join(f'"{column}"' for column in columns)
            rows = connection.execute(f'SELECT {listed} FROM "{table}"')  # noqa: S608
            found[table] = sorted(rows, key=repr)
        return found


def test_the_table_covers_every_route_the_app_serves(make_settings: SettingsFactory) -> None:
    app = create_app(make_settings())
    assert guarded_routes(app) == set(NEEDS), "add the new routes to NEEDS"
    assert signed_routes(app), "the Plivo webhooks are routes too"
    assert not set(UNKNOWN) & api_routes(app)


@pytest.mark.parametrize("caller", list(GRANTS))
def test_who_may_do_what_on_every_route(world: World, caller: str) -> None:
    grants = GRANTS[caller]
    headers = world.headers[caller]
    wrong: list[str] = []
    table = {**{route: NEEDS.get(route) for route in guarded_routes(world.client.app)}, **UNKNOWN}
    for route, needs in sorted(table.items()):
        if needs is None:
            wrong.append(f"{route}: not in the table (NEEDS)")
            continue
        refusal = expected_refusal(grants, needs)
        arguments = request_arguments(route, world.seeded)
        arguments["headers"] = {**arguments.get("headers", {}), **headers}
        before = snapshot(world.database_url) if refusal else None
        sent_before = len(world.provider.sent)
        response = world.client.request(**arguments)
        cell = f"{route} needs {needs.value}: {response.status_code} {response.text[:120]}"
        if refusal is None:
            if response.status_code in (401, 403):
                wrong.append(f"{cell}; expected it allowed")
            continue
        if response.status_code != refusal:
            wrong.append(f"{cell}; expected {refusal}")
            continue
        code = response.json().get("code")
        if refusal == 401 and (
            code != "unauthorized" or response.headers.get("WWW-Authenticate") != "Bearer"
        ):
            wrong.append(f"{cell}; expected code unauthorized and WWW-Authenticate: Bearer")
        if refusal == 403 and code != "insufficient_scope":
            wrong.append(f"{cell}; expected code insufficient_scope")
        if snapshot(world.database_url) != before or len(world.provider.sent) != sent_before:
            wrong.append(f"{cell}; refused, yet it changed the database or sent")
    assert not wrong, f"{caller}:\n" + "\n".join(wrong)


def test_a_test_keys_messages_never_reach_the_configured_provider(world: World) -> None:
    headers = world.headers["test key (send,read)"]
    for path in ("/api/send-sms", "/api/v1/messages"):
        response = world.client.post(path, json={"to": TO, "text": "hi"}, headers=headers)
        assert response.status_code in (200, 201), response.text
    assert world.provider.sent == []
    stored = rows(
        world.database_url,
        "SELECT provider FROM messages WHERE api_key_id = ?",
        world.key_ids["test key (send,read)"],
    )
    assert [row["provider"] for row in stored] == ["sandbox", "sandbox"]


MALFORMED: dict[str, bytes] = {
    "another scheme": b"Basic c2dfbGl2ZV94eHg6",
    "no key after Bearer": b"Bearer ",
    "the key alone": b"sg_live_" + b"x" * 40,
    "far too long": b"Bearer " + b"k" * 5000,
    "not ASCII": "Bearer cl\u00e9".encode(),
}


@pytest.mark.parametrize("authorization", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_authorization_header_is_401(world: World, authorization: bytes) -> None:
    before = snapshot(world.database_url)
    response = world.client.post(
        "/api/send-sms", json={"to": TO, "text": "hi"}, headers={b"Authorization": authorization}
    )
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert snapshot(world.database_url) == before
    assert world.provider.sent == []


def webhook_request(route: Route, token: str | None, own_url: str) -> dict[str, Any]:
    """A Plivo-shaped report to ``route``, signed with ``token`` (unsigned without one)."""
    method, path = route
    fields = {"MessageUUID": "0b9d8f7c-unknown", "Status": "delivered", "To": "14155552671"}
    if path.endswith("/inbound"):
        fields = {"From": "14155552671", "To": "14155550199", "Text": "hello", "Type": "sms"}
    if method == "GET":
        query = httpx.QueryParams(fields)
        headers = signature_headers("GET", f"{own_url}{path}?{query}", token, None) if token else {}
        return {"method": "GET", "url": f"{path}?{query}", "headers": headers}
    headers = signature_headers("POST", f"{own_url}{path}", token, fields) if token else {}
    return {"method": "POST", "url": path, "data": fields, "headers": headers}


@pytest.mark.parametrize(
    "token", [None, "not-the-auth-token"], ids=["unsigned", "signed with another token"]
)
def test_the_plivo_webhooks_need_no_key_but_refuse_a_bad_signature(
    world: World, token: str | None
) -> None:
    routes = signed_routes(world.client.app)
    before = snapshot(world.database_url)
    for route in sorted(routes):
        response = world.client.request(**webhook_request(route, token, world.own_url))
        assert response.status_code == 403, (route, response.text)
        assert response.json()["code"] == "invalid_signature", route
    assert snapshot(world.database_url) == before


def test_the_plivo_webhooks_answer_a_signed_request_without_a_key(world: World) -> None:
    before = snapshot(world.database_url)
    for route in sorted(signed_routes(world.client.app)):
        response = world.client.request(**webhook_request(route, DEFAULT_AUTH_TOKEN, world.own_url))
        assert response.status_code == 200, (route, response.text)
    after = snapshot(world.database_url)
    # Taken, not just answered: each inbound message is stored once (GET and POST alike); the
    # status report names no known message, so no message changed.
    assert len(after["inbound_messages"]) == len(before["inbound_messages"]) + sum(
        1 for _, path in signed_routes(world.client.app) if path.endswith("/inbound")
    )
    assert after["messages"] == before["messages"]


class Answer(Protocol):
    """A response from httpx or from the test client (which has its own httpx)."""

    @property
    def status_code(self) -> int: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


def message_ids(response: Answer) -> list[str]:
    """The ids of the messages an answer names: one sent, or a queued batch's."""
    assert response.status_code in (200, 201, 202), response.text
    document = response.json()
    if "messages" in document:
        return [message["id"] for message in document["messages"]]
    return [document.get("id") or document["message_id"]]


def test_messages_record_the_key_that_sent_them(world: World) -> None:
    client, seeded = world.client, world.seeded
    tester, admin = world.headers["test key (send,read)"], world.headers["live admin key"]
    by_tester = message_ids(
        client.post("/api/send-sms", json={"to": TO, "text": "a"}, headers=tester)
    )
    by_admin = message_ids(
        client.post("/api/v1/messages", json={"to": TO, "text": "b"}, headers=admin)
    )
    by_admin += message_ids(
        client.post(
            "/api/v1/batches",
            content=f"to,text\n{TO},d\n".encode(),
            params={"send_at": seeded.later},
            headers={**admin, "Content-Type": "text/csv"},
        )
    )
    queued = {"to": [TO, ANOTHER], "text": "c", "mode": "queued"}
    by_bootstrap = message_ids(
        client.post("/api/v1/messages", json=queued, headers=world.headers["bootstrap key"])
    )
    by_bootstrap.append(seeded.message_id)

    recorded = {
        row["id"]: row["api_key_id"]
        for row in rows(world.database_url, "SELECT id, api_key_id FROM messages")
    }
    assert {recorded[i] for i in by_tester} == {world.key_ids["test key (send,read)"]}
    assert {recorded[i] for i in by_admin} == {world.key_ids["live admin key"]}
    (bootstrap_id,) = {recorded[i] for i in by_bootstrap}  # one id, whichever route
    assert bootstrap_id is not None
    assert bootstrap_id.startswith("env_")
    assert BOOTSTRAP not in bootstrap_id


def test_one_idempotency_key_used_by_two_api_keys_makes_two_messages(world: World) -> None:
    client = world.client
    first, second = world.headers["live admin key"], world.headers["bootstrap key"]
    same = {"Idempotency-Key": "order-1001"}
    body = {"to": TO, "text": "your order shipped"}

    a = client.post("/api/v1/messages", json=body, headers={**first, **same})
    b = client.post("/api/v1/messages", json=body, headers={**second, **same})
    assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
    assert a.json()["id"] != b.json()["id"]
    # Another body under the same Idempotency-Key, by yet another key: no conflict either.
    other = client.post(
        "/api/send-sms",
        json={"to": TO, "text": "something else"},
        headers={**world.headers["test key (send,read)"], **same},
    )
    assert other.status_code == 200, other.text

    again = client.post("/api/v1/messages", json=body, headers={**first, **same})
    assert again.status_code == 201
    assert again.json()["id"] == a.json()["id"]
    assert len(world.provider.sent) == 2  # the repeat sent nothing
    keys = {
        row["id"]: row["api_key_id"] for row in rows(world.database_url, "SELECT * FROM messages")
    }
    assert keys[a.json()["id"]] == world.key_ids["live admin key"]
    assert keys[b.json()["id"]] != keys[a.json()["id"]]


def environment(database_url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PLIVO_", "SMSGATE_"))}
    return {**base, "SMSGATE_DATABASE_URL": database_url}


def test_a_key_revoked_with_the_cli_fails_at_once_on_a_running_server(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings()
    record, key = create_key(settings.database_url, "shop", "send,read")
    bearer = {"Authorization": f"Bearer {key}"}
    with serve_in_thread(create_app(settings, provider=RecordingProvider())) as url:
        assert httpx.get(f"{url}/api/v1/messages", headers=bearer).status_code == 200
        revoked = subprocess.run(
            [sys.executable, "-m", "smsgate", "keys", "revoke", record.prefix],
            capture_output=True,
            text=True,
            env=environment(settings.database_url),
            timeout=60,
            check=False,
        )
        assert revoked.returncode == 0, revoked.stderr
        response = httpx.get(f"{url}/api/v1/messages", headers=bearer)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
        sent = httpx.post(f"{url}/api/send-sms", json={"to": TO, "text": "hi"}, headers=bearer)
        assert sent.status_code == 401
    assert rows(settings.database_url, "SELECT count(*) AS n FROM messages") == [{"n": 0}]


def wait_until(check: Callable[[], bool], seconds: float) -> float:
    """Seconds it took ``check`` to hold; AssertionError after ``seconds``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"still not so after {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_keys_are_required_once_the_first_is_stored_and_revoking_all_does_not_reopen(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings()  # no SMSGATE_API_KEYS: open, on loopback
    url = settings.database_url
    app = create_app(settings, provider=RecordingProvider())
    with TestClient(app, base_url=LOCAL_BASE_URL) as client:
        assert client.get("/api/v1/messages").status_code == 200  # open
        record, key = create_key(url, "first", "read")
        took = wait_until(lambda: client.get("/api/v1/messages").status_code == 401, 3)
        assert took < 1.5, f"keys were required only {took:.2f} s after the first was stored"
        bearer = {"Authorization": f"Bearer {key}"}
        assert client.get("/api/v1/messages", headers=bearer).status_code == 200
        assert client.post("/api/send-sms", json={"to": TO, "text": "x"}).status_code == 401

        assert revoke_key(url, record.id) is not None  # the only key: none is active now
        time.sleep(1.2)  # past the recheck
        for headers in ({}, bearer):
            response = client.get("/api/v1/messages", headers=headers)
            assert response.status_code == 401, response.text
    # Nor after a restart.
    restarted = create_app(settings, provider=RecordingProvider())
    with TestClient(restarted, base_url=LOCAL_BASE_URL) as client:
        assert client.get("/api/v1/messages").status_code == 401
        assert client.post("/api/send-sms", json={"to": TO, "text": "x"}).status_code == 401
    assert rows(url, "SELECT count(*) AS n FROM messages") == [{"n": 0}]

    async def active(store: ApiKeyStore) -> int:
        return sum(1 for k in await store.all() if k.active)

    assert with_store(url, active) == 0
