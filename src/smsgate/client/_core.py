"""One call to smsgate, attempts and waits included, written once for both clients.

``exchange`` is a generator that does no I/O: it yields an ``Attempt`` (send this request,
with this much time) or a ``Pause`` (sleep this long), is sent back what the attempt got (a
``Reply``, or httpx's ``TransportError``), and returns the decoded JSON of the answer or raises
a ``SmsgateError``. ``Client`` and ``AsyncClient`` drive it with their own httpx client and
sleep, so the rules (retries, the deadline, the Idempotency-Key, reading errors) live here
alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from smsgate import __version__
from smsgate.client.errors import InvalidResponse, SmsgateError, TransportError, error_class
from smsgate.client.retry import RetryPolicy
from smsgate.retry_after import parse_retry_after

USER_AGENT = f"smsgate-python/{__version__}"


@dataclass(frozen=True, slots=True)
class Call:
    """A request to smsgate, before the base URL and the key are added."""

    method: str
    path: str  # from the base URL, e.g. /api/v1/messages; ids already quoted
    params: Mapping[str, str] | None = None
    body: Mapping[str, object] | None = None
    idempotency_key: str | None = None

    @property
    def replayable(self) -> bool:
        """Whether sending it twice is harmless: a read, or a POST with an Idempotency-Key,
        whose repeat smsgate answers with the first answer."""
        return self.method == "GET" or self.idempotency_key is not None


@dataclass(frozen=True, slots=True)
class Config:
    """What every call of one client shares."""

    base_url: str
    headers: Mapping[str, str]
    timeout: float  # seconds for a whole call: every attempt and every wait
    retry: RetryPolicy

    @classmethod
    def make(cls, base_url: str, api_key: str | None, timeout: float, retry: RetryPolicy) -> Config:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, not {base_url!r}")
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return cls(base_url.rstrip("/"), headers, timeout, retry)


@dataclass(frozen=True, slots=True)
class Attempt:
    """Send this request and come back with what happened, within ``timeout`` seconds."""

    method: str
    url: str
    params: Mapping[str, str] | None
    json: Mapping[str, object] | None
    headers: Mapping[str, str]
    timeout: float


@dataclass(frozen=True, slots=True)
class Pause:
    """Sleep this long, then come back."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer, read whole."""

    status: int
    headers: httpx.Headers
    content: bytes

    @classmethod
    def of(cls, response: httpx.Response) -> Reply:
        return cls(response.status_code, response.headers, response.content)


Step = Attempt | Pause
Outcome = Reply | httpx.TransportError | None
Exchange = Generator[Step, Outcome, Any]


def exchange(config: Config, call: Call, clock: Callable[[], float] = time.monotonic) -> Exchange:
    """The attempts and waits of one call; returns the answer's JSON or raises SmsgateError.

    Every attempt sends the same request, the same Idempotency-Key included. The call gives
    up, raising the last error, when the policy says not to retry, after ``max_attempts``, or
    when the next wait would end past the call's deadline.
    """
    deadline = clock() + config.timeout
    headers = dict(config.headers)
    if call.idempotency_key is not None:
        headers["Idempotency-Key"] = call.idempotency_key
    attempt = 0
    while True:
        attempt += 1
        outcome = yield Attempt(
            call.method,
            config.base_url + call.path,
            call.params,
            call.body,
            headers,
            max(deadline - clock(), 0.001),
        )
        error: SmsgateError
        if isinstance(outcome, Reply):
            if 200 <= outcome.status < 300:
                return _decoded(outcome)
            error = answer_error(outcome, call)
            wait = config.retry.wait_for_answer(error.code, error.retry_after)
        elif isinstance(outcome, httpx.TransportError):
            error = transport_error(outcome, call)
            wait = (
                None
                if error.code == "unusable_request"
                else config.retry.wait_for_transport(
                    attempt, maybe_sent=error.maybe_sent, replayable=call.replayable
                )
            )
        else:
            raise TypeError(f"an attempt must end in a Reply or a TransportError, not {outcome!r}")
        if wait is None or attempt >= config.retry.max_attempts or clock() + wait >= deadline:
            raise error
        yield Pause(wait)


def answer_error(reply: Reply, call: Call) -> SmsgateError:
    """The exception for an error answer: smsgate's code and words, or ``http_error``."""
    document = _json(reply.content)
    body: dict[str, Any] = document if isinstance(document, dict) else {}
    code = body.get("code")
    message = body.get("error")
    if not isinstance(code, str) or not isinstance(message, str):
        code = "http_error"
        text = reply.content[:200].decode("utf-8", "replace").strip()
        message = f"HTTP {reply.status}" + (f": {text}" if text else "")
    return error_class(reply.status)(
        code,
        message,
        status=reply.status,
        retry_after=parse_retry_after(reply.headers.get("retry-after")),
        body=body,
        idempotency_key=call.idempotency_key,
        request_id=reply.headers.get("x-request-id"),
    )


# The request certainly never reached smsgate.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# No request could be made at all (a bad URL scheme, a bad header): retrying cannot help.
_UNUSABLE = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


def transport_error(exc: httpx.TransportError, call: Call) -> TransportError:
    """The exception for an attempt that got no answer."""
    key = call.idempotency_key
    where = f"{call.method} {call.path}"
    if isinstance(exc, _UNUSABLE):
        return TransportError(
            "unusable_request",
            f"{where} could not be made: {exc}",
            maybe_sent=False,
            idempotency_key=key,
        )
    maybe_sent = not isinstance(exc, _NOT_SENT)
    if isinstance(exc, httpx.TimeoutException):
        code, what = "timeout", "timed out"
    elif maybe_sent:
        code, what = "connection_lost", "lost its connection before the answer"
    else:
        code, what = "connection_failed", "could not connect"
    detail = str(exc) or type(exc).__name__
    return TransportError(
        code, f"{where} {what} ({detail})", maybe_sent=maybe_sent, idempotency_key=key
    )


def _decoded(reply: Reply) -> Any:
    try:
        return json.loads(reply.content)
    except ValueError:
        raise InvalidResponse(
            "invalid_response",
            f"smsgate answered HTTP {reply.status} with a body that is not JSON.",
            status=reply.status,
            request_id=reply.headers.get("x-request-id"),
        ) from None


def _json(content: bytes) -> object:
    try:
        return json.loads(content)
    except ValueError:
        return None
