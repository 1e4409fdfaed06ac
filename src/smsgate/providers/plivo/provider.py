"""The Plivo adapter: one call to Plivo's Message API, its answer turned into one SendResult.

It speaks Plivo's REST API directly rather than through the ``plivo`` SDK, which is synchronous,
hard-codes its base URL and drops the body of 429 and 5xx answers (reference §9). A contract test
proves the request we send is the one the SDK would send for the same inputs.

Retries stay inside one deadline and are only ever made when the earlier attempt certainly did not
send anything: the connection failed before the request went out, or Plivo answered 429, 502 or
503. A timeout or a dropped connection after the request may have reached Plivo ends the send as
``Ambiguous``; sending it again could text someone twice.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode, urljoin

import orjson

from smsgate.domain.pricing import PriceTableError, parse_rate
from smsgate.domain.senders import SenderAddress
from smsgate.providers.base import (
    AccountSummary,
    AccountUnavailable,
    Ambiguous,
    LookupUnavailable,
    OutboundSms,
    PricingUnavailable,
    RateLimited,
    SendResult,
    SentRecord,
    Transient,
)
from smsgate.providers.http import (
    HttpRequest,
    HttpTransport,
    MaybeSent,
    NotSent,
    TransportError,
)
from smsgate.providers.plivo.answers import Retry, error_text, interpret, json_object, str_or_none
from smsgate.providers.plivo.callbacks import from_provider_status


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter, bounded by attempts and by the deadline."""

    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 2.0
    # A retry is only started with at least this much of the deadline left: a retry squeezed
    # into the last milliseconds would likely time out and turn "not sent" into "maybe sent".
    min_attempt_time: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return rng.uniform(0, ceiling)


@dataclass(frozen=True, slots=True)
class PlivoCredentials:
    auth_id: str
    auth_token: str = ""

    def __repr__(self) -> str:
        return f"PlivoCredentials(auth_id={self.auth_id!r}, auth_token='**********')"


Sleep = Callable[[float], Awaitable[None]]


class PlivoProvider:
    name = "plivo"

    def __init__(
        self,
        transport: HttpTransport,
        credentials: PlivoCredentials,
        *,
        sender: str,
        api_url: str = "https://api.plivo.com",
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._transport = transport
        self._sender = SenderAddress.of(sender)
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._api_url = api_url.rstrip("/")
        self._account_url = f"{self._api_url}/v1/Account/{credentials.auth_id}/"
        self._url = f"{self._account_url}Message/"
        basic = f"{credentials.auth_id}:{credentials.auth_token}".encode()
        self._headers = {
            "Authorization": "Basic " + base64.b64encode(basic).decode("ascii"),
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "smsgate",
        }

    def __repr__(self) -> str:
        return f"PlivoProvider(url={self._url!r}, sender={self._sender.address!r})"

    async def send(self, sms: OutboundSms) -> SendResult:
        request = HttpRequest("POST", self._url, self._headers, self.payload(sms))
        deadline = self._clock() + self._timeout
        attempt = 0
        while True:
            attempt += 1
            result = await self._attempt(request, deadline - self._clock(), attempt)
            if not isinstance(result, Retry):
                return result
            pause = self._pause_before_next(result, attempt)
            room = self._retry.min_attempt_time
            if pause is None or self._clock() + pause + room > deadline:
                return result.final
            await self._sleep(pause)
            if deadline - self._clock() < room:  # the pause overran: stop with what we know
                return result.final

    def payload(self, sms: OutboundSms) -> bytes:
        """The JSON body, field for field what ``plivo.RestClient().messages.create`` sends."""
        sender = sms.sender or self._sender
        body: dict[str, Any] = {
            # Exactly one of the two: Plivo refuses both, and neither (reference §1).
            ("powerpack_uuid" if sender.powerpack else "src"): sender.address,
            "dst": sms.to,
            "text": sms.text,
            "type": "sms",
            "method": "POST",
            "log": "true",
            "trackable": False,
        }
        if sms.status_url is not None:
            body["url"] = sms.status_url
        return orjson.dumps(body)

    async def sms_rate(self, region: str) -> Decimal | None:
        """The highest outbound SMS rate per segment Plivo lists for ``region`` (ISO alpha-2).

        Plivo's Pricing API gives a country rate and per-carrier rates; the highest is kept,
        so an estimate made with it is an upper bound. None when Plivo prices no SMS there.
        Raises PricingUnavailable when the rate cannot be read.
        """
        url = f"{self._account_url}Pricing/?country_iso={quote(region)}"
        document = await self._read(url, PricingUnavailable, absent_on_404=True)
        return highest_outbound_rate(document) if document is not None else None

    async def account(self) -> AccountSummary:
        """Read the account behind the credentials (``GET /v1/Account/{auth_id}/``).

        The cheapest authenticated call Plivo has: it proves the credentials work and sends
        nothing (``smsgate doctor``). Raises AccountUnavailable, saying why.
        """
        document = await self._read(self._account_url, AccountUnavailable)
        assert document is not None  # None only stands for a 404 when asked to
        credits = document.get("cash_credits")
        try:
            balance = Decimal(credits) if isinstance(credits, str) and credits else None
        except ArithmeticError:
            balance = None
        return AccountSummary(str_or_none(document.get("name")), balance)

    async def find_sent(self, to: str, since: datetime, until: datetime) -> list[SentRecord]:
        """Outbound messages to ``to`` that Plivo took between ``since`` and ``until``.

        Reads Plivo's message list (reference §3). Whether Plivo reads the time filters in UTC
        or in the account's time zone is not documented, so the query asks for 14 hours more
        on each side (the widest UTC offset), and the times in the answer, which carry their
        offset, decide. Raises LookupUnavailable when the list cannot be read.
        """
        margin = timedelta(hours=14)
        query = urlencode(
            {
                "to_number": to.lstrip("+"),
                "message_direction": "outbound",
                "message_time__gte": _plivo_filter_time(since - margin),
                "message_time__lte": _plivo_filter_time(until + margin),
                "limit": "20",
            }
        )
        url: str | None = f"{self._url}?{query}"
        found: list[SentRecord] = []
        for _ in range(_MAX_LIST_PAGES):
            if url is None:
                return found
            document = await self._read(url, LookupUnavailable)
            assert document is not None  # None only stands for a 404 when asked to
            for item in document.get("objects") or []:
                record = _sent_record(item)
                if record is not None and since <= record.at <= until:
                    found.append(record)
            meta = document.get("meta")
            following = meta.get("next") if isinstance(meta, dict) else None
            url = urljoin(self._url, following) if isinstance(following, str) else None
        raise LookupUnavailable(f"over {_MAX_LIST_PAGES * 20} messages to one number in the window")

    async def _read(
        self, url: str, failure: type[Exception], *, absent_on_404: bool = False
    ) -> dict[str, Any] | None:
        """GET one of Plivo's read APIs: its JSON object, or None for a 404 when that means
        "nothing there". Anything else that is not a readable 200 raises ``failure``, whose
        message says why without secrets."""
        request = HttpRequest("GET", url, self._headers, b"")
        try:
            answer = await self._transport.request(request, timeout=self._timeout)
        except TransportError as exc:
            # Where it tried and which setting says so: the usual fix is that setting.
            raise failure(
                f"Plivo is unreachable at {self._api_url} (PLIVO_API_URL): {exc}"
            ) from None
        if answer.status == 404 and absent_on_404:
            return None
        if answer.status == 401:
            raise failure(
                "Plivo answered HTTP 401: it refused smsgate's credentials; check "
                "PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN"
            )
        document = json_object(answer.body)
        if answer.status != 200 or document is None:
            error = error_text(document, answer.body, answer.status)
            raise failure(f"Plivo answered HTTP {answer.status} ({error})")
        return document

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def _attempt(
        self, request: HttpRequest, remaining: float, attempt: int
    ) -> SendResult | Retry:
        try:
            answer = await self._transport.request(request, timeout=remaining)
        except NotSent as exc:
            final = Transient(error=f"Plivo unreachable ({exc})", attempts=attempt)
            return Retry(final)
        except MaybeSent as exc:
            return Ambiguous(error=f"no answer from Plivo ({exc})", attempts=attempt)
        return interpret(answer, attempt)

    def _pause_before_next(self, retry: Retry, attempt: int) -> float | None:
        if attempt >= self._retry.max_attempts:
            return None
        backoff = self._retry.delay(attempt, self._rng)
        final = retry.final
        if isinstance(final, RateLimited) and final.retry_after is not None:
            return max(backoff, final.retry_after)
        return backoff


_MAX_LIST_PAGES = 5


def _plivo_filter_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _sent_record(item: object) -> SentRecord | None:
    """One object of Plivo's message list, or None if it is not a readable outbound message."""
    if not isinstance(item, dict):
        return None
    fields = [item.get(k) for k in ("message_uuid", "to_number", "message_state", "message_time")]
    texts = [v for v in fields if isinstance(v, str) and v]
    if len(texts) != len(fields):
        return None
    uuid, to, state, at = texts
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # Plivo's own format is UTC without an offset
    return SentRecord(uuid, "+" + to.lstrip("+"), state, moment, from_provider_status(state))


def highest_outbound_rate(document: dict[str, Any]) -> Decimal | None:
    """The highest of the outbound message rates in a Pricing API answer."""
    message = document.get("message")
    if not isinstance(message, dict):
        raise PricingUnavailable("Plivo's pricing answer has no message rates")
    candidates: list[object] = []
    outbound = message.get("outbound")
    if isinstance(outbound, dict):
        candidates.append(outbound.get("rate"))
    networks = message.get("outbound_networks_list")
    if isinstance(networks, list):
        candidates += [n.get("rate") for n in networks if isinstance(n, dict)]
    rates: list[Decimal] = []
    for candidate in candidates:
        if candidate is None:
            continue
        try:
            rates.append(parse_rate(candidate, "a rate"))
        except PriceTableError as exc:
            raise PricingUnavailable(f"Plivo's pricing answer is unreadable: {exc}") from None
    return max(rates) if rates else None
