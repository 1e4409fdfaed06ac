"""API keys as text: how they are made, recognised, shown and stored.

A key is ``sg_live_`` or ``sg_test_`` followed by 40 base62 characters (about 238 bits), so
a key found in a log or a repository says what it is, and secret scanners can match it.
Only its SHA-256 digest is stored: a key is random, so a fast hash is as safe as a slow one
and keeps every request's check cheap. The first characters (``sg_live_AbC12345``) are kept
in clear to tell keys apart in a list.
"""

from __future__ import annotations

import hashlib
import secrets
import string

LIVE_PREFIX = "sg_live_"
TEST_PREFIX = "sg_test_"
_ALPHABET = string.ascii_letters + string.digits
_RANDOM_LENGTH = 40
SHOWN_LENGTH = len(LIVE_PREFIX) + 8


def generate_key(*, test: bool) -> str:
    prefix = TEST_PREFIX if test else LIVE_PREFIX
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))


def key_digest(key: str | bytes) -> str:
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw).hexdigest()


def shown_prefix(key: str) -> str:
    """What lists show of a key: its kind and first random characters, never enough to use."""
    return key[:SHOWN_LENGTH]


def is_whole_key(text: str) -> bool:
    """Whether ``text`` is more of a key than its shown prefix: a key itself (a leaked one, say)."""
    return text.startswith((LIVE_PREFIX, TEST_PREFIX)) and len(text) > SHOWN_LENGTH


def is_test_key(key: str | bytes) -> bool:
    raw = key.encode() if isinstance(key, str) else key
    return raw.startswith(TEST_PREFIX.encode())
