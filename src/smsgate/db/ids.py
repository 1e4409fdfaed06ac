"""Message ids: ULIDs, which sort by creation time, made strictly increasing per process.

Two ULIDs made in the same millisecond differ only in random bits, so their order would be
chance; "newest first" pages would then shuffle messages sent together. Within a process,
an id made in the same (or an earlier, if the clock stepped back) millisecond as the last one
is the last one plus one instead.
"""

from __future__ import annotations

import threading

from ulid import ULID

_lock = threading.Lock()
_last: ULID | None = None


def new_id() -> str:
    global _last  # one sequence per process, guarded by the lock
    with _lock:
        candidate = ULID()
        if _last is not None and candidate.milliseconds <= _last.milliseconds:
            candidate = ULID.from_int(int(_last) + 1)
        _last = candidate
        return str(candidate)
