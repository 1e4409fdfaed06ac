"""schemathesis against the OpenAPI document: no answer is a 500, and every one is documented.

A real server (uvicorn, the sandbox provider, a fresh SQLite database, open on 127.0.0.1) is
sent generated requests, valid and invalid, for every operation of its ``/openapi.json``: a
bounded number each, from a fixed seed, so a run is the same on every machine. Every answer
must have a documented status code and content type, and a body that matches its schema.

The send routes really send, through the sandbox (which posts its delivery reports back to
the server). Webhook requests are signed as Plivo signs them, so that the generated forms get
past the signature check and into the report and inbound handlers.

The document is built in-process when the module loads (schemathesis makes one test per
operation at collection time, before any server runs), and the first test checks that the
server serves exactly that document.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import requests
import schemathesis
from schemathesis import Case

from smsgate.api.app import create_app, create_fastapi
from smsgate.api.guard import SIGNED_PREFIX
from smsgate.bootstrap import Runtime
from smsgate.config import ProviderName, Settings
from smsgate.providers.plivo.signature import sign_v2, sign_v3
from tests.support.servers import free_port, serve_in_thread

SEED = 20_260_505
# Generated requests per operation in the fuzzing phase; the examples and coverage phases add
# a fixed set of their own. With 17 operations the whole run takes well under a minute.
MAX_EXAMPLES = 100
# With PLIVO_AUTH_TOKEN but no auth ID the provider is still the sandbox; the token is what
# webhook signatures are made with.
CALLBACK_TOKEN = "fuzz-callback-token"

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # How long generating takes depends on the machine's load, not on the seed.
        "suppress-health-check": ["too_slow"],
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
        },
    }
)


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, provider=ProviderName.SANDBOX, **values)  # type: ignore[call-arg]


def _document() -> dict[str, Any]:
    # Building the app opens nothing: the database and the provider open with its lifespan.
    document: dict[str, Any] = create_fastapi(Runtime(_settings())).openapi()
    return document


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@dataclass(frozen=True)
class Server:
    url: str


@pytest.fixture(scope="module")
def server(
    migrated_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server for every operation: what one operation stores, the next may read."""
    database = tmp_path_factory.mktemp("fuzz") / "smsgate.db"
    shutil.copyfile(migrated_sqlite_template, database)
    port = free_port()  # the sandbox posts its delivery reports to this server
    with pytest.MonkeyPatch.context() as env:
        # The developer's settings stay out, as for every test (conftest.clean_environment).
        for name in list(os.environ):
            if name.upper().startswith(("PLIVO_", "SMSGATE_")):
                env.delenv(name)
        # Server-side rate limits would throttle the fuzzer into 429s; "off" turns them off.
        env.setenv("SMSGATE_RATE_LIMIT", "off")
        env.setenv("SMSGATE_DESTINATION_LIMIT", "off")
        settings = _settings(
            port=port, database_url=f"sqlite:///{database}", plivo_auth_token=CALLBACK_TOKEN
        )
    with serve_in_thread(create_app(settings), port=port) as url:
        yield Server(url)


class PlivoSignature(requests.auth.AuthBase):
    """Signs a request (V3 and V2) as Plivo signs its callbacks, over exactly what is sent."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if request.url is None or request.method is None:
            return request
        raw = body.encode() if isinstance(body, str) else body
        # The form as the route reads it (api/routes/plivo_callbacks.py).
        form = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
        nonce = f"{secrets.randbelow(10**20):020d}"
        request.headers["X-Plivo-Signature-V3"] = sign_v3(
            request.method, request.url, nonce, CALLBACK_TOKEN, form
        )
        request.headers["X-Plivo-Signature-V3-Nonce"] = nonce
        request.headers["X-Plivo-Signature-V2"] = sign_v2(request.url, nonce, CALLBACK_TOKEN)
        request.headers["X-Plivo-Signature-V2-Nonce"] = nonce
        return request


def test_the_server_serves_the_document_under_test(server: Server) -> None:
    assert httpx.get(f"{server.url}/openapi.json").json() == DOCUMENT


def _references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def test_every_reference_in_the_document_resolves() -> None:
    """A model nested in another (MessageError in MessageOut) is listed beside it."""
    models = DOCUMENT["components"]["schemas"]
    references = set(_references(DOCUMENT))
    assert references
    prefix = "#/components/schemas/"
    assert {ref for ref in references if not ref.startswith(prefix)} == set()
    assert {ref for ref in references if ref.removeprefix(prefix) not in models} == set()
    assert not any("$defs" in model for model in models.values())


@schema.parametrize()
def test_every_answer_is_documented_and_none_is_a_server_error(
    case: Case[Any], server: Server
) -> None:
    signed = case.path.startswith(SIGNED_PREFIX)
    extra: dict[str, Any] = {"auth": PlivoSignature()} if signed else {}
    case.call_and_validate(base_url=server.url, **extra)
