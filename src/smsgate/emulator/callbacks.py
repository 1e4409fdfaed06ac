"""Status callbacks: the signed requests Plivo makes to a message's ``url`` as it progresses.

One background task per message walks its states in order (queued, sent, then the final
one), ``step_s`` apart. A callback that gets no 2xx is retried three times, 60, 120 and
240 s apart as Plivo does, those delays scaled by ``state.callback_retry_scale``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from smsgate.domain.addresses import is_loopback
from smsgate.emulator.records import (
    MCC,
    MNC,
    RATE_PER_UNIT,
    CallbackAttempt,
    MessageRecord,
    money,
    plivo_time,
)
from smsgate.emulator.state import EmulatorState
from smsgate.providers.plivo.signature import signature_headers

_RETRY_DELAYS_S: Final = (60, 120, 240)


class CallbackDispatcher:
    """Owns the callback tasks and the HTTP session they share."""

    def __init__(self, state: EmulatorState, session: aiohttp.ClientSession) -> None:
        self._state = state
        self._session = session
        self._tasks: set[asyncio.Task[None]] = set()

    def schedule(self, messages: Iterable[MessageRecord]) -> None:
        """Start the callbacks of every message that asked for them."""
        for message in messages:
            if message.url:
                task = asyncio.create_task(self._walk(message))
                # The set keeps the task alive: the loop itself holds only a weak reference.
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every callback scheduled so far has been delivered or given up."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def close(self) -> None:
        """Cancel callbacks still in flight and wait until they have stopped."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _walk(self, message: MessageRecord) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index in range(len(message.outcome.path)):
            wait = start + index * message.step_s - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._deliver(message, index)

    async def _deliver(self, message: MessageRecord, index: int) -> None:
        fields = callback_fields(message, index)
        for attempt, delay in enumerate((0, *_RETRY_DELAYS_S)):
            if delay:
                await asyncio.sleep(delay * self._state.callback_retry_scale)
            status, error = await self._post(message, fields)
            self._state.record_callback(
                CallbackAttempt(
                    time=time.time(),
                    url=message.url or "",
                    method=message.method,
                    message_uuid=message.uuid,
                    message_status=fields["Status"],
                    sequence=index + 1,
                    attempt=attempt,
                    status=status,
                    error=error,
                )
            )
            if status is not None and 200 <= status < 300:
                return

    async def _post(
        self, message: MessageRecord, fields: dict[str, str]
    ) -> tuple[int | None, str | None]:
        url = message.url or ""
        if message.method == "GET":
            url += ("&" if "?" in url else "?") + urlencode(fields)
            body = None
        else:
            body = fields
        if not self._state.allow_remote_callbacks and not is_loopback(URL(url).host or ""):
            return None, "refused: callbacks go to this machine only (--allow-remote-callbacks)"
        headers = signature_headers(message.method, url, self._state.auth_token, body)
        timeout = aiohttp.ClientTimeout(total=self._state.callback_timeout_s)
        try:
            # encoded=True sends the URL exactly as signed, without re-quoting it.
            async with self._session.request(
                message.method,
                URL(url, encoded=True),
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"


def callback_fields(message: MessageRecord, index: int) -> dict[str, str]:
    """The form fields of the callback for state ``index`` of ``message`` (reference §3)."""
    status = message.outcome.path[index]
    final = index == len(message.outcome.path) - 1
    return {
        "MessageUUID": message.uuid,
        "ParentMessageUUID": message.uuid,
        "PartInfo": "1 of 1",
        "Sequence": str(index + 1),
        "To": message.to_number,
        "From": message.from_number,
        "Type": message.type,
        "Status": status,
        "Units": str(message.units),
        "TotalRate": money(RATE_PER_UNIT),
        "TotalAmount": message.total_amount(status),
        "MCC": MCC,
        "MNC": MNC,
        # Blank, not absent, when there is no error: the signature covers blank fields too.
        "ErrorCode": message.error_code(status),
        "MessageTime": plivo_time(message.created),
        "QueuedTime": plivo_time(message.created),
        "SentTime": plivo_time(message.entered(1)) if message.was_sent(index) else "",
        "DeliveryReportTime": plivo_time(message.entered(index)) if final else "",
        "PowerpackUUID": message.powerpack_uuid,
        "requester_ip": message.requester_ip,
    }
