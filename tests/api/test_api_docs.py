"""The API page at /docs: Swagger UI from files shipped in the package, under the strict policy.

Nothing on it comes from another origin, so it renders offline and runs no third-party script
on the console's origin; ``tests/browser`` checks that it renders in Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from smsgate.api.app import create_app
from tests.conftest import SettingsFactory
from tests.support.servers import LOCAL_BASE_URL

TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


@pytest.fixture
def client(make_settings: SettingsFactory) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings()), base_url=LOCAL_BASE_URL) as test_client:
        yield test_client


class Loads(HTMLParser):
    """What a page makes the browser load or run: script sources, linked files, inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.data: dict[str, str] = {}
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        self.data.update({k: v for k, v in found.items() if k.startswith("data-")})
        if tag == "script":
            self._in_script = True
            if "src" in found:
                self.urls.append(found["src"])
        elif tag == "link" and "href" in found:
            self.urls.append(found["href"])
        elif tag == "img" and "src" in found:
            self.urls.append(found["src"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def loads(html: str) -> Loads:
    parser = Loads()
    parser.feed(html)
    return parser


def test_the_api_page_loads_nothing_from_another_origin(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "http://" not in docs.text
    assert "https://" not in docs.text
    page = loads(docs.text)
    assert page.urls  # Swagger UI's script and style sheet, at least
    assert all(url.startswith("/") and not url.startswith("//") for url in page.urls), page.urls
    # An inline script would be refused by the policy: the page's own script is a file.
    assert page.inline_scripts == 0


def test_the_api_page_has_the_consoles_strict_policy(client: TestClient) -> None:
    docs = client.get("/docs")
    policy = docs.headers["content-security-policy"]
    assert policy == client.get("/login").headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy
    assert docs.headers["x-frame-options"] == "DENY"


def test_every_file_the_api_page_names_is_served_with_its_type(client: TestClient) -> None:
    page = loads(client.get("/docs").text)
    names = [url.rsplit("/", 1)[-1] for url in page.urls]
    assert "swagger-ui-bundle.js" in names
    assert "swagger-ui.css" in names
    for url in page.urls:
        answer = client.get(url)
        assert answer.status_code == 200, url
        kind = TYPES[url[url.rindex(".") :]]
        assert answer.headers["content-type"].startswith(kind), (url, answer.headers)
        assert answer.headers["x-content-type-options"] == "nosniff"
    # The page's script reads the document's address from the page.
    schema = client.get(page.data["data-openapi-url"])
    assert schema.status_code == 200
    assert "/api/send-sms" in schema.json()["paths"]


def test_swagger_uis_files_are_cached_for_long(client: TestClient) -> None:
    """Their address names the bundle's version, so a new version is a new address."""
    urls = loads(client.get("/docs").text).urls
    bundle = next(url for url in urls if url.endswith("/swagger-ui-bundle.js"))
    cache = client.get(bundle).headers["cache-control"]
    assert "max-age=31536000" in cache
    assert "immutable" in cache


def test_redoc_sends_its_visitors_to_the_api_page(client: TestClient) -> None:
    answer = client.get("/redoc", follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"] == "/docs"
