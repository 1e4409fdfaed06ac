"""The client's rules that need no server: which answers are retried and after how long,
``Retry-After`` read both ways, answers that are not smsgate's, and a light ``import smsgate``."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from smsgate.client import InvalidResponse, Message, RetryPolicy
from smsgate.retry_after import parse_retry_after


@pytest.mark.parametrize(
    ("code", "retry_after", "wait"),
    [
        ("rate_limit_exceeded", 1.0, 1.0),
        ("rate_limit_exceeded", 45.0, 30.0),  # capped at max_wait
        ("provider_unavailable", 5.0, 5.0),
        ("provider_rate_limited", None, 1.0),
        ("store_unavailable", 5.0, 5.0),
        ("limits_unavailable", 5.0, 5.0),
        ("idempotency_key_in_use", None, 1.0),
        ("destination_limit_exceeded", 3600.0, None),  # long: raised at once
        ("destination_limit_exceeded", 20.0, 20.0),  # unless it fits in max_wait
        ("daily_limit_exceeded", 40000.0, None),
        ("spend_limit_reached", 40000.0, None),
        ("provider_timeout", None, None),  # may have been sent
        ("provider_error", None, None),
        ("price_unknown", None, None),
        ("invalid_number", None, None),
    ],
)
def test_only_answers_that_sent_nothing_are_retried(
    code: str, retry_after: float | None, wait: float | None
) -> None:
    assert RetryPolicy(max_wait=30).wait_for_answer(code, retry_after) == wait


def test_a_lost_connection_is_retried_only_when_repeating_the_request_is_harmless() -> None:
    policy = RetryPolicy(max_wait=1, backoff=0.5)
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 1.0)):
        wait = policy.wait_for_transport(attempt, maybe_sent=False, replayable=False)
        assert wait is not None
        assert ceiling / 2 <= wait <= ceiling
    assert policy.wait_for_transport(1, maybe_sent=True, replayable=True) is not None
    assert policy.wait_for_transport(1, maybe_sent=True, replayable=False) is None
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_retry_after_is_seconds_or_an_http_date() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("inf") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    seconds = parse_retry_after(later)
    assert seconds is not None
    assert 100 < seconds <= 120


def test_an_answer_missing_a_field_is_an_invalid_response() -> None:
    with pytest.raises(InvalidResponse, match="'encoding' is missing"):
        Message.from_json({"id": "01J", "to": "+14155552671"})
    with pytest.raises(InvalidResponse):
        Message.from_json(["not", "an", "object"])


def test_importing_smsgate_imports_neither_the_server_nor_httpx() -> None:
    script = (
        "import sys, smsgate\n"
        "heavy = ('fastapi', 'starlette', 'sqlalchemy', 'pydantic', 'httpx')\n"
        "assert not [m for m in heavy if m in sys.modules], sys.modules.keys()\n"
        "from smsgate import AsyncClient, Client, SmsgateError, __version__\n"
        "assert not [m for m in heavy[:4] if m in sys.modules]\n"
        "assert Client.__module__ == 'smsgate.client.sync' and __version__\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
