"""Guard rails over the SendResult union: every outcome is named, described and mapped."""

from __future__ import annotations

import re
from typing import get_args

import pytest

from smsgate.api.errors import SEND_FAILURE_STATUS
from smsgate.providers.base import Accepted, SendResult
from smsgate.services.handoff import describe_failure

RESULTS = get_args(SendResult)

EXAMPLES: dict[str, dict[str, object]] = {
    "Accepted": {"message_uuids": ("u",), "api_id": "a"},
    "Rejected": {"status": 400, "error": "e"},
    "CredentialsRefused": {"error": "e"},
    "RateLimited": {"error": "e", "retry_after": 2.0},
    "Transient": {"error": "e"},
    "Unreadable": {"error": "e", "status": 200},
    "Ambiguous": {"error": "e"},
}


def test_every_outcome_has_a_distinct_snake_case_name_for_logs() -> None:
    names = [kind.outcome for kind in RESULTS]
    assert len(set(names)) == len(names) == 7
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", name) for name in names)


@pytest.mark.parametrize("kind", RESULTS, ids=[k.__name__ for k in RESULTS])
def test_every_failure_is_described_with_a_code_the_api_maps_to_a_status(kind: type) -> None:
    """No outcome is left unmapped: adding one without a description fails here."""
    result = kind(**EXAMPLES[kind.__name__])
    failure = describe_failure(result)
    if kind is Accepted:
        assert failure is None
        return
    assert failure is not None
    assert failure.code in SEND_FAILURE_STATUS
    assert failure.message
