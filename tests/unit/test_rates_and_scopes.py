"""Rates written as count/period, scopes, and the shape of API keys."""

from __future__ import annotations

import pytest

from smsgate.domain.access import OPEN, Principal, Scope, format_scopes, parse_scopes
from smsgate.domain.api_keys import (
    LIVE_PREFIX,
    TEST_PREFIX,
    generate_key,
    is_test_key,
    key_digest,
    shown_prefix,
)
from smsgate.domain.errors import DomainError
from smsgate.domain.rates import Rate, parse_rate


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("60/minute", Rate(60, 60)),
        ("5/hour", Rate(5, 3600)),
        ("5/hours", Rate(5, 3600)),
        ("10000/day", Rate(10000, 86400)),
        ("2/s", Rate(2, 1)),
        (" 10 / 5m ", Rate(10, 300)),
    ],
)
def test_rates_are_read(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["off", "OFF", "none", "0", "unlimited"])
def test_a_rate_can_be_off(text: str) -> None:
    assert parse_rate(text) is None


@pytest.mark.parametrize("text", ["60", "60/fortnight", "x/minute", "-1/minute", "0/minute", ""])
def test_a_bad_rate_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="60/minute"):
        parse_rate(text)


def test_a_rate_reads_back_as_written() -> None:
    assert str(Rate(60, 60)) == "60/minute"
    assert str(Rate(5, 3600)) == "5/hour"


def test_scopes_are_read_and_written_in_one_order() -> None:
    assert parse_scopes("read, SEND") == {Scope.SEND, Scope.READ}
    assert format_scopes({Scope.READ, Scope.ADMIN, Scope.SEND}) == "send,read,admin"


@pytest.mark.parametrize("text", ["", " , ", "send,write"])
def test_an_unknown_or_missing_scope_is_refused(text: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_scopes(text)
    assert caught.value.code == "invalid_scope"


def test_admin_allows_everything_and_other_scopes_only_themselves() -> None:
    reader = Principal("k1", "reader", frozenset({Scope.READ}))
    admin = Principal("k2", "admin", frozenset({Scope.ADMIN}))
    assert reader.allows(Scope.READ)
    assert not reader.allows(Scope.SEND)
    assert not reader.allows(Scope.ADMIN)
    assert all(admin.allows(scope) for scope in Scope)
    assert OPEN.limit_key is None
    assert reader.limit_key == "k1"


def test_keys_say_what_they_are_and_are_never_alike() -> None:
    live, test = generate_key(test=False), generate_key(test=True)
    assert live.startswith(LIVE_PREFIX)
    assert test.startswith(TEST_PREFIX)
    assert is_test_key(test)
    assert not is_test_key(live)
    assert len(live) == len(LIVE_PREFIX) + 40
    assert live.isascii()
    assert live[len(LIVE_PREFIX) :].isalnum()
    assert len({generate_key(test=False) for _ in range(1000)}) == 1000
    assert shown_prefix(live) == live[:16]
    assert key_digest(live) == key_digest(live.encode())
    assert len(key_digest(live)) == 64
