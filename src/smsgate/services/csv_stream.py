"""A CSV file read as it arrives: chunks of bytes in, records (line number, cells) out.

The csv module pulls its lines from an iterator, and an upload cannot be pulled from without
waiting for the network. So the bytes are decoded as they come (UTF-8, a leading BOM dropped),
cut into lines, and the lines of one record, which are several when a quoted cell holds a line
break, are handed to the csv module together once the record is complete. Only the record
being read is held, never the file.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass

from smsgate.services.queueing import BatchRefused

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Record:
    line: int  # where it starts: the first line of the file is 1
    cells: list[str]
    problem: str | None = None  # why the csv module could not read it; then there are no cells


class UnclosedQuote(BatchRefused):
    """A quoted cell runs to the end of the file: everything after its quote is in doubt."""

    def __init__(self, line: int) -> None:
        super().__init__(
            "invalid_row",
            f"The quote that opens a cell on line {line} is never closed, so the rest of the "
            'file cannot be read as rows. Double a quote inside a quoted cell ("").',
            extra={"row": line},
        )


class CsvStream:
    """Fed the file chunk by chunk, gives back the records each chunk completes."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._tail = ""  # text after the last line break; a final "\r" may be half of "\r\n"
        self._record: list[str] = []  # lines of the record being read
        self._quoted = False  # a quoted cell is open at the end of those lines
        self._lines = 0  # lines read so far
        self._start = 1  # where the record being read starts

    def feed(self, chunk: bytes) -> list[Record]:
        return self._split(self._decode(chunk, final=False), final=False)

    def close(self) -> list[Record]:
        """The records left at the end of the file; raises UnclosedQuote if one never ends."""
        records = self._split(self._decode(b"", final=True), final=True)
        if self._record:
            raise UnclosedQuote(self._start)
        return records

    def _decode(self, chunk: bytes, *, final: bool) -> str:
        try:
            return self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            read = exc.object[: exc.start].decode("utf-8", errors="replace")
            line = self._lines + len(_LINE_BREAK.findall(self._tail + read)) + 1
            raise BatchRefused(
                "invalid_encoding",
                f"The file is not UTF-8 text (line {line}). Save it as UTF-8 (in Excel: "
                '"CSV UTF-8").',
            ) from None

    def _split(self, text: str, *, final: bool) -> list[Record]:
        text = self._tail + text
        records: list[Record] = []
        start = 0
        for match in _LINE_BREAK.finditer(text):
            if not final and match.end() == len(text) and match.group() == "\r":
                break  # the "\n" of a "\r\n" may come in the next chunk
            records.extend(self._add_line(text[start : match.end()]))
            start = match.end()
        self._tail = text[start:]
        if final and self._tail:
            records.extend(self._add_line(self._tail))  # the last line, without a line break
            self._tail = ""
        return records

    def _add_line(self, line: str) -> list[Record]:
        self._lines += 1
        if not self._record:
            self._start = self._lines
        self._record.append(line)
        self._quoted = quote_open_after(line, self._quoted)
        if self._quoted:
            return []
        lines, self._record = self._record, []
        try:
            rows = list(csv.reader(lines))
        except csv.Error as exc:  # a cell over the csv module's size limit
            return [Record(self._start, [], problem=str(exc))]
        return [Record(self._start, cells) for cells in rows]


def quote_open_after(line: str, quoted: bool) -> bool:
    """Whether a quoted cell is still open at the end of ``line``, read as the csv module does.

    ``quoted`` says whether one was open at its start. A quote opens a quoted cell only as the
    cell's first character (elsewhere it is an ordinary character); inside one, a doubled
    quote stands for a quote and a single one closes the cell.
    """
    at = 0
    while True:
        if quoted:
            quote = line.find('"', at)
            if quote < 0:
                return True
            if line.startswith('"', quote + 1):
                at = quote + 2
                continue
            quoted = False
            at = quote + 1  # what follows the closing quote, up to a comma, is plain text
        elif line.startswith('"', at):
            quoted = True
            at += 1
            continue
        comma = line.find(",", at)
        if comma < 0:
            return False
        at = comma + 1
