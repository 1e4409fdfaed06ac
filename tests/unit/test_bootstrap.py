"""The wiring's small decisions."""

from __future__ import annotations

import pytest

from smsgate.bootstrap import own_address


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("::", "http://[::1]:8000"),
        ("::1", "http://[::1]:8000"),
        ("sms.internal", "http://sms.internal:8000"),
    ],
)
def test_the_server_reaches_itself_at_a_usable_address(host: str, address: str) -> None:
    assert own_address(host, 8000) == address
