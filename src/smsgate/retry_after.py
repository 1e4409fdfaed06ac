"""``Retry-After``, as Plivo and smsgate send it: seconds, or an HTTP date. Standard library
only, so the client can use it without loading the server."""

from __future__ import annotations

import math
import time
from datetime import UTC
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, at_most: float | None = None) -> float | None:
    """Seconds to wait, from delta-seconds or an HTTP date, never negative and at most
    ``at_most``; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # "-0000" means UTC with no zone given (RFC 5322)
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    seconds = max(seconds, 0.0)
    return seconds if at_most is None else min(seconds, at_most)
