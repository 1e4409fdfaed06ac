"""A 405's ``Allow`` names every method served at the path, whichever route serves it
(issue #13, item 19): FastAPI routes a path's methods separately, and Starlette's own 405
names only the first route that matched."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from smsgate.api.app import create_app
from smsgate.api.routes import (
    batches,
    messages,
    numbers,
    opt_outs,
    plivo_callbacks,
    webhook_endpoints,
)
from tests.conftest import SettingsFactory
from tests.support.fakes import RecordingProvider
from tests.support.servers import LOCAL_BASE_URL

CANDIDATES = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def client(make_settings: SettingsFactory) -> Iterator[TestClient]:
    app = create_app(make_settings(), provider=RecordingProvider())
    with TestClient(app, base_url=LOCAL_BASE_URL) as client:
        yield client


def served() -> dict[str, set[str]]:
    """Each path template of the API and the methods its routes declare, read from the
    routers themselves (not through the app's routing, which the answer comes from)."""
    methods: dict[str, set[str]] = defaultdict(set, {"/api/send-sms": {"POST"}})
    methods["/api/v1/messages"].add("POST")  # both beside the fast lane, in create_app
    for module in (messages, batches, opt_outs, plivo_callbacks, webhook_endpoints, numbers):
        for route in module.router.routes:
            declared = getattr(route, "methods", None)
            path = getattr(route, "path", "")
            if declared and path.startswith("/api/"):
                methods[path] |= set(declared)
    return methods


def allowed(answer_allow: str) -> set[str]:
    return {method.strip() for method in answer_allow.split(",") if method.strip()}


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("PATCH", "/api/v1/webhooks", {"GET", "POST"}),
        ("PUT", "/api/v1/opt-outs", {"GET", "POST"}),
        ("PUT", "/api/v1/webhooks/wh_1", {"GET", "DELETE"}),
        ("DELETE", "/api/v1/messages", {"GET", "POST"}),
        ("GET", "/api/send-sms", {"POST"}),
    ],
)
def test_the_paths_found_with_two_methods_name_both(
    client: TestClient, method: str, path: str, expected: set[str]
) -> None:
    answer = client.request(method, path)
    assert answer.status_code == 405
    assert answer.json()["code"] == "method_not_allowed"
    assert allowed(answer.headers["allow"]) - {"HEAD"} == expected


def test_every_api_path_names_all_its_methods(client: TestClient) -> None:
    checked = 0
    seen: list[tuple[str, str, int]] = []
    for template, methods in served().items():
        path = re.sub(r"\{[^}]+\}", "x", template)
        for method in set(CANDIDATES) - methods:
            answer = client.request(method, path)
            if answer.status_code != 405:  # another template with this shape serves it
                seen.append((method, path, answer.status_code))
                continue
            assert allowed(answer.headers["allow"]) >= methods, (method, template)
            checked += 1
    assert checked > 20, seen
