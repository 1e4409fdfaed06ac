"""The Plivo adapter through a mock transport: the exact request, and every answer's result."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable

import orjson
import pytest

from smsgate.providers.base import (
    Accepted,
    Ambiguous,
    CredentialsRefused,
    OutboundSms,
    RateLimited,
    Rejected,
    SendResult,
    Transient,
    Unreadable,
)
from smsgate.providers.http import HttpAnswer, HttpRequest, MaybeSent, MockTransport, NotSent
from smsgate.providers.plivo.answers import parse_retry_after
from smsgate.providers.plivo.provider import PlivoCredentials, PlivoProvider, RetryPolicy

AUTH_ID = "MAXXXXXXXXXXXXXXXXXX"
TOKEN = "s3cret-token"
SMS = OutboundSms(to="+14155552671", text="Your code is 123456")

pytestmark = pytest.mark.anyio


def answer(status: int, body: object = None, **headers: str) -> HttpAnswer:
    raw = body if isinstance(body, bytes) else orjson.dumps(body) if body is not None else b""
    return HttpAnswer(status, headers, raw)


ACCEPTED = answer(
    202, {"api_id": "api-1", "message": "message(s) queued", "message_uuid": ["uuid-1"]}
)


class FakeTime:
    """A clock that only moves when the adapter sleeps, so backoff is tested without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def provider_with(
    *answers: HttpAnswer | Exception, timeout: float = 10.0, time: FakeTime | None = None
) -> tuple[PlivoProvider, MockTransport, FakeTime]:
    script = list(answers)
    time = time or FakeTime()

    def handler(_: HttpRequest) -> HttpAnswer:
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    transport = MockTransport(handler)
    provider = PlivoProvider(
        transport,
        PlivoCredentials(AUTH_ID, TOKEN),
        sender="+14155550199",
        api_url="https://api.plivo.test/",
        timeout=timeout,
        retry=RetryPolicy(max_attempts=4, base_delay=0.2, max_delay=2.0),
        sleep=time.sleep,
        clock=time.clock,
        rng=random.Random(7),
    )
    return provider, transport, time


async def test_the_request_is_a_json_post_to_the_accounts_message_url_with_basic_auth() -> None:
    """One POST with the exact URL, headers and body Plivo documents."""
    provider, transport, _ = provider_with(ACCEPTED)
    await provider.send(SMS)
    (request,) = transport.requests
    assert request.method == "POST"
    assert request.url == f"https://api.plivo.test/v1/Account/{AUTH_ID}/Message/"
    expected_auth = base64.b64encode(f"{AUTH_ID}:{TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    assert request.headers["Content-Type"] == "application/json"
    assert orjson.loads(request.body) == {
        "src": "+14155550199",
        "dst": "+14155552671",
        "text": "Your code is 123456",
        "type": "sms",
        "method": "POST",
        "log": "true",
        "trackable": False,
    }
    assert transport.timeouts == [10.0]


async def test_the_status_url_is_sent_as_url() -> None:
    """`url` carries the status callback."""
    provider, transport, _ = provider_with(ACCEPTED)
    await provider.send(OutboundSms(to="+14155552671", text="hi", status_url="https://x.test/cb"))
    body = orjson.loads(transport.requests[0].body)
    assert body["url"] == "https://x.test/cb"


async def test_unicode_text_is_sent_as_utf8_json() -> None:
    """Text outside ASCII reaches Plivo unchanged."""
    provider, transport, _ = provider_with(ACCEPTED)
    await provider.send(OutboundSms(to="+14155552671", text="Grüße 👋"))
    assert orjson.loads(transport.requests[0].body)["text"] == "Grüße 👋"
    assert "Grüße 👋".encode() in transport.requests[0].body


async def test_no_repr_shows_the_token_the_number_or_the_text() -> None:
    """Reprs end up in logs and tracebacks: credentials, numbers and texts stay out of them."""
    provider, transport, _ = provider_with(ACCEPTED)
    await provider.send(SMS)
    token_in_basic = base64.b64encode(f"{AUTH_ID}:{TOKEN}".encode()).decode()
    for shown in (
        repr(PlivoCredentials(AUTH_ID, TOKEN)),
        repr(transport.requests[0]),
        repr(SMS),
        repr(provider),
    ):
        assert TOKEN not in shown
        assert token_in_basic not in shown
        assert "14155552671" not in shown
        assert "Your code" not in shown


ANSWERS: list[tuple[str, HttpAnswer, Callable[[SendResult], bool]]] = [
    (
        "202 accepted",
        ACCEPTED,
        lambda r: r == Accepted(message_uuids=("uuid-1",), api_id="api-1"),
    ),
    (
        "202 with invalid numbers listed",
        answer(202, {"api_id": "a", "message_uuid": ["u"], "invalid_number": ["123"]}),
        lambda r: isinstance(r, Accepted) and r.invalid_numbers == ("123",),
    ),
    (
        "400 invalid destination",
        answer(400, {"api_id": "a", "error": "'1111111' is not a valid phone number."}),
        lambda r: (
            r == Rejected(status=400, error="'1111111' is not a valid phone number.", api_id="a")
        ),
    ),
    (
        "403 geo permission",
        answer(403, {"api_id": "a", "error": "destination country barred"}),
        lambda r: isinstance(r, Rejected) and r.status == 403,
    ),
    (
        "404 not found",
        answer(404, {"api_id": "a", "error": "not found"}),
        lambda r: isinstance(r, Rejected) and r.status == 404,
    ),
    (
        "401 credentials refused, without api_id",
        answer(401, {"error": "authentication credentials were not provided"}),
        lambda r: r == CredentialsRefused(error="authentication credentials were not provided"),
    ),
    (
        "500 may have been sent, so it is not retried",
        answer(500, {"api_id": "a", "error": "internal error"}),
        lambda r: r == Transient(error="internal error", status=500, may_have_been_sent=True),
    ),
    (
        "504 from a gateway may have been sent, not retried",
        answer(504, b"<html>gateway timeout</html>"),
        lambda r: isinstance(r, Transient) and r.status == 504 and r.may_have_been_sent,
    ),
    (
        "202 with an HTML body is unreadable and may have been sent",
        answer(202, b"<html>ok</html>"),
        lambda r: isinstance(r, Unreadable) and r.may_have_been_sent,
    ),
    (
        "202 without message_uuid is unreadable",
        answer(202, {"api_id": "a", "message": "queued"}),
        lambda r: isinstance(r, Unreadable) and r.status == 202,
    ),
    (
        "302 redirect is unreadable and nothing was sent",
        answer(302, b"", Location="https://elsewhere.test/"),
        lambda r: isinstance(r, Unreadable) and not r.may_have_been_sent,
    ),
    (
        "400 with a non-JSON body keeps a generic reason",
        answer(400, b"bad"),
        lambda r: r == Rejected(status=400, error="HTTP 400 from Plivo with an unreadable body"),
    ),
]


@pytest.mark.parametrize(
    ("answer_", "check"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS]
)
async def test_each_answer_maps_to_one_result(
    answer_: HttpAnswer, check: Callable[[SendResult], bool]
) -> None:
    """Every status Plivo may answer becomes exactly one typed result, after one request."""
    provider, transport, _ = provider_with(answer_)
    result = await provider.send(SMS)
    assert check(result), result
    assert len(transport.requests) == 1


RETRIED: list[tuple[str, HttpAnswer | Exception]] = [
    ("connection refused", NotSent("connection refused")),
    ("429 rate limited", answer(429, {"api_id": "a", "error": "too many requests"})),
    ("502 bad gateway", answer(502, b"<html>bad gateway</html>")),
    ("503 unavailable", answer(503, {"api_id": "a", "error": "service unavailable"})),
]


@pytest.mark.parametrize("failure", [r[1] for r in RETRIED], ids=[r[0] for r in RETRIED])
async def test_failures_that_sent_nothing_are_retried_until_success(
    failure: HttpAnswer | Exception,
) -> None:
    """Refused connections, 429, 502 and 503 are retried, and the success is reported."""
    provider, transport, time = provider_with(failure, failure, ACCEPTED)
    result = await provider.send(SMS)
    assert isinstance(result, Accepted)
    assert result.attempts == 3
    assert len(transport.requests) == 3
    assert len(time.sleeps) == 2


async def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    """Each pause is drawn below base * 2^(n-1), never above the cap."""
    policy = RetryPolicy(max_attempts=10, base_delay=0.2, max_delay=1.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (9, 1.0)]:
        pauses = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= p <= ceiling for p in pauses)
        assert max(pauses) > ceiling * 0.8  # jitter spans the whole range


async def test_retries_stop_after_max_attempts_with_the_last_failure() -> None:
    """Four 503s in a row end as Transient after four attempts."""
    failure = answer(503, {"api_id": "a", "error": "service unavailable"})
    provider, transport, _ = provider_with(failure, failure, failure, failure, ACCEPTED)
    result = await provider.send(SMS)
    assert result == Transient(error="service unavailable", status=503, attempts=4)
    assert len(transport.requests) == 4


async def test_connection_failures_end_as_transient_when_attempts_run_out() -> None:
    """Plivo unreachable on every attempt is reported as unreachable, not as a timeout."""
    provider, _, _ = provider_with(*[NotSent("Connection refused")] * 4)
    result = await provider.send(SMS)
    assert isinstance(result, Transient)
    assert result.status is None
    assert "unreachable" in result.error


async def test_retry_after_is_honoured_when_it_fits_in_the_deadline() -> None:
    """A 429 asking for 3 s is waited out, then the send succeeds."""
    limited = answer(429, {"error": "slow down"}, **{"Retry-After": "3"})
    provider, _, time = provider_with(limited, ACCEPTED, timeout=10)
    result = await provider.send(SMS)
    assert isinstance(result, Accepted)
    assert time.sleeps[0] >= 3


async def test_retry_after_beyond_the_deadline_is_reported_to_the_caller() -> None:
    """A 429 asking for 30 s with a 10 s deadline comes back as RateLimited(30) at once."""
    limited = answer(429, {"error": "slow down"}, **{"Retry-After": "30"})
    provider, transport, time = provider_with(limited, ACCEPTED, timeout=10)
    result = await provider.send(SMS)
    assert result == RateLimited(error="slow down", retry_after=30.0)
    assert time.sleeps == []
    assert len(transport.requests) == 1


async def test_no_retry_starts_without_time_for_it_and_the_last_failure_is_reported() -> None:
    """A retry would have under min_attempt_time left: stop, and say Plivo was unavailable."""
    failure = answer(503, {"error": "down"})
    time = FakeTime()
    provider, transport, _ = provider_with(failure, ACCEPTED, timeout=0.5, time=time)
    result = await provider.send(SMS)
    assert result == Transient(error="down", status=503)
    assert not result.may_have_been_sent
    assert len(transport.requests) == 1


async def test_a_pause_that_overruns_the_deadline_ends_with_the_last_failure() -> None:
    """If the backoff sleep oversleeps into the deadline, nothing more is tried."""

    class OversleepingTime(FakeTime):
        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            self.now += 9.8  # the machine stalled

    failure = answer(503, {"error": "down"})
    provider, transport, _ = provider_with(failure, ACCEPTED, time=OversleepingTime())
    result = await provider.send(SMS)
    assert result == Transient(error="down", status=503)
    assert len(transport.requests) == 1


async def test_each_attempt_gets_only_the_time_left_in_the_deadline() -> None:
    """The deadline covers all attempts together, not each one."""
    time = FakeTime()
    failure = answer(503, {"error": "down"})
    provider, transport, _ = provider_with(failure, failure, ACCEPTED, timeout=5, time=time)
    await provider.send(SMS)
    assert transport.timeouts[0] == 5
    assert transport.timeouts[1] == pytest.approx(5 - time.sleeps[0])
    assert transport.timeouts[2] == pytest.approx(5 - sum(time.sleeps))


@pytest.mark.parametrize(
    "failure",
    [MaybeSent("timed out"), MaybeSent("ServerDisconnectedError")],
    ids=["timeout after sending", "connection dropped after sending"],
)
async def test_a_request_that_may_have_arrived_is_never_sent_again(failure: Exception) -> None:
    """A timeout or a dropped connection after the request went out ends as Ambiguous."""
    provider, transport, time = provider_with(failure, ACCEPTED)
    result = await provider.send(SMS)
    assert isinstance(result, Ambiguous)
    assert result.may_have_been_sent
    assert len(transport.requests) == 1
    assert time.sleeps == []


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("5", 5.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("soon", None),
        (None, None),
        ("nan", None),
        ("999999", 3600.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 -0000", 0.0),
    ],
    ids=[
        "seconds",
        "fraction",
        "negative",
        "garbage",
        "absent",
        "nan",
        "capped",
        "past date",
        "past date, no zone",
    ],
)
def test_retry_after_parsing(header: str | None, seconds: float | None) -> None:
    """Retry-After is read as seconds or an HTTP date, clamped to [0, 1 h]."""
    assert parse_retry_after(header) == seconds


async def test_closing_the_provider_closes_the_transport() -> None:
    """The pooled client is released when the provider closes."""
    provider, transport, _ = provider_with()
    await provider.aclose()
    assert transport.closed


def test_a_future_http_date_gives_the_seconds_until_it() -> None:
    """Dates are read as UTC whatever the machine's zone, `-0000` included."""
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    moment = datetime.now(UTC) + timedelta(seconds=30)
    for header in (
        format_datetime(moment, usegmt=True),
        format_datetime(moment.replace(tzinfo=None)),
    ):
        seconds = parse_retry_after(header)
        assert seconds is not None
        assert 25 <= seconds <= 31
