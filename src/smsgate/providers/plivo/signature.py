"""Plivo webhook signatures, V2 and V3, exactly as Plivo computes them.

Both are Base64(HMAC-SHA256(auth token, signed string)); they differ only in what is signed.
V2 signs the URL without its query plus the nonce, so it covers neither the body nor a
timestamp. V3 also signs the query and the POST form fields, sorted; its string-building
rules below mirror the official SDK (``plivo/utils/signature_v3.py``), which is the only
complete statement of them, and Plivo's published test vectors pin the result.

Verifiers compare in constant time (the SDK's own V3 check uses ``in``, which is not).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import parse_qs, urlparse, urlunparse

Params = Mapping[str, str | Sequence[str]]


def sign_v2(url: str, nonce: str, auth_token: str) -> str:
    """The ``X-Plivo-Signature-V2`` value for a request Plivo made to ``url``."""
    base, _query = _split_url(url)
    return _hmac_b64(auth_token, base + nonce)


def verify_v2(url: str, nonce: str, signature: str, auth_token: str) -> bool:
    """True when ``signature`` is the V2 signature of ``url`` and ``nonce``."""
    return _same(sign_v2(url, nonce, auth_token), signature)


def sign_v3(
    method: str,
    url: str,
    nonce: str,
    auth_token: str,
    params: Params | None = None,
) -> str:
    """The ``X-Plivo-Signature-V3`` value for a ``method`` request to the full ``url``.

    ``params`` are the form fields of a POST, or extra query parameters of a GET (Plivo puts
    them in the URL, so passing the full URL and no params is the same).
    """
    return _hmac_b64(auth_token, _v3_signed_string(method, url, params or {}) + "." + nonce)


def verify_v3(
    method: str,
    url: str,
    nonce: str,
    signature_header: str,
    auth_token: str,
    params: Params | None = None,
) -> bool:
    """True when any comma-separated signature in ``signature_header`` matches."""
    expected = sign_v3(method, url, nonce, auth_token, params)
    # Every candidate is compared, so the time taken does not reveal which one matched.
    matches = [_same(expected, candidate.strip()) for candidate in signature_header.split(",")]
    return any(matches)


def _v3_signed_string(method: str, url: str, params: Params) -> str:
    base, query = _split_url(url)
    if method.upper() == "GET":
        merged = _as_lists(params)
        merged.update(query)  # a name in both: the URL wins, as in the SDK (dict.update)
        sorted_query = _sorted_query(merged)
        return base + "?" + sorted_query if sorted_query else base
    sorted_query = _sorted_query(query)
    if not params:
        return base + "?" + sorted_query if sorted_query else base
    separator = "." if sorted_query else ""
    return base + "?" + sorted_query + separator + _sorted_fields(_as_lists(params))


def _split_url(url: str) -> tuple[str, dict[str, list[str]]]:
    # urlparse (not urlsplit) drops ";params" from the path, as the SDK does.
    parts = urlparse(url)
    base = urlunparse((parts.scheme, parts.netloc, parts.path, "", "", ""))
    # Blank values are kept: a callback's empty ErrorCode is part of what Plivo signs.
    return base, parse_qs(parts.query, keep_blank_values=True)


def _as_lists(params: Params) -> dict[str, list[str]]:
    return {
        name: [value] if isinstance(value, str) else list(value) for name, value in params.items()
    }


def _sorted_query(params: Mapping[str, list[str]]) -> str:
    # Values stay as decoded text: Plivo does not re-encode them before signing.
    return "&".join(
        "&".join(f"{name}={value}" for value in sorted(params[name])) for name in sorted(params)
    )


def _sorted_fields(params: Mapping[str, list[str]]) -> str:
    return "".join(
        "".join(name + value for value in sorted(params[name])) for name in sorted(params)
    )


def _hmac_b64(auth_token: str, message: str) -> str:
    digest = hmac.new(auth_token.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _same(expected: str, given: str) -> bool:
    # Bytes, because compare_digest refuses non-ASCII str and a header may hold anything.
    return hmac.compare_digest(expected.encode(), given.encode())


def signature_headers(
    method: str, url: str, auth_token: str, form: dict[str, str] | None
) -> dict[str, str]:
    """The V2 and V3 signature headers Plivo puts on a callback (the -Ma- ones alike, as for a
    main account): the emulator and the sandbox sign their callbacks with them."""
    nonce_v2, nonce_v3 = _nonce(), _nonce()
    v2 = sign_v2(url, nonce_v2, auth_token)
    v3 = sign_v3(method, url, nonce_v3, auth_token, form)
    return {
        "X-Plivo-Signature-V2": v2,
        "X-Plivo-Signature-Ma-V2": v2,
        "X-Plivo-Signature-V2-Nonce": nonce_v2,
        "X-Plivo-Signature-V3": v3,
        "X-Plivo-Signature-Ma-V3": v3,
        "X-Plivo-Signature-V3-Nonce": nonce_v3,
    }


def _nonce() -> str:
    # Plivo's nonces are 20 digits. secrets, not a seeded generator: a nonce must not repeat,
    # and the emulator's seeded failure draws must not shift because callbacks were signed.
    return f"{secrets.randbelow(10**20):020d}"


def callback_signer(auth_token: str) -> Callable[[str, str, dict[str, str]], dict[str, str]]:
    """``signature_headers`` with ``auth_token``: what the sandbox signs its callbacks with."""

    def sign(method: str, url: str, form: dict[str, str]) -> dict[str, str]:
        return signature_headers(method, url, auth_token, form)

    return sign
