"""Idempotent requests: the same ``Idempotency-Key`` and body give the first answer again.

The first request with a key claims it and makes the answer; every repeat, even one arriving
while the first is still talking to Plivo, waits for that answer and returns it, so Plivo is
called once. The same key with another body is refused (``idempotency_key_reused``). An
expired key is forgotten and claimed afresh.

One answer is neither kept nor forgotten: "nothing was sent, try again" for a message the
first request stored (Plivo answered 429 or 503). The key is *held* with that message, and the
next request with it sends the same message, not a new one: one key, one message, however
many tries it takes.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, TypeVar

import orjson

from smsgate.db.errors import StoreUnavailable
from smsgate.db.idempotency import IdempotencyStore
from smsgate.domain.errors import DomainError
from smsgate.logs import get_logger

MAX_KEY_LENGTH = 255
log = get_logger("smsgate.idempotency")
T = TypeVar("T")

# Makes the answer; given the id of the message a held key stands for, sends that one.
Make = Callable[[str | None], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class _Held:
    message_id: str


@dataclass(frozen=True, slots=True)
class Kept:
    """What the first request leaves for its repeats.

    ``status`` is the face's own word for the answer (the API's HTTP status), stored beside the
    document; this service never reads it.
    """

    document: dict[str, Any]
    status: int
    message_id: str | None = None
    # The answer says nothing was sent yet: the next request with the key sends message_id.
    held: bool = False


class Replay(Protocol[T]):
    """How a face's answers are kept for a key and given again: the API's, in ``api/answers``."""

    def keep(self, answer: T) -> Kept | None:
        """What to store for ``answer``; None to forget the key (nothing was stored or sent:
        a retry starts afresh); a ``held`` Kept to have the retry send the stored message."""

    def replay(self, document: dict[str, Any]) -> T:
        """The answer a stored document stands for."""


class IdempotencyError(DomainError):
    """A key that cannot be used as given."""


def request_hash(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path and the body's JSON value.

    The body is compared as parsed JSON, so key order and spacing do not matter.
    """
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise IdempotencyError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
            code="invalid_idempotency_key",
        )
    return key


class Idempotency:
    def __init__(
        self,
        store: IdempotencyStore,
        *,
        ttl: timedelta,
        wait: float,
        poll: float = 0.05,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._wait = wait  # how long a repeat waits for the first request's answer
        self._poll = poll

    async def run(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        make: Make[T],
        replay: Replay[T],
    ) -> T:
        key = check_key(key)
        while True:
            if await self._store.claim(scope, key, fingerprint, self._ttl):
                return await self._first(scope, key, lambda: make(None), replay)
            stored = await self._settled(scope, key, fingerprint, replay)
            if isinstance(stored, _Held):
                if await self._store.resume(scope, key, stored.message_id):
                    resend = functools.partial(make, stored.message_id)
                    return await self._first(scope, key, resend, replay)
                continue  # another repeat took the hold first: wait for its answer
            if stored is not None:
                return stored
            # The key expired (or was released) while we looked: claim it afresh.

    async def purge_forever(self, every: float = 3600.0) -> None:
        """Delete expired keys now and then every ``every`` seconds, until cancelled.

        Expired keys are already ignored; this only keeps the table from growing.
        """
        while True:
            try:
                removed = await self._store.purge()
            except StoreUnavailable:
                log.warning("idempotency_purge_failed")
            else:
                if removed:
                    log.info("idempotency_keys_purged", count=removed)
            await asyncio.sleep(every)

    async def _first(
        self, scope: str, key: str, make: Callable[[], Awaitable[T]], replay: Replay[T]
    ) -> T:
        # The answer is made in a task of its own and shielded: if the caller goes away while
        # Plivo is being called, the send still finishes and its answer is kept for the key,
        # so a retry gets it instead of sending again.
        task = asyncio.ensure_future(self._make_and_keep(scope, key, make, replay))
        return await asyncio.shield(task)

    async def _make_and_keep(
        self, scope: str, key: str, make: Callable[[], Awaitable[T]], replay: Replay[T]
    ) -> T:
        try:
            answer = await make()
        except BaseException:
            # No answer was made, so nothing reached a provider (a failure before the hand-off,
            # or a bug): free the key so a retry can run.
            await self._forget(scope, key)
            raise
        kept = replay.keep(answer)
        if kept is None:
            # Repeating "try again later" for a day would defeat its Retry-After.
            await self._forget(scope, key)
            return answer
        if kept.held and kept.message_id is not None:
            try:
                await self._store.hold(scope, key, kept.message_id)
            except StoreUnavailable:
                # Repeats wait, then find the claim abandoned and start afresh; the held
                # message, never sent, expires with the key (the reconciler's lapsed holds).
                log.error("idempotency_key_not_held", message_id=kept.message_id)
            return answer
        try:
            await self._store.complete(scope, key, kept.status, kept.document, kept.message_id)
        except StoreUnavailable:
            # The send stands and its answer is true: return it. Repeats of the key wait, then
            # answer 409, until the key expires; they never send again.
            log.error("idempotent_answer_not_stored", message_id=kept.message_id)
        return answer

    async def _forget(self, scope: str, key: str) -> None:
        try:
            await self._store.release(scope, key)
        except StoreUnavailable:
            log.error("idempotency_key_not_released")

    async def _settled(
        self, scope: str, key: str, fingerprint: str, replay: Replay[T]
    ) -> T | _Held | None:
        """The stored answer, once there is one; the held message when the key is held; None
        when the key is gone or expired."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        waited_for_it = False  # a duplicate of a running request gets its answer, expired or not
        while True:
            stored = await self._store.read(scope, key)
            if stored is None:
                return None
            if stored.expired and not (waited_for_it and stored.status_code is not None):
                await self._store.release_expired(scope, key)
                return None
            if stored.request_hash != fingerprint:
                raise IdempotencyError(
                    "This Idempotency-Key was used with a different request.",
                    code="idempotency_key_reused",
                )
            if stored.status_code is not None and stored.response is not None:
                return replay.replay(stored.response)
            if stored.held_message_id is not None:
                return _Held(stored.held_message_id)
            waited_for_it = True
            if loop.time() >= deadline:
                raise IdempotencyError(
                    "A request with this Idempotency-Key is still being processed; "
                    "try again shortly.",
                    code="idempotency_key_in_use",
                )
            await asyncio.sleep(self._poll)
