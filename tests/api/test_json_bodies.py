"""One rule for every JSON route (issue #13, item 4): the body is read as JSON whatever
``Content-Type`` says, so ``curl -d`` (form-encoded by default) or a client that sends no type
works as a JSON client does, and a body FastAPI refuses gets the send routes' codes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from smsgate.api.app import create_app
from smsgate.api.json_body import JsonBodyRoute
from tests.conftest import SettingsFactory
from tests.support.fakes import RecordingProvider
from tests.support.servers import LOCAL_BASE_URL

TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain", None]


@pytest.fixture
def client(make_settings: SettingsFactory) -> Iterator[TestClient]:
    # This machine has no DNS: the example's host (example.com) cannot be resolved, so the
    # webhook guard's name check is off; its address rules are tested in test_webhooks.py.
    settings = make_settings(callback_secret="s" * 32, webhooks_allow_private=True)
    with TestClient(
        create_app(settings, provider=RecordingProvider()), base_url=LOCAL_BASE_URL
    ) as client:
        yield client


def post(
    client: TestClient, path: str, body: bytes, content_type: str | None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    answer = client.post(path, content=body, headers=headers)
    document: dict[str, Any] = answer.json() if answer.content else {}
    return answer.status_code, document


@pytest.mark.parametrize("content_type", TYPES)
@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/send-sms", b'{"to": "+14155552671", "text": "hi"}', 200),
        ("/api/v1/messages", b'{"to": "+14155552671", "text": "hi"}', 201),
        ("/api/v1/opt-outs", b'{"number": "+14155552671"}', 201),
        (
            "/api/v1/webhooks",
            b'{"url": "https://app.example.com/smsgate", "events": ["message.status_changed"]}',
            201,
        ),
    ],
)
def test_a_json_body_is_json_whatever_its_content_type_says(
    client: TestClient, path: str, body: bytes, status: int, content_type: str | None
) -> None:
    answered, document = post(client, path, body, content_type)
    assert (answered, document.get("code")) == (status, None), document


@pytest.mark.parametrize("content_type", TYPES)
@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"url=https://app.example.com", "invalid_json"),
        (b"[1]", "invalid_body"),
        (b"{}", "missing_field"),
        (b'{"url": 3}', "invalid_field_type"),
        (b'{"url": "https://app.example.com", "colour": "red"}', "unknown_field"),
    ],
)
def test_a_body_fastapi_refuses_gets_the_send_routes_codes(
    client: TestClient, body: bytes, code: str, content_type: str | None
) -> None:
    for path in ("/api/v1/webhooks", "/api/v1/opt-outs"):
        if path.endswith("opt-outs"):
            body = body.replace(b"url", b"number")
        answered, document = post(client, path, body, content_type)
        assert (answered, document["code"]) == (400, code), (path, document)
        assert document["success"] is False


def test_every_route_with_a_json_body_follows_the_one_rule(client: TestClient) -> None:
    """A route FastAPI reads a JSON body for must be a JsonBodyRoute: a new one that is not
    would refuse ``curl -d`` again."""
    app = client.app
    while not isinstance(app, FastAPI):
        app = app.app  # type: ignore[attr-defined]  # through the middleware
    with_bodies = [route for route in api_routes(app.routes) if route.body_field is not None]
    assert with_bodies, "the JSON routes were not found"
    assert [r.path for r in with_bodies if not isinstance(r, JsonBodyRoute)] == []


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every FastAPI route, inside the included routers too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI's included router
        if included is not None:
            yield from api_routes(included.routes)
