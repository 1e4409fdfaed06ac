"""The webhook routes under generated requests: any bytes, any headers, signed or not.

Unsigned (or wrongly signed) requests get 403 ``invalid_signature`` in the one error shape,
and requests Plivo-signed over whatever bytes they carry get 200; nothing else, and never a
500. Derandomized and bounded, so a run is the same on every machine.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsgate.api.app import create_app
from smsgate.providers.plivo.signature import sign_v2, sign_v3
from tests.conftest import SettingsFactory
from tests.support.servers import LOCAL_BASE_URL

TOKEN = "fuzz-auth-token"
PUBLIC_URL = "https://sms.example.com/gate"
ROUTES = ["/api/v1/webhooks/plivo/status", "/api/v1/webhooks/plivo/inbound"]

# One app for all the examples of a test: what one stores does not change what another may
# be answered, so the function-scoped fixture is shared on purpose.
fuzz = settings(
    derandomize=True,
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Header values as they travel: latin-1 text without line breaks.
header_text = st.text(
    st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=60
).map(str.strip)
header_names = st.sampled_from(
    [
        "X-Plivo-Signature-V3",
        "X-Plivo-Signature-Ma-V3",
        "X-Plivo-Signature-V3-Nonce",
        "X-Plivo-Signature-V2",
        "X-Plivo-Signature-V2-Nonce",
        "Content-Type",
    ]
) | st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True)
content_types = st.sampled_from(
    ["application/x-www-form-urlencoded", "application/json", "text/plain", ""]
)
queries = st.sampled_from(["", "a=1", "a=1&b=", "%zz&=&&"]) | st.from_regex(
    r"[A-Za-z0-9=&%+._~-]{0,30}", fullmatch=True
)
# Bodies: arbitrary bytes, and forms close to what Plivo posts.
plivo_forms = st.dictionaries(
    st.sampled_from(["MessageUUID", "Status", "To", "From", "Units", "TotalAmount", "Text"])
    | st.text(min_size=1, max_size=10),
    st.text(max_size=30)
    | st.sampled_from(["delivered", "failed", "STOP", "HELP", "14155552671", "1", "0.0065"]),
    max_size=7,
)
bodies = st.binary(max_size=500) | plivo_forms.map(
    lambda form: "&".join(f"{k}={v}" for k, v in form.items()).encode("utf-8", "surrogatepass")
)


@pytest.fixture
def client(make_settings: SettingsFactory) -> Iterator[TestClient]:
    # With PLIVO_AUTH_TOKEN and no auth ID the provider stays the sandbox.
    settings = make_settings(plivo_auth_token=TOKEN, public_url=PUBLIC_URL)
    with TestClient(create_app(settings), base_url=LOCAL_BASE_URL) as test_client:
        yield test_client


def plivo_signed(path: str, query: str, body: bytes) -> dict[str, str]:
    """V3 and V2 signatures over exactly this request, as smsgate reads it."""
    url = PUBLIC_URL + path + ("?" + query if query else "")
    form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    nonce = f"{secrets.randbelow(10**20):020d}"
    return {
        "X-Plivo-Signature-V3": sign_v3("POST", url, nonce, TOKEN, form),
        "X-Plivo-Signature-V3-Nonce": nonce,
        "X-Plivo-Signature-V2": sign_v2(url, nonce, TOKEN),
        "X-Plivo-Signature-V2-Nonce": nonce,
    }


def is_plivo_form(body: bytes) -> bool:
    """Every field written name=value, as Plivo writes them (``plivo_callbacks.read_form``)."""
    text = body.decode("utf-8", errors="replace")
    return all(
        not field or (name and equals)
        for field in text.split("&")
        for name, equals, _ in [field.partition("=")]
    )


@fuzz
@given(
    path=st.sampled_from(ROUTES),
    query=queries,
    headers=st.dictionaries(header_names, header_text, max_size=6),
    content_type=content_types,
    body=bodies,
)
def test_an_unsigned_request_is_refused_with_403_whatever_it_holds(
    client: TestClient,
    path: str,
    query: str,
    headers: dict[str, str],
    content_type: str,
    body: bytes,
) -> None:
    if content_type:
        headers = {**headers, "Content-Type": content_type}
    raw = {name.encode(): value.encode("latin-1") for name, value in headers.items()}
    response = client.post(path + ("?" + query if query else ""), content=body, headers=raw)
    assert response.status_code == 403
    assert response.json() == {
        "success": False,
        "error": "The request is not signed by Plivo.",
        "code": "invalid_signature",
    }


@fuzz
@given(path=st.sampled_from(ROUTES), query=queries, body=bodies)
def test_a_request_plivo_signed_is_answered_200_whatever_its_form_holds(
    client: TestClient, path: str, query: str, body: bytes
) -> None:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **plivo_signed(path, query, body),
    }
    response = client.post(path + ("?" + query if query else ""), content=body, headers=headers)
    if not is_plivo_form(body):
        assert response.status_code == 403  # a field Plivo would have written name=value
        return
    assert response.status_code == 200, response.text
    if path.endswith("/inbound"):
        assert response.headers["content-type"].startswith("application/xml")
        assert response.text.startswith(("<Response>", "<?xml"))
