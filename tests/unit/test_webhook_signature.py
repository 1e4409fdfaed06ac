"""Plivo webhook checks: signed requests pass, anything missing or changed is refused."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.providers.plivo.requests import verify_plivo_request
from smsgate.providers.plivo.signature import sign_v2, sign_v3

TOKEN = "emulator-auth-token"
PUBLIC = "https://sms.example.com/gate"
PATH = "/webhooks/plivo/status"
QUERY = "tenant=a&empty="
NONCE = "31627761595286130198"
SIGNED_URL = PUBLIC + PATH + "?" + QUERY
# A successful report: ErrorCode is blank, and Plivo signs it all the same.
FORM: dict[str, list[str]] = {
    "MessageUUID": ["2f0b1f3e-8ac4-11ee-9b1b-0242ac110002"],
    "Status": ["delivered"],
    "To": ["14155552671"],
    "From": ["14155550199"],
    "Units": ["1"],
    "TotalAmount": ["0.00650"],
    "ErrorCode": [""],
}


def v3_headers(
    form: Mapping[str, list[str]] | None = None,
    *,
    url: str = SIGNED_URL,
    token: str = TOKEN,
    method: str = "POST",
    name: str = "X-Plivo-Signature-V3",
) -> dict[str, str]:
    signature = sign_v3(method, url, NONCE, token, FORM if form is None else form)
    return {name: signature, "X-Plivo-Signature-V3-Nonce": NONCE}


def v2_headers(
    *, url: str = SIGNED_URL, token: str = TOKEN, name: str = "X-Plivo-Signature-V2"
) -> dict[str, str]:
    return {name: sign_v2(url, NONCE, token), "X-Plivo-Signature-V2-Nonce": NONCE}


def verify(
    headers: Mapping[str, str],
    *,
    form: Mapping[str, list[str]] | None = FORM,
    method: str = "POST",
    path: str = PATH,
    query: str = QUERY,
    public_url: str = PUBLIC,
    token: str = TOKEN,
) -> bool:
    return verify_plivo_request(method, public_url, path, query, headers, form, token)


def test_a_v3_signed_post_with_blank_fields_is_accepted() -> None:
    assert verify(v3_headers())


def test_the_main_account_v3_header_is_accepted_too() -> None:
    assert verify(v3_headers(name="X-Plivo-Signature-Ma-V3"))


def test_header_names_match_in_any_case() -> None:
    headers = {name.lower(): value for name, value in v3_headers().items()}
    assert verify(headers)


def test_one_matching_signature_among_several_is_enough() -> None:
    headers = v3_headers()
    headers["X-Plivo-Signature-V3"] = "bm90LWl0=, " + headers["X-Plivo-Signature-V3"]
    assert verify(headers)


def test_a_v3_signed_get_carries_its_fields_in_the_query() -> None:
    query = "MessageUUID=abc&Status=sent&ErrorCode="
    url = PUBLIC + PATH + "?" + query
    headers = v3_headers({}, url=url, method="GET")
    assert verify(headers, form=None, method="GET", query=query)
    assert not verify(headers, form=None, method="GET", query=query.replace("sent", "delivered"))


def test_a_v2_signed_request_is_accepted() -> None:
    assert verify(v2_headers())
    assert verify(v2_headers(name="X-Plivo-Signature-Ma-V2"))


def test_the_public_url_may_end_with_a_slash() -> None:
    assert verify(v3_headers(), public_url=PUBLIC + "/")


def test_without_a_query_string_the_url_has_no_question_mark() -> None:
    headers = v3_headers(url=PUBLIC + PATH)
    assert verify(headers, query="")


GOOD_V3 = sign_v3("POST", SIGNED_URL, NONCE, TOKEN, FORM)
GOOD_V2 = sign_v2(SIGNED_URL, NONCE, TOKEN)
V3_SIG, V3_NONCE = "X-Plivo-Signature-V3", "X-Plivo-Signature-V3-Nonce"
V2_SIG, V2_NONCE = "X-Plivo-Signature-V2", "X-Plivo-Signature-V2-Nonce"

REFUSED_HEADERS = [
    pytest.param({}, id="no-headers"),
    pytest.param({V3_SIG: GOOD_V3}, id="v3-without-nonce"),
    pytest.param({V3_NONCE: NONCE}, id="v3-nonce-only"),
    pytest.param({V3_SIG: GOOD_V3, V3_NONCE: "1"}, id="v3-wrong-nonce"),
    pytest.param({V3_SIG: GOOD_V3, V3_NONCE: ""}, id="v3-blank-nonce"),
    pytest.param({V3_SIG: "", V3_NONCE: NONCE}, id="v3-blank-signature"),
    pytest.param({V3_SIG: GOOD_V3 + "x", V3_NONCE: NONCE}, id="v3-signature-changed"),
    pytest.param({V3_SIG: "é", V3_NONCE: NONCE}, id="v3-non-ascii-signature"),
    pytest.param({V3_SIG: GOOD_V2, V3_NONCE: NONCE}, id="v2-value-in-v3-header"),
    pytest.param({V2_SIG: GOOD_V2}, id="v2-without-nonce"),
    pytest.param({V2_NONCE: NONCE}, id="v2-nonce-only"),
    pytest.param({V2_SIG: GOOD_V2, V2_NONCE: "1"}, id="v2-wrong-nonce"),
    pytest.param({V2_SIG: GOOD_V2, V2_NONCE: ""}, id="v2-blank-nonce"),
    pytest.param({V2_SIG: GOOD_V2, V3_NONCE: NONCE}, id="v2-with-v3-nonce"),
    pytest.param({"X-Plivo-Signature": GOOD_V2, V2_NONCE: NONCE}, id="v1-header-name"),
]


@pytest.mark.parametrize("headers", REFUSED_HEADERS)
def test_missing_blank_or_wrong_signature_headers_are_refused(headers: dict[str, str]) -> None:
    assert not verify(headers)


TAMPERED = [
    pytest.param({"token": "another-token"}, id="wrong-token"),
    pytest.param({"token": ""}, id="no-token-configured"),
    pytest.param({"public_url": ""}, id="no-public-url"),
    pytest.param({"public_url": "https://attacker.example/gate"}, id="other-host"),
    pytest.param({"public_url": "http://sms.example.com/gate"}, id="other-scheme"),
    pytest.param({"public_url": "https://sms.example.com"}, id="prefix-dropped"),
    pytest.param({"path": "/webhooks/plivo/inbound"}, id="other-path"),
    pytest.param({"query": "tenant=b&empty="}, id="tampered-query"),
    pytest.param({"query": "tenant=a"}, id="blank-query-value-dropped"),
    pytest.param({"query": ""}, id="query-dropped"),
    pytest.param({"method": "GET"}, id="other-method"),
    pytest.param({"form": {**FORM, "Status": ["failed"]}}, id="tampered-field"),
    pytest.param({"form": {**FORM, "ErrorCode": []}}, id="blank-field-dropped"),
    pytest.param({"form": {**FORM, "Extra": ["1"]}}, id="field-added"),
    pytest.param({"form": None}, id="form-missing"),
]


@pytest.mark.parametrize("request_changes", TAMPERED)
def test_a_v3_signature_over_anything_else_is_refused(request_changes: dict[str, object]) -> None:
    assert not verify(v3_headers(), **request_changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "request_changes",
    [
        pytest.param({"token": "another-token"}, id="wrong-token"),
        pytest.param({"public_url": "https://attacker.example/gate"}, id="other-host"),
        pytest.param({"path": "/webhooks/plivo/inbound"}, id="other-path"),
    ],
)
def test_a_wrong_v2_signature_is_refused(request_changes: dict[str, object]) -> None:
    assert not verify(v2_headers(), **request_changes)  # type: ignore[arg-type]


def test_v2_with_another_nonce_is_refused() -> None:
    headers = v2_headers()
    headers["X-Plivo-Signature-V2-Nonce"] = "1"
    assert not verify(headers)


def test_a_failing_v3_signature_is_not_rescued_by_a_valid_v2_one() -> None:
    """V3 signs the body; a request whose body no longer matches must not pass on V2."""
    headers = {**v2_headers(), **v3_headers()}
    assert verify(headers)
    assert not verify(headers, form={**FORM, "Status": ["failed"]})


def test_a_v2_signature_does_not_cover_the_query_or_the_form() -> None:
    """Why V3 is preferred: V2 signs the URL without its query, and no body at all."""
    assert verify(v2_headers(), query="tenant=b", form={"Status": ["failed"]})


header_names = st.sampled_from(
    [
        "X-Plivo-Signature-V3",
        "X-Plivo-Signature-Ma-V3",
        "X-Plivo-Signature-V3-Nonce",
        "X-Plivo-Signature-V2",
        "X-Plivo-Signature-Ma-V2",
        "X-Plivo-Signature-V2-Nonce",
        "x-plivo-signature-v3",
        "Content-Type",
    ]
)
# Every code point, lone surrogates included: a form parser may hand over anything.
any_text = st.text(st.characters(codec=None, exclude_categories=()))


@given(
    method=st.sampled_from(["GET", "POST", "post", "PUT", ""]) | any_text,
    public_url=st.sampled_from([PUBLIC, "https://[::1", "ftp://x", ""]) | any_text,
    path=st.sampled_from([PATH, "//evil.example/x", "/%zz", ""]) | any_text,
    query=st.sampled_from([QUERY, "a=%ff&b", "&&=", ""]) | any_text,
    headers=st.dictionaries(header_names | any_text, any_text),
    form=st.none() | st.dictionaries(any_text, st.lists(any_text)),
    token=st.sampled_from([TOKEN, ""]) | any_text,
)
def test_any_request_is_answered_true_or_false_without_raising(
    method: str,
    public_url: str,
    path: str,
    query: str,
    headers: dict[str, str],
    form: dict[str, list[str]] | None,
    token: str,
) -> None:
    result = verify_plivo_request(method, public_url, path, query, headers, form, token)
    assert result is False  # nobody guesses an HMAC


@given(form=st.dictionaries(any_text, st.lists(any_text, max_size=3), max_size=5))
def test_any_form_plivo_signed_is_accepted_and_refused_once_changed(
    form: dict[str, list[str]],
) -> None:
    try:
        headers = v3_headers(form)
    except UnicodeError:
        return  # nothing with a lone surrogate can be signed, by Plivo or anyone
    assert verify(headers, form=form)
    assert not verify(headers, form={**form, "Tampered": ["1"]})
