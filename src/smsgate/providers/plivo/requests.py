"""Is this request from Plivo? Its V3 or V2 signature says, or the answer is no.

Plivo signs the URL it called, so the URL is rebuilt from ``SMSGATE_PUBLIC_URL``, the
request's path and its raw query string, never from the Host the app sees behind a proxy.
V3 (which also signs the query and the form) is checked when its headers are there; only
without them is V2 (URL and nonce alone) accepted. A V3 signature that fails is final, not a
reason to try V2. The ``-Ma-`` headers carry the same signature made with the main account's
token, and either header may match the one token smsgate holds (reference §4).

Pure and total: whatever the headers and fields hold, the answer is True or False.
"""

from __future__ import annotations

from collections.abc import Mapping

from smsgate.providers.plivo.signature import verify_v2, verify_v3

__all__ = ["V2_HEADERS", "V3_HEADERS", "verify_plivo_request"]

# Header names in lower case, as ASGI servers hand them over.
V3_HEADERS = ("x-plivo-signature-v3", "x-plivo-signature-ma-v3")
V3_NONCE = "x-plivo-signature-v3-nonce"
V2_HEADERS = ("x-plivo-signature-v2", "x-plivo-signature-ma-v2")
V2_NONCE = "x-plivo-signature-v2-nonce"
# urllib drops tabs and line breaks from a URL before signing it, and reads "#" as the start
# of a fragment it leaves out: with them, the URL signed would not be the one requested (and
# read). No request line holds them unencoded, Plivo's included.
_NOT_IN_A_REQUEST_LINE = ("#", "\t", "\r", "\n")


def verify_plivo_request(
    method: str,
    public_url: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    form: Mapping[str, list[str]] | None,
    auth_token: str,
) -> bool:
    """True only when a Plivo signature of this request, made with ``auth_token``, is present.

    ``path`` is the path as requested (still percent-encoded), ``query`` the raw query string
    without "?", and ``form`` every POSTed field with all its values, blank ones included.
    """
    if not auth_token or not public_url:
        return False
    if any(character in path or character in query for character in _NOT_IN_A_REQUEST_LINE):
        return False
    url = public_url.rstrip("/") + path + ("?" + query if query else "")
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        if any(lowered.get(name) for name in V3_HEADERS):
            return _v3_matches(method, url, lowered, form, auth_token)
        return _v2_matches(url, lowered, auth_token)
    except (UnicodeError, ValueError):
        # Text no signature can be made of (a lone surrogate), or a URL urllib refuses.
        return False


def _v3_matches(
    method: str,
    url: str,
    headers: Mapping[str, str],
    form: Mapping[str, list[str]] | None,
    auth_token: str,
) -> bool:
    nonce = headers.get(V3_NONCE, "")
    if not nonce:
        return False
    candidates = [headers[name] for name in V3_HEADERS if headers.get(name)]
    # Each is checked in full, so the time taken does not tell which header matched.
    results = [
        verify_v3(method, url, nonce, candidate, auth_token, form) for candidate in candidates
    ]
    return any(results)


def _v2_matches(url: str, headers: Mapping[str, str], auth_token: str) -> bool:
    nonce = headers.get(V2_NONCE, "")
    candidates = [headers[name] for name in V2_HEADERS if headers.get(name)]
    if not nonce or not candidates:
        return False
    results = [verify_v2(url, nonce, candidate, auth_token) for candidate in candidates]
    return any(results)
