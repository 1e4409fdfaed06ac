"""An uploaded file's bytes as they arrive: the request body itself, or a form's ``file``.

A file comes either as the body (``Content-Type: text/csv``), as curl ``--data-binary`` or a
script sends it, or as the ``file`` field of ``multipart/form-data``, as a browser form or
``curl -F file=@...`` sends it. The form is read with python-multipart's streaming
``MultipartParser``, one chunk of the body at a time, so that the file's bytes reach the reader
as they arrive. Starlette's ``request.form()`` uses the same library, but reads the whole body
(spooling files to disk) before the route sees any of it.
"""

from __future__ import annotations

import email.message
from collections.abc import AsyncGenerator, AsyncIterator

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from smsgate.api.errors import ApiError

FILE_FIELD = "file"
CSV_TYPE = "text/csv"
FORM_TYPE = "multipart/form-data"
# Charsets that name UTF-8, or a part of it.
_UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


async def file_chunks(
    content_type: str | None, body: AsyncIterator[bytes]
) -> AsyncGenerator[bytes, None]:
    """The uploaded file's bytes, chunk by chunk, from a body of ``content_type``."""
    header = email.message.Message()
    header["content-type"] = content_type or ""
    kind = header.get_content_type() if content_type else None
    if kind == CSV_TYPE:
        charset = header.get_content_charset()
        if charset is not None and charset not in _UTF8:
            raise ApiError(
                400,
                "invalid_encoding",
                f"The file must be UTF-8; the Content-Type says charset={charset[:40]}.",
            )
        async for chunk in body:
            yield chunk
    elif kind == FORM_TYPE:
        boundary = header.get_boundary()
        if not boundary or len(boundary) > 70 or not boundary.isascii():
            raise _malformed("its Content-Type names no boundary (1 to 70 characters)")
        form = _Form(boundary.encode())
        async for chunk in body:
            data = form.write(chunk)
            if data:
                yield data
            if form.ended:
                break
        if not form.ended:
            raise _malformed("it ends before its closing boundary")
        if not form.found:
            raise ApiError(
                400, "missing_field", f"The form has no field '{FILE_FIELD}': put the CSV there."
            )
        async for _ in body:
            pass  # the epilogue, if any
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send the CSV as the body with Content-Type: {CSV_TYPE}, or as the field "
            f"'{FILE_FIELD}' of a {FORM_TYPE} form.",
        )


class _Form:
    """A form fed to python-multipart chunk by chunk, keeping what its callbacks report.

    The parser bounds a part's headers (by default, 8 lines of about 4 KiB each), so what is
    kept of them is bounded too. It expects the body to open with its first boundary: a
    preamble before it, which RFC 2046 allows and senders leave empty, is skipped here.
    """

    def __init__(self, boundary: bytes) -> None:
        self.found = False  # the file field
        self.ended = False  # the closing boundary
        self._delimiter = b"\r\n--" + boundary
        # The body so far, or its end, while the first boundary is still being looked for;
        # the first boundary may open the body without a line break before it: supply one.
        self._preamble: bytes | None = b"\r\n"
        self._data: list[bytes] = []
        self._in_headers = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition: bytes | None = None
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_end": self._on_end,
            },
        )

    def write(self, chunk: bytes) -> bytes:
        """The file's bytes found in ``chunk``: the parser holds back what may be a boundary."""
        if self._preamble is not None:
            seen = self._preamble + chunk
            at = seen.find(self._delimiter)
            if at < 0:
                self._preamble = seen[1 - len(self._delimiter) :]
                return b""
            self._preamble, chunk = None, seen[at + 2 :]
        try:
            self._parser.write(chunk)
        except MultipartParseError:
            if self._in_headers:
                raise _malformed("a part's headers are malformed or too long") from None
            raise _malformed("a boundary is not followed by a line break") from None
        data = b"".join(self._data)
        self._data.clear()
        return data

    def _on_part_begin(self) -> None:
        self._in_headers = True
        self._disposition = None

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = bytes(self._header_value.strip(b" \t"))
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        self._in_headers = False
        disposition, options = parse_options_header(self._disposition)
        name = options.get(b"name")
        if name is None or disposition != b"form-data":
            raise _malformed("a part has no Content-Disposition: form-data with a name")
        if name != FILE_FIELD.encode():
            shown = name.decode("utf-8", "replace")[:40]
            raise ApiError(
                400,
                "unknown_field",
                f"The form field '{shown}' is not accepted here; send only '{FILE_FIELD}'.",
            )
        if self.found:
            raise ApiError(
                400, "invalid_body", f"The form has more than one '{FILE_FIELD}'; send one."
            )
        self.found = True

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        # Only the file's part gets this far: any other is refused once its headers are read.
        self._data.append(data[start:end])

    def _on_end(self) -> None:
        self.ended = True


def _malformed(why: str) -> ApiError:
    return ApiError(400, "invalid_body", f"The multipart body is malformed: {why}.")
