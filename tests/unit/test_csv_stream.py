"""The streamed CSV reader: the csv module's records, whatever the chunks, with line numbers."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.services.csv_stream import CsvStream, Record, UnclosedQuote, quote_open_after
from smsgate.services.queueing import BatchRefused


def read(data: bytes, cuts: list[int] | None = None) -> list[Record]:
    """Feed ``data`` cut at ``cuts`` (byte offsets) as a network would; all the records."""
    records, unclosed = read_until_the_end(data, cuts)
    if unclosed is not None:
        raise unclosed
    return records


def read_until_the_end(
    data: bytes, cuts: list[int] | None = None
) -> tuple[list[Record], UnclosedQuote | None]:
    stream = CsvStream()
    records: list[Record] = []
    start = 0
    for cut in sorted(cuts or []):
        records += stream.feed(data[start:cut])
        start = cut
    records += stream.feed(data[start:])
    try:
        records += stream.close()
    except UnclosedQuote as exc:
        return records, exc
    return records, None


def whole_file(text: str) -> list[tuple[int, list[str]]]:
    """What the csv module reads from the whole text at once: (first line, cells) per row."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    while True:
        first = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return rows
        rows.append((first, cells))


CSV_TEXT = st.text(alphabet='a,"\r\n é', max_size=60)


@given(CSV_TEXT, st.lists(st.integers(min_value=0, max_value=120), max_size=6))
def test_records_are_the_csv_modules_wherever_the_chunks_are_cut(
    text: str, cuts: list[int]
) -> None:
    data = text.encode()
    records, unclosed = read_until_the_end(data, [cut for cut in cuts if cut <= len(data)])
    got = [(record.line, record.cells) for record in records]
    expected = whole_file(text)
    if unclosed is None:
        assert got == expected
    else:
        # The csv module reads an unclosed quote to the end as one cell; the stream refuses
        # it, naming the line of the record it opens.
        assert unclosed.extra == {"row": expected[-1][0]}
        assert got == expected[:-1]


def test_a_quoted_cell_may_hold_line_breaks_and_commas_and_quotes() -> None:
    data = b'to,text\n+1,"one\r\ntwo, ""three"""\n+2,plain\n'
    assert [(r.line, r.cells) for r in read(data)] == [
        (1, ["to", "text"]),
        (2, ["+1", 'one\r\ntwo, "three"']),
        (4, ["+2", "plain"]),
    ]


def test_every_kind_of_line_break_counts_as_one_line() -> None:
    data = b"a\rb\r\nc\n\nd"
    assert [(r.line, r.cells) for r in read(data, [2, 3])] == [
        (1, ["a"]),
        (2, ["b"]),
        (3, ["c"]),
        (4, []),
        (5, ["d"]),
    ]


def test_a_bom_is_dropped_even_when_cut_in_two() -> None:
    data = "\ufeffto,text\n".encode()
    for cut in range(4):
        assert read(data, [cut])[0].cells == ["to", "text"]


def test_a_quote_inside_an_unquoted_cell_is_an_ordinary_character() -> None:
    assert not quote_open_after('5" screen,"ok"\n', quoted=False)
    assert quote_open_after('a,"open\n', quoted=False)
    assert not quote_open_after('still ""open"" then closed",x\n', quoted=True)


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"to,text\n+1,caf\xe9\n", 2),  # Latin-1
        (b"to,text\n+1,ok\n+2,\xc3", 3),  # cut in the middle of a character at the end
        (b"\xff", 1),
    ],
)
def test_text_that_is_not_utf8_is_refused_with_its_line(data: bytes, line: int) -> None:
    with pytest.raises(BatchRefused) as refused:
        read(data, [len(data) - 1])
    assert refused.value.code == "invalid_encoding"
    assert f"line {line}" in refused.value.message


def test_a_record_the_csv_module_cannot_read_is_reported_not_raised() -> None:
    over_the_limit = b"x" * (csv.field_size_limit() + 1)
    records = read(b"to,text\n+1," + over_the_limit + b"\n+2,fine\n")
    assert records[1].line == 2
    assert records[1].problem is not None
    assert records[2].cells == ["+2", "fine"]
