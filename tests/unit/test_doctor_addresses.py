"""``smsgate doctor`` calls an address public exactly when the webhook guard does.

They once had a rule each, and disagreed on multicast (``ff0e::1``, ``224.0.0.1``) and on the
6to4 form of loopback (``2002:7f00:1::1``): the doctor called them fine, the guard refused.
"""

from __future__ import annotations

import pytest

from smsgate.cli.checks import Level
from smsgate.cli.reachability import address_check
from smsgate.services.webhook_urls import url_problem

DISAGREED = ["ff0e::1", "224.0.0.1", "2002:7f00:1::1"]
OTHERS = ["127.0.0.1", "10.0.0.1", "::1", "fe80::1", "100.64.0.1", "93.184.216.34", "2606:4700::1"]


def guard_refuses(address: str) -> bool:
    host = f"[{address}]" if ":" in address else address
    return url_problem(f"https://{host}/hook", allow_private=False) is not None


@pytest.mark.parametrize("address", DISAGREED + OTHERS)
def test_the_doctor_warns_about_an_address_exactly_when_the_guard_refuses_it(
    address: str,
) -> None:
    check = address_check("smsgate.example", {address})
    assert (check is not None) == guard_refuses(address)
    if check is not None:
        assert check.level is Level.WARN
        assert check.detail.endswith("not a public address: Plivo cannot reach it")


@pytest.mark.parametrize("address", DISAGREED)
def test_multicast_and_6to4_loopback_are_not_public_to_the_doctor(address: str) -> None:
    assert address_check("smsgate.example", {address}) is not None


def test_one_public_address_among_private_ones_is_enough() -> None:
    assert address_check("smsgate.example", {"10.0.0.1", "93.184.216.34"}) is None


def test_a_zone_index_is_ignored() -> None:
    assert address_check("smsgate.example", {"fe80::1%eth0"}) is not None
