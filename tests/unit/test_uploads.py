"""An uploaded file's bytes: the body as is, or the ``file`` of a multipart form, streamed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.api.errors import ApiError
from smsgate.api.uploads import file_chunks

BOUNDARY = "----smsgate7MA4YWxkTrZu0gW"
FORM = f"multipart/form-data; boundary={BOUNDARY}"


def form(*parts: tuple[str, bytes], boundary: str = BOUNDARY) -> bytes:
    """A multipart body as browsers and curl write it."""
    body = b""
    for name, content in parts:
        body += (
            (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="{name}"; filename="batch.csv"\r\n'
                "Content-Type: text/csv\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode()


def upload(content_type: str | None, body: bytes, cuts: list[int] | None = None) -> bytes:
    """The file read from ``body`` arriving in pieces cut at ``cuts``."""
    pieces, start = [], 0
    for cut in sorted(cuts or []):
        pieces.append(body[start:cut])
        start = cut
    pieces.append(body[start:])

    async def chunks() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    async def read() -> bytes:
        return b"".join([chunk async for chunk in file_chunks(content_type, chunks())])

    return asyncio.run(read())


def refusal(content_type: str | None, body: bytes) -> ApiError:
    with pytest.raises(ApiError) as refused:
        upload(content_type, body)
    return refused.value


# File contents that look like the framing around them.
CONTENT = st.binary(max_size=80) | st.sampled_from(
    [
        b"",
        b"\r\n",
        b"\r\n--",
        f"\r\n--{BOUNDARY}".encode(),
        f"--{BOUNDARY}\r\n".encode(),
        f"\r\n--{BOUNDARY[:-1]}\r\n".encode(),
    ]
)


@given(CONTENT, st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_the_file_of_a_form_is_read_whole_wherever_the_chunks_are_cut(
    content: bytes, cuts: list[int]
) -> None:
    if f"\r\n--{BOUNDARY}".encode() in b"\r\n" + content + b"\r\n--":
        return  # not a file a sender could frame with this boundary
    body = form(("file", content))
    assert upload(FORM, body, [cut for cut in cuts if cut <= len(body)]) == content


def test_a_csv_body_is_the_file_itself() -> None:
    assert upload("text/csv; charset=utf-8", b"to,text\r\n", [3]) == b"to,text\r\n"


def test_a_preamble_an_epilogue_and_a_quoted_boundary_are_fine() -> None:
    body = b"preamble\r\n" + form(("file", b"to,text\n"), boundary="a b") + b"epilogue"
    for cut in range(len(body) + 1):
        assert upload('multipart/form-data; boundary="a b"', body, [cut]) == b"to,text\n"


def test_the_file_comes_out_as_the_body_arrives() -> None:
    content = b"to,text\n" * 100
    body = form(("file", content))
    pieces = [body[:200], body[200:]]
    read: list[bytes] = []

    async def chunks() -> AsyncIterator[bytes]:
        for piece in pieces:
            read.append(piece)
            yield piece

    async def first() -> bytes:
        async for chunk in file_chunks(FORM, chunks()):
            return chunk
        raise AssertionError("no file")

    chunk = asyncio.run(first())
    assert chunk
    assert content.startswith(chunk)
    assert read == pieces[:1]  # the rest of the body is not waited for


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        (None, b"to,text\n", 415, "unsupported_media_type"),
        ("application/json", b"{}", 415, "unsupported_media_type"),
        ("text/csv; charset=latin-1", b"to,text\n", 400, "invalid_encoding"),
        ("multipart/form-data", form(("file", b"x")), 400, "invalid_body"),
        (FORM, form(("name", b"x"), ("file", b"x")), 400, "unknown_field"),
        (FORM, form(("file", b"x"), ("file", b"y")), 400, "invalid_body"),
        (FORM, form(), 400, "missing_field"),
        (FORM, form(("file", b"x"))[:-12], 400, "invalid_body"),
        (
            FORM,
            f"--{BOUNDARY}\r\nX-Nothing: 1\r\n\r\nx\r\n--{BOUNDARY}--".encode(),
            400,
            "invalid_body",
        ),
        (FORM, b"no boundary at all", 400, "invalid_body"),
        (FORM, f"--{BOUNDARY}x\r\n".encode() + form(("file", b"x")), 400, "invalid_body"),
        (
            FORM,
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=file\r\n".encode()
            + b"X-Padding: "
            + b"x" * 20_000
            + b"\r\n\r\nx\r\n"
            + f"--{BOUNDARY}--".encode(),
            400,
            "invalid_body",
        ),
        (
            FORM,
            f"--{BOUNDARY}\r\nContent-Disposition: attachment; name=file\r\n\r\nx\r\n".encode()
            + f"--{BOUNDARY}--".encode(),
            400,
            "invalid_body",
        ),
    ],
)
def test_what_is_not_an_upload_of_one_csv_is_refused(
    content_type: str | None, body: bytes, status: int, code: str
) -> None:
    refused = refusal(content_type, body)
    assert (refused.status, refused.code) == (status, code)
