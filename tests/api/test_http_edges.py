"""The HTTP edges answer in the one error shape with the documented codes (issue #13, items
18 and 20): a chunked body over the cap is 413 on every route, as one that says its length is;
headers over their caps are 431."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from smsgate.api.app import create_app
from smsgate.api.errors import BATCH_BODY_BYTES, MAX_BODY_BYTES, UPLOAD_BODY_BYTES
from tests.conftest import ServeApp, SettingsFactory
from tests.support.fakes import RecordingProvider
from tests.support.servers import LOCAL_BASE_URL


@pytest.fixture
def client(make_settings: SettingsFactory) -> Iterator[TestClient]:
    app = create_app(make_settings(), provider=RecordingProvider())
    with TestClient(app, base_url=LOCAL_BASE_URL) as client:
        yield client


def chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    """A JSON-looking body of ``total`` bytes, sent chunked (no Content-Length)."""
    yield b'{"to": "+14155552671", "text": "'
    sent = 33
    while sent < total:
        piece = min(size, total - sent)
        yield b"a" * piece
        sent += piece
    yield b'"}'


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/api/send-sms", MAX_BODY_BYTES),
        ("/api/v1/messages", BATCH_BODY_BYTES),
        ("/api/v1/opt-outs", MAX_BODY_BYTES),
        ("/api/v1/webhooks", MAX_BODY_BYTES),
        ("/api/v1/batches", UPLOAD_BODY_BYTES),
    ],
)
@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_body_over_the_cap_is_413_however_it_is_sent(
    client: TestClient, path: str, limit: int, chunked: bool
) -> None:
    body = chunks(limit + 1024) if chunked else b"".join(chunks(limit + 1024))
    kind = "text/csv" if path.endswith("/batches") else "application/json"
    answer = client.post(path, content=body, headers={"Content-Type": kind})
    assert answer.status_code == 413, answer.text
    assert answer.json() == {
        "success": False,
        "error": f"The request body is over {limit // 1024} KiB.",
        "code": "body_too_large",
    }


def test_one_huge_header_is_431(client: TestClient) -> None:
    answer = client.get("/api/v1/messages", headers={"X-Big": "a" * 300_000})
    assert answer.status_code == 431
    assert answer.json()["code"] == "headers_too_large"


def test_too_many_headers_are_431(client: TestClient) -> None:
    headers = {f"X-Field-{n}": "1" for n in range(500)}
    answer = client.get("/api/v1/messages", headers=headers)
    assert answer.status_code == 431
    assert answer.json()["code"] == "headers_too_large"


def test_ordinary_headers_pass(client: TestClient) -> None:
    headers = {f"X-Field-{n}": "v" * 100 for n in range(40)}
    assert client.get("/api/v1/messages", headers=headers).status_code == 200


@pytest.mark.integration
def test_uvicorn_passes_big_headers_on_and_the_app_answers_431(serve: ServeApp) -> None:
    """Over real HTTP (uvicorn with httptools), where nothing below the app caps them."""
    url = serve()
    big = httpx.get(f"{url}/api/v1/messages", headers={"X-Big": "a" * 300_000}, timeout=10)
    assert (big.status_code, big.json()["code"]) == (431, "headers_too_large")
    many = {f"X-Field-{n}": "1" for n in range(500)}
    answer = httpx.get(f"{url}/api/v1/messages", headers=many, timeout=10)
    assert (answer.status_code, answer.json()["code"]) == (431, "headers_too_large")
