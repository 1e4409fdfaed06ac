"""The batch file's format: its header, its rows, and what refuses the file as a whole."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smsgate.services.batch_file import BatchFile, BatchFileReader
from smsgate.services.queueing import BatchRefused, Row


def read(text: str | bytes, *, chunk: int = 7, max_rows: int = 100) -> BatchFile:
    data = text.encode() if isinstance(text, str) else text
    reader = BatchFileReader(max_rows=max_rows)
    for start in range(0, len(data), chunk):
        reader.feed(data[start : start + chunk])
    return reader.close()


def refusal(text: str | bytes, **kwargs: int) -> BatchRefused:
    with pytest.raises(BatchRefused) as refused:
        read(text, **kwargs)
    return refused.value


def problem(row: Row) -> str | None:
    return row.problem.code if row.problem is not None else None


def test_columns_are_found_by_name_in_any_order_and_case() -> None:
    rows = read(" Text ,SEND_AT,to,Validity\nHello,2026-12-01T09:00:00Z,+14155550001,60\n").rows
    assert rows == [
        Row(
            "+14155550001",
            "Hello",
            send_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
            validity_s=60,
            line=2,
        )
    ]


def test_empty_timing_cells_leave_the_row_to_the_batch_and_text_is_kept_as_written() -> None:
    (row,) = read('to,text,send_at,validity\n+14155550001,"  two\nlines  ",,\n').rows
    assert (row.text, row.send_at, row.validity_s) == ("  two\nlines  ", None, None)


def test_rows_are_numbered_by_the_line_they_start_on_skipping_blank_ones() -> None:
    text = 'to,text\n\n+1,"a\nb"\n,\n  ,  \n+2,c\n'
    rows = read(text).rows
    assert [(row.to, row.line) for row in rows] == [("+1", 3), ("+2", 7)]


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("+1,hi,,,extra", "invalid_row"),
        ("+1,hi", "invalid_row"),
        ("+1,hi,tomorrow,", "invalid_send_at"),
        ("+1,hi,,1.5", "invalid_validity"),
        ("+1,hi,,-5", "invalid_validity"),
        ("+1,hi,,9999999999999", "invalid_validity"),
    ],
)
def test_a_row_that_cannot_be_read_carries_its_problem(line: str, code: str) -> None:
    first, second = read(f"to,text,send_at,validity\n+14155550001,fine,,\n{line}\n").rows
    assert problem(first) is None
    assert (problem(second), second.line, second.to) == (code, 3, "+1")


def test_a_timing_is_only_parsed_here_the_enqueuer_checks_its_zone_and_range() -> None:
    (row,) = read("to,text,send_at,validity\n+1,hi,2026-12-01T09:00:00,1\n").rows
    assert problem(row) is None
    assert row.send_at is not None
    assert row.send_at.tzinfo is None
    assert row.validity_s == 1


@pytest.mark.parametrize(
    ("text", "code", "column"),
    [
        ("to,txt\n+1,hi\n", "unknown_column", "txt"),
        ("to,text,\n+1,hi,\n", "unknown_column", ""),
        ("to,text,TO\n", "duplicate_column", "to"),
        ("text\nhi\n", "missing_column", "to"),
        ("to,send_at\n+1,\n", "missing_column", "text"),
    ],
)
def test_a_header_without_the_columns_it_needs_refuses_the_file(
    text: str, code: str, column: str
) -> None:
    refused = refusal(text)
    assert refused.code == code
    assert refused.extra == {"column": column}


@pytest.mark.parametrize("text", ["", "\ufeff", "\n\n", "to,text\n", "to,text\n\n,\n"])
def test_a_file_without_rows_is_refused_as_empty(text: str) -> None:
    assert refusal(text).code == "empty_recipients"


def test_more_rows_than_allowed_refuse_the_file_as_soon_as_one_too_many_is_read() -> None:
    reader = BatchFileReader(max_rows=3)
    reader.feed(b"to,text\n" + b"+1,a\n" * 3)
    with pytest.raises(BatchRefused) as refused:
        reader.feed(b"+1,a\n")
    assert refused.value.code == "too_many_recipients"
    assert read(b"to,text\n" + b"+1,a\n" * 3, max_rows=3).rows[-1].line == 4


def test_the_digest_is_of_the_bytes_whatever_the_chunks() -> None:
    text = "to,text\n+14155550001,héllo\n"
    assert read(text, chunk=1).sha256 == read(text, chunk=1000).sha256
    assert read(text).sha256 != read(text + "\n").sha256
