"""The file of ``POST /api/v1/batches``: a CSV with a header row, then one message a row.

The header names the columns, in any order and any case: ``to`` and ``text``, and optionally
``send_at`` (ISO 8601 with a time zone), ``validity`` (seconds), and ``from`` (a registered
sender) or ``pool`` for rows that need their own. Blank lines, and rows whose cells are all
empty (spreadsheets write those), are skipped; they still count as lines, so a row is
reported by the line it starts on, the header being line 1.

What is wrong with the file as a whole (no header, an unknown column, not UTF-8, too many
rows) refuses the upload. What is wrong with a row is that row's problem: it is passed on with
the row, for the Enqueuer to report beside the rows it refuses itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from smsgate.domain.errors import DomainError
from smsgate.services.csv_stream import CsvStream, Record
from smsgate.services.queueing import MAX_RECIPIENTS, BatchRefused, Row

COLUMNS = ("to", "text", "send_at", "validity", "from", "pool")
REQUIRED = ("to", "text")
_SECONDS = re.compile(r"[0-9]{1,12}")
_COLUMNS_HINT = "the header names to and text, and optionally send_at, validity, and from or pool"


@dataclass(frozen=True, slots=True)
class BatchFile:
    rows: list[Row]
    sha256: str  # of the file's bytes as sent: what makes two uploads the same request


class BatchFileReader:
    """Fed the file chunk by chunk; keeps the rows it has read, never the file."""

    def __init__(self, max_rows: int = MAX_RECIPIENTS) -> None:
        self._max_rows = max_rows
        self._csv = CsvStream()
        self._digest = hashlib.sha256()
        self._columns: dict[str, int] | None = None  # from the header, once read
        self.rows: list[Row] = []

    def feed(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        for record in self._csv.feed(chunk):
            self._take(record)

    def close(self) -> BatchFile:
        for record in self._csv.close():
            self._take(record)
        if self._columns is None:
            raise BatchRefused(
                "empty_recipients",
                "The file is empty: send a header row naming to and text (and optionally "
                "send_at and validity), then one row per message.",
            )
        if not self.rows:
            raise BatchRefused("empty_recipients", "The file has a header but no rows.")
        return BatchFile(self.rows, self._digest.hexdigest())

    def _take(self, record: Record) -> None:
        if record.problem is None and not any(cell.strip() for cell in record.cells):
            return
        if self._columns is None:
            self._columns = _header(record)
        elif len(self.rows) == self._max_rows:
            raise BatchRefused(
                "too_many_recipients",
                f"The file has more than {self._max_rows:,} rows; at most {self._max_rows:,} "
                "are accepted at once. Split it.",
            )
        else:
            self.rows.append(_row(record, self._columns))


def _header(record: Record) -> dict[str, int]:
    if record.problem is not None:
        raise BatchRefused(
            "invalid_row", f"The header (line {record.line}) is not CSV: {record.problem}."
        )
    columns: dict[str, int] = {}
    for position, cell in enumerate(record.cells):
        name = cell.strip().lower()
        if name not in COLUMNS:
            given = cell.strip()[:40]
            problem = (
                f"The column '{given}' is not known"
                if given
                else f"Column {position + 1} of the header has no name"
            )
            raise BatchRefused(
                "unknown_column", f"{problem}: {_COLUMNS_HINT}.", extra={"column": given}
            )
        if name in columns:
            raise BatchRefused(
                "duplicate_column",
                f"The header names the column '{name}' twice.",
                extra={"column": name},
            )
        columns[name] = position
    for name in REQUIRED:
        if name not in columns:
            raise BatchRefused(
                "missing_column",
                f"The header has no column '{name}': {_COLUMNS_HINT}.",
                extra={"column": name},
            )
    return columns


def _row(record: Record, columns: dict[str, int]) -> Row:
    cells = record.cells
    to = cells[columns["to"]] if columns["to"] < len(cells) else None
    if record.problem is not None:
        return _unreadable(record, to, "invalid_row", f"The row is not CSV: {record.problem}.")
    if len(cells) != len(columns):
        return _unreadable(
            record,
            to,
            "invalid_row",
            f"The row has {len(cells)} cells and the header {len(columns)}; a cell holding "
            "a comma must be quoted.",
        )

    def cell(name: str) -> str:
        return cells[columns[name]].strip() if name in columns else ""

    try:
        send_at = parse_send_at(cell("send_at"))
    except ValueError:
        message = "The row's send_at is not an ISO 8601 time, like 2026-12-01T09:00:00Z."
        return _unreadable(record, to, "invalid_send_at", message)
    try:
        validity = parse_validity(cell("validity"))
    except ValueError:
        message = "The row's validity is not a whole number of seconds."
        return _unreadable(record, to, "invalid_validity", message)
    # The text is taken as written: spaces and line breaks are the sender's to choose.
    text = cells[columns["text"]]
    return Row(
        to,
        text,
        send_at=send_at,
        validity_s=validity,
        line=record.line,
        from_=cell("from") or None,
        pool=cell("pool") or None,
    )


def _unreadable(record: Record, to: str | None, code: str, message: str) -> Row:
    return Row(to, "", line=record.line, problem=DomainError(message, code=code))


def parse_send_at(value: str) -> datetime | None:
    """An ISO 8601 time, or None for nothing; raises ValueError. The Enqueuer checks the rest
    (a time zone, not too far ahead)."""
    return datetime.fromisoformat(value) if value else None


def parse_validity(value: str) -> int | None:
    """Whole seconds, or None for nothing; raises ValueError. The Enqueuer checks the range."""
    if not value:
        return None
    if not _SECONDS.fullmatch(value):
        raise ValueError(value)
    return int(value)
