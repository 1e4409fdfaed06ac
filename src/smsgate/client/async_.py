"""``AsyncClient``: smsgate's API from asyncio (or trio), over one ``httpx.AsyncClient``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self, TypeVar

import anyio
import httpx

from smsgate.client import _operations as ops
from smsgate.client._core import Attempt, Config, Outcome, Pause, Reply, exchange
from smsgate.client.models import Batch, BatchAccepted, Message, MessagePage
from smsgate.client.retry import RetryPolicy

T = TypeVar("T")


class AsyncClient:
    """An asynchronous client for smsgate's v1 API: ``Client``'s methods, awaited.

    ``AsyncClient("https://sms.example.com", "sg_live_...")``; ``api_key`` may be None for an
    open smsgate on this machine. Use it as an async context manager, or call ``aclose``.

    Each call gives up after ``timeout`` seconds, every attempt and wait included. Answers
    that say nothing was sent and to come back (429 ``rate_limit_exceeded``, 503
    ``provider_unavailable``...) are tried again, up to ``max_attempts`` attempts in all,
    after their ``Retry-After``, each wait capped at ``max_retry_wait`` seconds; see
    ``smsgate.client.retry``. Errors are ``SmsgateError``s: branch on their ``.code``.

    ``http_client`` replaces the client's own ``httpx.AsyncClient`` (for proxies, certificates
    or event hooks); it is not closed by ``aclose``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_attempts: int = 3,
        max_retry_wait: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        retry = RetryPolicy(max_attempts=max_attempts, max_wait=max_retry_wait)
        self._config = Config.make(base_url, api_key, timeout, retry)
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        self._owns_http = http_client is None

    async def send(
        self,
        to: str,
        text: str,
        idempotency_key: str | None = None,
        *,
        callback_url: str | None = None,
        sender: str | None = None,
        pool: str | None = None,
    ) -> Message:
        """Send one message now (``POST /api/v1/messages``); the stored message, ``sent``.

        Without ``idempotency_key`` one is made up, and every attempt of this call carries
        it, so a retry never sends twice. Pass your own (an order id...) to make repeated
        calls safe too: a repeat gets the first answer, and the error of a failed call
        carries the key it used (``error.idempotency_key``). ``callback_url`` also gets this
        message's status webhooks (the server needs SMSGATE_CALLBACK_SECRET). ``sender``
        (a registered sender, the API's ``from``) or ``pool`` says where it goes from.
        """
        return await self._perform(ops.send(to, text, idempotency_key, callback_url, sender, pool))

    async def get(self, message_id: str) -> Message:
        """One message with its status timeline, ``events`` (``GET /api/v1/messages/{id}``)."""
        return await self._perform(ops.get(message_id))

    async def list(
        self,
        status: str | None = None,
        to: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
    ) -> AsyncIterator[Message]:
        """Every message matching the filters, newest first, fetched a page at a time.

        ``limit`` is the page size (1-200); the iterator follows ``next_cursor`` to the end,
        so stop iterating (``break``) to take fewer. Times need a time zone.
        """
        cursor: str | None = None
        while True:
            page = await self.list_page(status, to, created_after, created_before, limit, cursor)
            for message in page.messages:
                yield message
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def list_page(
        self,
        status: str | None = None,
        to: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> MessagePage:
        """One page of ``GET /api/v1/messages``; pass its ``next_cursor`` for the next."""
        return await self._perform(
            ops.list_page(
                status=status,
                to=to,
                created_after=created_after,
                created_before=created_before,
                limit=limit,
                cursor=cursor,
            )
        )

    async def send_bulk(
        self,
        to: Sequence[str],
        text: str,
        send_at: datetime | None = None,
        validity: int | timedelta | None = None,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
        sender: str | None = None,
        pool: str | None = None,
    ) -> BatchAccepted:
        """Queue one text to many numbers (up to 10,000), now or at ``send_at``.

        Answers once every valid row is stored: the batch id, each stored message and each
        refused row, by position. ``validity`` (seconds, 5 to 604,800) expires a message not
        handed over in time. The Idempotency-Key, ``sender`` and ``pool`` work as for
        ``send``.
        """
        operation = ops.send_bulk(
            to,
            text,
            send_at=send_at,
            validity=validity,
            idempotency_key=idempotency_key,
            callback_url=callback_url,
            sender=sender,
            pool=pool,
        )
        return await self._perform(operation)

    async def batch(self, batch_id: str) -> Batch:
        """A batch's progress: its messages counted by status (``GET /api/v1/batches/{id}``)."""
        return await self._perform(ops.batch(batch_id))

    async def cancel(self, message_id: str) -> Message:
        """Cancel a queued message not handed over yet; 409 ``not_cancelable`` otherwise."""
        return await self._perform(ops.cancel(message_id))

    async def cancel_batch(self, batch_id: str) -> Batch:
        """Cancel every message of a batch not handed over yet; ``canceled`` says how many."""
        return await self._perform(ops.cancel_batch(batch_id))

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncClient({self._config.base_url!r})"

    async def _perform(self, operation: ops.Operation[T]) -> T:
        steps = exchange(self._config, operation.call)
        outcome: Outcome = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return operation.read(done.value)
            if isinstance(step, Pause):
                await anyio.sleep(step.seconds)
                outcome = None
            else:
                outcome = await self._attempt(step)

    async def _attempt(self, attempt: Attempt) -> Outcome:
        try:
            response = await self._http.request(
                attempt.method,
                attempt.url,
                params=attempt.params,
                json=attempt.json,
                headers=attempt.headers,
                timeout=attempt.timeout,
            )
        except httpx.TransportError as exc:
            return exc
        return Reply.of(response)
