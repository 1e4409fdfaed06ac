"""How ``smsgate send-bulk`` prints its outcome: the refused rows by line, one summary table
(rows, accepted, refused by code, messages by status), and what happens next."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from smsgate.domain.message import MessageStatus

if TYPE_CHECKING:
    from smsgate.cli.send_bulk import Queued

SHOWN_ERRORS = 50  # refused rows listed in the summary; --json lists them all


def print_summary(
    console: Console, body: dict[str, Any], rows: int, queued: Queued | None = None
) -> None:
    """The refused rows by line, then one table: rows, accepted, refused by code, by status."""
    errors: list[dict[str, Any]] = body.get("errors", [])
    print_row_errors(console, errors)
    console.print(_title(body), markup=False, soft_wrap=True)
    table = Table(show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("rows in the file", f"{rows:,}")
    table.add_row("accepted", f"{body.get('accepted', 0):,}")
    table.add_row("refused", f"{len(errors):,}")
    by_code: dict[str, int] = {}
    for error in errors:
        by_code[error["code"]] = by_code.get(error["code"], 0) + 1
    for code, n in sorted(by_code.items(), key=lambda item: (-item[1], item[0])):
        table.add_row(f"  {code}", f"{n:,}")
    counts: dict[str, int] = body.get("counts", {})
    if counts:
        table.add_section()
        table.add_row("messages by status", "")
        for status in MessageStatus:
            if counts.get(status.value):
                table.add_row(f"  {status.value}", f"{counts[status.value]:,}")
    console.print(table)
    if queued is not None:
        console.print(_next_step(queued))


def print_row_errors(console: Console, errors: list[dict[str, Any]]) -> None:
    for error in errors[:SHOWN_ERRORS]:
        where = f"line {error['row']}" if "row" in error else f"row {error['index'] + 1}"
        console.print(
            f"{where}: {error['code']}: {error['error']} (to: {error['to']!r})",
            markup=False,
            soft_wrap=True,
        )
    if len(errors) > SHOWN_ERRORS:
        console.print(
            f"... and {len(errors) - SHOWN_ERRORS:,} more refused rows (--json lists all)"
        )


def _title(body: dict[str, Any]) -> str:
    if "batch_id" not in body:
        return "Nothing was queued."
    title = f"Batch {body['batch_id']}: sent from {body['send_at']}"
    if body.get("expires_at"):
        title += f", expires {body['expires_at']}"
    return title


def _next_step(queued: Queued) -> str:
    pending = queued.progress.pending
    batch_id = queued.report.batch.id
    if queued.interrupted:
        return (
            f"Stopped waiting: {pending:,} not handed over yet; they stay queued for smsgate "
            f"serve (or the workers). Follow with GET /api/v1/batches/{batch_id}."
        )
    if pending == 0:
        return "Every message was handed over or is final."
    return (
        f"{pending:,} waiting to be handed over, by smsgate serve or the workers; "
        f"--wait follows them (GET /api/v1/batches/{batch_id} too)."
    )
