"""Who is calling: a bearer key checked against the bootstrap keys and the key table.

- **Bootstrap keys** (``SMSGATE_API_KEYS``) hold every scope; one that starts ``sg_test_`` is a
  test key. They are compared as SHA-256 digests in constant time, all of them every time.
- **Stored keys** (``smsgate keys create``) are found by the digest of the key presented; a
  revoked one is refused at once.
- With neither, smsgate is **open** to this machine only (see ``api.guard``). Once a key has
  been stored, keys are required, even after every key is revoked; a smsgate without
  bootstrap keys learns of the first stored key within ``recheck`` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable

from smsgate.db.api_keys import TOUCH_EVERY, ApiKeyStore, StoredKey
from smsgate.db.errors import StoreUnavailable
from smsgate.domain.access import ALL_SCOPES, Principal
from smsgate.domain.api_keys import is_test_key, key_digest
from smsgate.domain.clock import utc_now
from smsgate.logs import get_logger

log = get_logger("smsgate.access")


class Unauthorized(Exception):
    """No key, or a key that is not (or no longer) valid: HTTP 401."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Authenticator:
    def __init__(
        self,
        bootstrap: tuple[bytes, ...],
        store: ApiKeyStore,
        *,
        recheck: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bootstrap = [
            (hashlib.sha256(key).digest(), _bootstrap_principal(key, n))
            for n, key in enumerate(bootstrap, start=1)
        ]
        self._store = store
        self._recheck = recheck
        self._clock = clock
        self._stored_keys_exist = False  # once True, stays True: rows are never deleted
        self._checked_at = -recheck
        self._touching: set[asyncio.Task[None]] = set()

    async def keys_required(self) -> bool:
        if self._bootstrap or self._stored_keys_exist:
            return True
        now = self._clock()
        if now - self._checked_at >= self._recheck:
            self._checked_at = now
            self._stored_keys_exist = await self._store.exist()
        return self._stored_keys_exist

    async def authenticate(self, header: bytes) -> Principal:
        """The caller an ``Authorization`` header names; Unauthorized if it names none."""
        scheme, _, presented = header.partition(b" ")
        presented = presented.strip()
        if scheme.lower() != b"bearer" or not presented:
            raise Unauthorized("A valid API key is required: send 'Authorization: Bearer <key>'.")
        digest = hashlib.sha256(presented).digest()
        found: Principal | None = None
        for known, principal in self._bootstrap:  # every key, always: timing says nothing
            if hmac.compare_digest(digest, known):
                found = principal
        if found is not None:
            return found
        if len(presented) > 200:  # no stored key is this long; spare the database
            raise Unauthorized("The API key is not valid.")
        stored = await self._store.find(digest.hex())
        if stored is None:
            raise Unauthorized("The API key is not valid.")
        if not stored.active:
            raise Unauthorized("This API key was revoked.")
        self._touch(stored)
        return Principal(id=stored.id, name=stored.name, scopes=stored.scopes, test=stored.test)

    async def still_valid(self, principal: Principal) -> bool:
        """Whether a caller authenticated earlier (a console session's) may still act."""
        if principal.id is None:
            return not await self.keys_required()
        if any(known.id == principal.id for _, known in self._bootstrap):
            return True
        return await self._store.active(principal.id)

    def _touch(self, key: StoredKey) -> None:
        """Record the use in the background: the request does not wait for that write."""
        if key.last_used_at is not None and utc_now() - key.last_used_at < TOUCH_EVERY:
            return
        task = asyncio.get_running_loop().create_task(self._store.touch(key))
        self._touching.add(task)
        task.add_done_callback(self._touched)

    def _touched(self, task: asyncio.Task[None]) -> None:
        self._touching.discard(task)
        if not task.cancelled() and isinstance(task.exception(), StoreUnavailable):
            log.warning("api_key_use_not_recorded")

    async def aclose(self) -> None:
        await asyncio.gather(*self._touching, return_exceptions=True)


def _bootstrap_principal(key: bytes, position: int) -> Principal:
    return Principal(
        id="env_" + key_digest(key)[:12],
        name=f"SMSGATE_API_KEYS #{position}",
        scopes=ALL_SCOPES,
        test=is_test_key(key),
    )
