"""Properties of the webhook path: what Plivo signs is what smsgate verifies, and reads.

A webhook request goes: Plivo signs the URL it calls and its fields, then sends the URL and
the fields form-encoded; smsgate rebuilds the URL from SMSGATE_PUBLIC_URL and the raw request
line, reads the body (``read_form``), checks the signature (``verify_plivo_request``) and
hands the fields (``single_values``) to the handlers, which parse them without trust
(``providers/plivo/callbacks.py``). These properties drive that path with generated URLs, fields,
headers and bytes. Every test is derandomized with a bounded number of examples, so a run is
the same on every machine.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import parse_qs, quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.api.routes.plivo_callbacks import read_form, single_values
from smsgate.providers.plivo.callbacks import (
    parse_amount,
    parse_error_code,
    parse_units,
    plain_fields,
)
from smsgate.providers.plivo.requests import verify_plivo_request
from smsgate.providers.plivo.signature import sign_v2, sign_v3

TOKEN = "fuzz-auth-token"
NONCE = "31627761595286130198"
PUBLIC_URL = "https://sms.example.com"
STATUS_PATH = "/api/v1/webhooks/plivo/status"

fuzz = settings(derandomize=True, max_examples=200, deadline=None, database=None)

# Text that can travel in a URL or a form: anything but lone surrogates, which no encoder
# can turn into bytes (the garbage tests below send arbitrary bytes instead).
field_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
# Plivo's forms: every field named, each value written as name=value (blank or not).
forms = st.dictionaries(
    field_text.filter(bool), st.lists(field_text, min_size=1, max_size=3), max_size=6
)
hosts = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,6}){1,2}", fullmatch=True)
public_urls = st.builds(
    lambda scheme, host, port, prefix: f"{scheme}://{host}{port}{prefix}",
    st.sampled_from(["https", "http"]),
    hosts,
    st.sampled_from(["", ":8443"]),
    st.sampled_from(["", "/gate", "/a/b"]),
)
# Paths as they are on the wire: each segment percent-encoded, whatever text it holds.
paths = st.sampled_from(["/api/v1/webhooks/plivo/status", "/api/v1/webhooks/plivo/inbound"]) | (
    st.lists(field_text, min_size=1, max_size=4).map(
        lambda segments: "".join("/" + quote(s, safe="") for s in segments)
    )
)
queries = st.lists(st.tuples(field_text, field_text), max_size=4).map(urlencode)
# One byte to put in place of another: those that mean something in a URL or a form, often.
STRUCTURAL = b"=&+%#?;/ \t\r\n"
one_byte = st.sampled_from([bytes([b]) for b in STRUCTURAL]) | st.binary(min_size=1, max_size=1)


def encode_form(form: Mapping[str, list[str]]) -> bytes:
    """The body Plivo posts: the form, as a browser or ``requests`` would encode it."""
    return urlencode(form, doseq=True).encode()


def plivo_headers(method: str, url: str, form: Mapping[str, list[str]] | None) -> dict[str, str]:
    """V3 and V2 signatures, made the way Plivo makes them: over the fields it sent."""
    return {
        "X-Plivo-Signature-V3": sign_v3(method, url, NONCE, TOKEN, form),
        "X-Plivo-Signature-V3-Nonce": NONCE,
        "X-Plivo-Signature-V2": sign_v2(url, NONCE, TOKEN),
        "X-Plivo-Signature-V2-Nonce": NONCE,
    }


def only(version: str, headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if f"-{version}" in name}


def server_verifies(
    public_url: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes | None,
    method: str = "POST",
) -> bool:
    """What the route does with a request: read the body, rebuild the URL, check."""
    form = read_form(body) if body is not None else None
    if body is not None and form is None:
        return False  # a form Plivo cannot have written
    return verify_plivo_request(method, public_url, path, query, headers, form, TOKEN)


def mutate(text: str, position: int, replacement: str) -> str:
    """``text`` with the character at ``position`` (modulo its length) replaced."""
    index = position % len(text)
    return text[:index] + replacement + text[index + 1 :]


# --- the form parser ----------------------------------------------------------------------


@fuzz
@given(form=forms)
def test_the_parser_reads_back_every_field_plivo_posted(form: dict[str, list[str]]) -> None:
    assert read_form(encode_form(form)) == form


@fuzz
@given(body=st.binary(max_size=300))
def test_the_parser_takes_any_bytes_and_gives_text_or_refuses_them(body: bytes) -> None:
    form = read_form(body)
    if form is None:
        # Only a field without a name or without "=" is refused.
        parts = [field.partition(b"=") for field in body.split(b"&") if field]
        assert any(not name or not equals for name, equals, _ in parts)
        return
    for name, values in form.items():
        assert name
        assert isinstance(name, str)
        assert values
        assert all(isinstance(value, str) for value in values)
    fields = single_values(form)
    assert set(fields) <= set(form)
    assert all(fields[name] in form[name] for name in fields)


@fuzz
@given(body=st.binary(max_size=300), data=st.data())
def test_what_the_handlers_read_does_not_depend_on_the_order_of_the_fields(
    body: bytes, data: st.DataObject
) -> None:
    """V3 sorts what it signs; a reordered body must not be read differently."""
    pairs = body.split(b"&")
    shuffled = b"&".join(data.draw(st.permutations(pairs)))
    form, reordered = read_form(body), read_form(shuffled)
    if form is None or reordered is None:
        assert form is reordered is None
        return
    assert single_values(reordered) == single_values(form)


@fuzz
@given(name=field_text.filter(bool), values=st.lists(field_text, min_size=2, max_size=3))
def test_a_field_given_twice_with_different_values_is_left_out(
    name: str, values: list[str]
) -> None:
    form = read_form(encode_form({name: values}))
    assert form is not None
    fields = single_values(form)
    assert fields.get(name) == (values[0] if len(set(values)) == 1 else None)


# --- signed requests verify -----------------------------------------------------------------


@fuzz
@given(
    public_url=public_urls,
    path=paths,
    query=queries,
    form=forms,
    slash=st.booleans(),
    version=st.sampled_from(["V3", "V2", "both"]),
)
def test_a_post_plivo_signed_always_verifies(
    public_url: str,
    path: str,
    query: str,
    form: dict[str, list[str]],
    slash: bool,
    version: str,
) -> None:
    url = public_url + path + ("?" + query if query else "")
    headers = plivo_headers("POST", url, form)
    if version != "both":
        headers = only(version, headers)
    configured = public_url + "/" if slash else public_url
    assert server_verifies(configured, path, query, headers, encode_form(form))


@fuzz
@given(public_url=public_urls, path=paths, fields=forms, version=st.sampled_from(["V3", "V2"]))
def test_a_get_plivo_signed_with_its_fields_in_the_query_verifies(
    public_url: str, path: str, fields: dict[str, list[str]], version: str
) -> None:
    query = urlencode(fields, doseq=True)
    url = public_url + path + ("?" + query if query else "")
    headers = only(version, plivo_headers("GET", url, None))
    assert server_verifies(public_url, path, query, headers, None, method="GET")


# --- anything changed is refused --------------------------------------------------------------


@fuzz
@given(
    public_url=public_urls,
    path=paths,
    query=queries,
    form=forms,
    version=st.sampled_from(["V3", "V2"]),
    position=st.integers(min_value=0),
    replacement=st.characters(exclude_categories=["Cs"]),
)
def test_a_signature_changed_in_one_character_is_refused(
    public_url: str,
    path: str,
    query: str,
    form: dict[str, list[str]],
    version: str,
    position: int,
    replacement: str,
) -> None:
    url = public_url + path + ("?" + query if query else "")
    headers = only(version, plivo_headers("POST", url, form))
    name = f"X-Plivo-Signature-{version}"
    changed = mutate(headers[name], position, replacement)
    if changed == headers[name]:
        return
    headers[name] = changed
    assert not server_verifies(public_url, path, query, headers, encode_form(form))


@fuzz
@given(
    public_url=public_urls,
    path=paths,
    form=forms,
    version=st.sampled_from(["V3", "V2"]),
    position=st.integers(min_value=0),
    replacement=st.characters(exclude_categories=["Cs"]),
)
def test_a_nonce_changed_in_one_character_is_refused(
    public_url: str,
    path: str,
    form: dict[str, list[str]],
    version: str,
    position: int,
    replacement: str,
) -> None:
    url = public_url + path
    headers = only(version, plivo_headers("POST", url, form))
    name = f"X-Plivo-Signature-{version}-Nonce"
    changed = mutate(headers[name], position, replacement)
    if changed == headers[name]:
        return
    headers[name] = changed
    assert not server_verifies(public_url, path, "", headers, encode_form(form))


@fuzz
@given(
    public_url=public_urls,
    path=paths,
    query=queries,
    form=forms,
    version=st.sampled_from(["V3", "V2"]),
    position=st.integers(min_value=0),
    replacement=one_byte.map(lambda b: b.decode("latin-1")),
)
def test_a_path_changed_in_one_byte_is_refused(
    public_url: str,
    path: str,
    query: str,
    form: dict[str, list[str]],
    version: str,
    position: int,
    replacement: str,
) -> None:
    """Both versions sign the path as it was requested, still percent-encoded."""
    url = public_url + path + ("?" + query if query else "")
    headers = only(version, plivo_headers("POST", url, form))
    changed = mutate(path, position, replacement)
    if changed == path or "?" in changed:
        return  # the route splits the query off at "?": that is another query, not a path
    assert not server_verifies(public_url, changed, query, headers, encode_form(form))


def changed_byte(data: st.DataObject, raw: bytes) -> bytes:
    """``raw`` with one byte replaced: half the time one that gives a form its structure."""
    marked = [index for index, byte in enumerate(raw) if byte in b"=&%+"]
    anywhere = st.integers(min_value=0, max_value=len(raw) - 1)
    index = data.draw(st.sampled_from(marked) | anywhere if marked else anywhere)
    replacement = data.draw(one_byte.filter(lambda b: b != raw[index : index + 1]))
    return raw[:index] + replacement + raw[index + 1 :]


@fuzz
@given(public_url=public_urls, query=queries, form=forms.filter(bool), data=st.data())
def test_a_body_changed_in_one_byte_is_refused_unless_it_reads_the_same(
    public_url: str, query: str, form: dict[str, list[str]], data: st.DataObject
) -> None:
    """V3 signs the fields as read, not the bytes: a change that reads the same ("+" for a
    space, "%2a" for "%2A") verifies, and must; any other change must not."""
    url = public_url + STATUS_PATH + ("?" + query if query else "")
    headers = only("V3", plivo_headers("POST", url, form))
    body = encode_form(form)
    changed = changed_byte(data, body)
    verified = server_verifies(public_url, STATUS_PATH, query, headers, changed)
    assert verified == (read_form(changed) == read_form(body))


@fuzz
@given(public_url=public_urls, query=queries.filter(bool), form=forms, data=st.data())
def test_a_query_changed_in_one_byte_is_refused_unless_it_reads_the_same(
    public_url: str, query: str, form: dict[str, list[str]], data: st.DataObject
) -> None:
    url = public_url + STATUS_PATH + "?" + query
    headers = only("V3", plivo_headers("POST", url, form))
    changed = changed_byte(data, query.encode()).decode("latin-1")
    verified = server_verifies(public_url, STATUS_PATH, changed, headers, encode_form(form))
    reads_the_same = parse_qs(changed, keep_blank_values=True) == parse_qs(
        query, keep_blank_values=True
    )
    assert verified == reads_the_same


@pytest.mark.parametrize(
    ("form", "body", "query", "changed_query"),
    [
        pytest.param({"0": ["1"]}, b"0&1", "", "", id="a value made a second, blank field"),
        pytest.param({"a": ["bc"]}, b"a&bc", "", "", id="the same, named"),
        pytest.param({"a": ["1"]}, b"a=1&=&=", "", "", id="nameless blank fields"),
        pytest.param({"a": [""]}, b"=a", "", "", id="a name made a nameless value"),
        pytest.param({"a": ["1"]}, b"a=1", "a=1&b=", "a=1&b#", id="a fragment in the query"),
        pytest.param({"a": ["1"]}, b"a=1", "a=1&b=", "a=1&b\t", id="a tab in the query"),
        pytest.param({"a": ["1"]}, b"a=1", "a=1&bc=", "a=1&b\nc=", id="a line feed"),
    ],
)
def test_changes_that_keep_the_v3_signed_string_are_refused(
    form: dict[str, list[str]], body: bytes, query: str, changed_query: str
) -> None:
    """Found by the properties above: each reads differently from what Plivo signed, yet
    Plivo's V3 string (or urllib's reading of the URL) is the same for both."""
    url = PUBLIC_URL + STATUS_PATH + ("?" + query if query else "")
    headers = only("V3", plivo_headers("POST", url, form))
    assert server_verifies(PUBLIC_URL, STATUS_PATH, query, headers, encode_form(form))
    assert not server_verifies(PUBLIC_URL, STATUS_PATH, changed_query, headers, body)


@fuzz
@given(public_url=public_urls, form=forms, other=forms)
def test_v2_does_not_cover_the_body_which_is_why_v3_is_checked_first(
    public_url: str, form: dict[str, list[str]], other: dict[str, list[str]]
) -> None:
    headers = plivo_headers("POST", public_url + STATUS_PATH, form)
    assert server_verifies(public_url, STATUS_PATH, "", only("V2", headers), encode_form(other))
    verified = server_verifies(public_url, STATUS_PATH, "", headers, encode_form(other))
    assert verified == (read_form(encode_form(other)) == read_form(encode_form(form)))


# --- garbage is refused, never raised ------------------------------------------------------

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=60)
header_names = st.sampled_from(
    [
        "X-Plivo-Signature-V3",
        "X-Plivo-Signature-Ma-V3",
        "X-Plivo-Signature-V3-Nonce",
        "X-Plivo-Signature-V2",
        "X-Plivo-Signature-Ma-V2",
        "X-Plivo-Signature-V2-Nonce",
    ]
)
base64ish = st.binary(min_size=0, max_size=40).map(lambda b: base64.b64encode(b).decode())


@fuzz
@given(
    method=st.sampled_from(["POST", "GET"]) | any_text,
    public_url=public_urls | any_text,
    path=paths | any_text,
    query=queries | any_text,
    headers=st.dictionaries(header_names | any_text, base64ish | any_text, max_size=8),
    body=st.none() | st.binary(max_size=300),
)
def test_garbage_headers_and_bodies_are_refused_without_raising(
    method: str,
    public_url: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    form = read_form(body) if body is not None else None
    assert verify_plivo_request(method, public_url, path, query, headers, form, TOKEN) is False


@fuzz
@given(raw=st.binary(min_size=32, max_size=32), form=forms)
def test_a_signature_of_the_right_shape_made_without_the_token_is_refused(
    raw: bytes, form: dict[str, list[str]]
) -> None:
    """Base64 of 32 bytes looks like a real HMAC-SHA256; only the real one passes."""
    forged = base64.b64encode(raw).decode()
    for version in ("V3", "V2"):
        headers = {
            f"X-Plivo-Signature-{version}": forged,
            f"X-Plivo-Signature-{version}-Nonce": NONCE,
        }
        assert not server_verifies(PUBLIC_URL, STATUS_PATH, "", headers, encode_form(form))


# --- the handlers' field parsers --------------------------------------------------------------


@fuzz
@given(fields=st.dictionaries(any_text, any_text, max_size=6))
def test_every_field_is_made_storable(fields: dict[str, str]) -> None:
    stored = plain_fields(fields)
    assert len(stored) <= len(fields)
    for name, value in stored.items():
        for text in (name, value):
            assert "\x00" not in text
            text.encode("utf-8")  # no lone surrogate: PostgreSQL and SQLite both take it


@fuzz
@given(value=st.none() | any_text | st.from_regex(r"\s*[0-9]{1,9}(\.[0-9]{0,25})?\s*"))
def test_units_amounts_and_error_codes_parse_to_what_their_columns_hold(
    value: str | None,
) -> None:
    units = parse_units(value)
    assert units is None or 0 <= units <= 999_999
    amount = parse_amount(value)
    if amount is not None:
        assert Decimal(0) <= amount < Decimal(10) ** 7
        assert amount.as_tuple().exponent == -5  # exactly the column's 5 decimal places
    code = parse_error_code(value)
    assert code is None or (code.isascii() and code.isdigit() and 1 <= len(code) <= 8)
