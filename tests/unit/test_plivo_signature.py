"""Plivo webhook signatures: Plivo's official vectors, agreement with the SDK, tampering."""

from __future__ import annotations

import copy
import string
from urllib.parse import unquote

import plivo.utils
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.providers.plivo.signature import sign_v2, sign_v3, verify_v2, verify_v3

# V2 vector from the SDK's tests/resources/test_signature.py (reference §4).
V2_URL = "https://answer.url"
V2_NONCE = "12345"
V2_TOKEN = "my_auth_token"
V2_SIGNATURE = "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc="

# V3 vectors from plivo-go utils_test.go, TestValidateSignatureV3Pass1-4 (reference §4).
V3_TOKEN = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4"
V3_NONCE = "31627761595286130198"
V3_UUID = "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"
V3_PARAMS = {
    "Direction": "outbound",
    "From": "19792014278",
    "ALegUUID": V3_UUID,
    "CallUUID": V3_UUID,
    "RequestUUID": V3_UUID,
    "ALegRequestUUID": V3_UUID,
    "CallStatus": "in-progress",
    "BillRate": "0.002",
    "ParentAuthID": "MANWVLYTK4ZWU1YTY4QA",
    "To": "sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com",
    "SIP-H-To": "<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1",
    "SessionStart": "2020-04-08 11:34:33.238707",
    "Event": "StartApp",
}
V3_BASE = "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml"
V3_QUERY = V3_BASE + "/?a=b&c=d"
V3_VECTORS = [
    pytest.param("POST", V3_QUERY, "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c=", id="post-query"),
    pytest.param("GET", V3_QUERY, "UBq8jAtd32wR8EK9VgxbBn4n5rpI/l1H9iN4WfSEHFQ=", id="get-query"),
    pytest.param("POST", V3_BASE, "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0=", id="post-bare"),
    pytest.param("GET", V3_BASE, "i/MQsaQSAd6fiKhOh2qeeeLHZ9faldADSb3/7+Akfbc=", id="get-bare"),
]


def test_v2_reproduces_the_official_vector() -> None:
    assert sign_v2(V2_URL, V2_NONCE, V2_TOKEN) == V2_SIGNATURE
    assert verify_v2(V2_URL, V2_NONCE, V2_SIGNATURE, V2_TOKEN)


def test_v2_ignores_the_query_and_fragment_of_the_url() -> None:
    assert sign_v2(V2_URL + "?a=b#top", V2_NONCE, V2_TOKEN) == V2_SIGNATURE


@pytest.mark.parametrize(
    ("url", "nonce", "signature", "token"),
    [
        pytest.param(V2_URL + "/", V2_NONCE, V2_SIGNATURE, V2_TOKEN, id="url"),
        pytest.param(V2_URL, "12346", V2_SIGNATURE, V2_TOKEN, id="nonce"),
        pytest.param(V2_URL, V2_NONCE, "x" + V2_SIGNATURE[1:], V2_TOKEN, id="signature"),
        pytest.param(V2_URL, V2_NONCE, V2_SIGNATURE, "my_auth_tokem", id="token"),
        pytest.param(V2_URL, V2_NONCE, "", V2_TOKEN, id="empty-signature"),
        pytest.param(V2_URL, V2_NONCE, "é" + V2_SIGNATURE, V2_TOKEN, id="non-ascii-signature"),
    ],
)
def test_v2_fails_when_any_field_is_changed(
    url: str, nonce: str, signature: str, token: str
) -> None:
    assert not verify_v2(url, nonce, signature, token)


@pytest.mark.parametrize(("method", "url", "expected"), V3_VECTORS)
def test_v3_reproduces_the_official_vectors(method: str, url: str, expected: str) -> None:
    assert sign_v3(method, url, V3_NONCE, V3_TOKEN, V3_PARAMS) == expected
    assert verify_v3(method, url, V3_NONCE, expected, V3_TOKEN, V3_PARAMS)


@pytest.mark.parametrize(("method", "url", "expected"), V3_VECTORS)
def test_v3_verifies_when_the_right_signature_is_one_of_several(
    method: str, url: str, expected: str
) -> None:
    header = f"bm90IGl0=,{expected}, c3RpbGwgbm90="
    assert verify_v3(method, url, V3_NONCE, header, V3_TOKEN, V3_PARAMS)


@pytest.mark.parametrize(
    ("method", "url", "nonce", "token", "params"),
    [
        pytest.param("GET", V3_BASE, V3_NONCE, V3_TOKEN, V3_PARAMS, id="method"),
        pytest.param("POST", V3_BASE + "/", V3_NONCE, V3_TOKEN, V3_PARAMS, id="url-path"),
        pytest.param("POST", V3_BASE + "?a=c", V3_NONCE, V3_TOKEN, V3_PARAMS, id="url-query"),
        pytest.param("POST", V3_BASE, V3_NONCE + "1", V3_TOKEN, V3_PARAMS, id="nonce"),
        pytest.param("POST", V3_BASE, V3_NONCE, V3_TOKEN + "x", V3_PARAMS, id="token"),
        pytest.param(
            "POST", V3_BASE, V3_NONCE, V3_TOKEN, {**V3_PARAMS, "Event": "Hangup"}, id="field-value"
        ),
        pytest.param(
            "POST", V3_BASE, V3_NONCE, V3_TOKEN, {**V3_PARAMS, "Extra": ""}, id="blank-field-added"
        ),
        pytest.param(
            "POST",
            V3_BASE,
            V3_NONCE,
            V3_TOKEN,
            {k: v for k, v in V3_PARAMS.items() if k != "Event"},
            id="field-removed",
        ),
    ],
)
def test_v3_fails_when_any_field_is_changed(
    method: str, url: str, nonce: str, token: str, params: dict[str, str]
) -> None:
    signature = "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="  # the POST, no-query vector
    assert verify_v3("POST", V3_BASE, V3_NONCE, signature, V3_TOKEN, V3_PARAMS)
    assert not verify_v3(method, url, nonce, signature, token, params)


def test_v3_rejects_a_header_holding_only_wrong_or_odd_signatures() -> None:
    header = "bm90IGl0=,,é,iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0"
    assert not verify_v3("POST", V3_BASE, V3_NONCE, header, V3_TOKEN, V3_PARAMS)


def test_v3_signs_blank_form_values_like_plivo_does() -> None:
    """A delivered callback carries ``ErrorCode=``; dropping it must change the signature."""
    fields = {"MessageUUID": "abc", "Status": "delivered", "ErrorCode": ""}
    with_blank = sign_v3("POST", "https://example.com/cb", "1", "token", fields)
    fields.pop("ErrorCode")
    assert with_blank != sign_v3("POST", "https://example.com/cb", "1", "token", fields)


def test_v3_get_lets_the_url_query_win_over_params_of_the_same_name() -> None:
    url = "https://example.com/cb?Status=sent"
    assert sign_v3("GET", url, "1", "t", {"Status": "queued"}) == sign_v3("GET", url, "1", "t")


def test_v3_accepts_any_case_of_method() -> None:
    url = V3_QUERY
    assert sign_v3("get", url, V3_NONCE, V3_TOKEN, V3_PARAMS) == sign_v3(
        "GET", url, V3_NONCE, V3_TOKEN, V3_PARAMS
    )


# Generated inputs for the comparisons with the SDK.
_PRINTABLE = st.text(alphabet=string.printable.strip() + " ", max_size=40)
_PATH_CHARS = string.ascii_letters + string.digits + "-._~%!$'()*,;=:@+"
# The SDK parses the query as bytes through an implicit ASCII codec, so it raises on a
# percent-encoded non-ASCII byte such as %C3 or %80; such queries are kept out of the
# comparisons (smsgate decodes them as UTF-8, as parse_qs does for text).
_queries = _PRINTABLE.filter(lambda query: "#" not in query and unquote(query).isascii())
_urls = st.builds(
    lambda scheme, host, port, path, query, fragment: (
        f"{scheme}://{host}{port}/{path}{query}{fragment}"
    ),
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z]{2,8}){0,2}", fullmatch=True),
    st.sampled_from(["", ":80", ":8443"]),
    st.lists(st.text(alphabet=_PATH_CHARS, max_size=8), max_size=4).map("/".join),
    st.one_of(st.just(""), _queries.map(lambda query: "?" + query)),
    st.sampled_from(["", "#frag"]),
)
_params = st.dictionaries(
    st.text(max_size=12),
    st.one_of(st.text(max_size=12), st.lists(st.text(max_size=8), max_size=3)),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(url=_urls, nonce=_PRINTABLE, token=_PRINTABLE)
def test_v2_agrees_with_the_sdk(url: str, nonce: str, token: str) -> None:
    signature = sign_v2(url, nonce, token)
    assert verify_v2(url, nonce, signature, token)
    assert plivo.utils.validate_signature(url, nonce, signature, token)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST"]),
    url=_urls,
    nonce=_PRINTABLE,
    token=_PRINTABLE,
    params=_params,
)
def test_v3_agrees_with_the_sdk(
    method: str, url: str, nonce: str, token: str, params: dict[str, str | list[str]]
) -> None:
    signature = sign_v3(method, url, nonce, token, params)
    assert verify_v3(method, url, nonce, signature, token, params)
    # The SDK's GET path updates the params dict it is given, hence the copy.
    assert plivo.utils.validate_v3_signature(
        method, url, nonce, token, signature, copy.deepcopy(params)
    )


@settings(max_examples=100, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST"]),
    url=_urls,
    nonce=_PRINTABLE,
    token=_PRINTABLE,
    params=_params,
    other=_PRINTABLE,
)
def test_v3_fails_for_any_other_nonce_or_token(
    method: str, url: str, nonce: str, token: str, params: dict[str, str | list[str]], other: str
) -> None:
    signature = sign_v3(method, url, nonce, token, params)
    if other != nonce:
        assert not verify_v3(method, url, other, signature, token, params)
    if other != token:
        assert not verify_v3(method, url, nonce, signature, other, params)
