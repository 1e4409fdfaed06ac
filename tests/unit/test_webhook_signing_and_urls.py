"""Signing webhooks, checking them as a receiver would, and the URLs webhooks may go to."""

from __future__ import annotations

import asyncio
import json

import pytest

from smsgate.domain.addresses import is_public_address
from smsgate.providers.http import GuardedResolver, PrivateAddress
from smsgate.services.webhook_urls import WebhookUrlRefused, check_url, url_problem
from smsgate.webhooks import InvalidSignature, new_secret, sign, signature, verify

SECRET = "whsec_test"
BODY = json.dumps({"id": "evt_1", "type": "opt_out.changed", "data": {}}).encode()
NOW = 1_800_000_000


def test_a_signed_body_verifies_and_gives_the_event() -> None:
    header = sign(BODY, SECRET, NOW)
    assert header == f"t={NOW},v1={signature(BODY, SECRET, NOW)}"
    assert verify(BODY, header, SECRET, now=NOW)["id"] == "evt_1"
    assert verify(BODY.decode(), header, SECRET, now=NOW + 299)["type"] == "opt_out.changed"


@pytest.mark.parametrize(
    ("body", "secret", "now"),
    [
        (BODY + b" ", SECRET, NOW),  # the body changed
        (BODY, "whsec_other", NOW),  # another secret
        (BODY, SECRET, NOW + 301),  # too late: a replay
        (BODY, SECRET, NOW - 301),  # from the future
    ],
)
def test_anything_changed_or_stale_is_refused(body: bytes, secret: str, now: int) -> None:
    with pytest.raises(InvalidSignature):
        verify(body, sign(BODY, SECRET, NOW), secret, now=now)


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", f"t={NOW}", "v1=abc", f"t=x,v1={'0' * 64}", f"t={NOW},v1="],
)
def test_a_malformed_header_is_refused_not_crashed_on(header: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify(BODY, header, SECRET, now=NOW)


def test_one_matching_signature_of_several_is_enough_while_rotating() -> None:
    old, new = sign(BODY, "whsec_old", NOW), signature(BODY, SECRET, NOW)
    assert verify(BODY, f"{old},v1={new}", SECRET, now=NOW)


def test_a_signed_body_that_is_not_a_json_object_is_refused() -> None:
    for body in (b"[1]", b"not json"):
        with pytest.raises(InvalidSignature):
            verify(body, sign(body, SECRET, NOW), SECRET, now=NOW)


def test_secrets_are_long_and_fresh() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(s.startswith("whsec_") and len(s) > 40 for s in secrets)


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "2002:c0a8:0101::1",  # 6to4 of 192.168.1.1
        "not an address",
    ],
)
def test_private_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_internet_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost/x",
        "http://api.localhost/x",
        "http://[::1]:8080/x",
        "http://169.254.169.254/latest",
        "ftp://example.com/x",
        "https://user:pass@example.com/x",
        "https://example.com/x#frag",
        "not a url",
        "https://" + "a" * 2000 + ".com",
    ],
)
def test_urls_that_may_not_take_webhooks(url: str) -> None:
    assert url_problem(url, allow_private=False) is not None


def test_private_urls_are_allowed_when_told() -> None:
    assert url_problem("http://127.0.0.1:9000/hook", allow_private=True) is None
    assert url_problem("ftp://127.0.0.1/hook", allow_private=True) is not None


def test_a_name_that_resolves_to_a_private_address_is_refused_at_registration() -> None:
    with pytest.raises(WebhookUrlRefused) as refused:
        asyncio.run(check_url("http://localhost.:9/x", allow_private=False))
    assert refused.value.code == "invalid_webhook_url"


def test_the_delivery_resolver_refuses_private_answers() -> None:
    async def resolve() -> None:
        resolver = GuardedResolver()
        try:
            await resolver.resolve("localhost", 80)
        finally:
            await resolver.close()

    with pytest.raises(PrivateAddress):
        asyncio.run(resolve())
