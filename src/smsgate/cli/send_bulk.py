"""``smsgate send-bulk FILE.csv``: queue a CSV file of messages, and optionally see it out.

**Design: through this machine's services, not a server's API.** The command opens the same
``Runtime`` that ``serve`` and ``smsgate send`` open, and queues the file with the same
``Enqueuer`` as ``POST /api/v1/batches``, after reading it with the same reader
(``services/batch_file.py``, which streams it through ``services/csv_stream.py``). So it needs
no running server and no API key, works offline, and cannot drift from the API: the same rows are
refused with the same codes, and the same abuse limits apply. The caller is ``OPEN``, the
operator on this machine: the per-key limits do not apply, the destination and daily spend
limits do (shared through Redis when it is configured; otherwise this process starts from
today's totals in the database, like any process). Sending a file to a remote smsgate is
what ``POST /api/v1/batches`` (curl, or ``smsgate.Client``) is for.

**Who hands the messages over.** Stored messages are ``accepted``. With a broker
(SMSGATE_BROKER_URL) they are announced to the workers, and ``--wait`` watches them go. Without
one, ``smsgate serve`` hands them over (it looks for due messages every second); with
``--wait``, this command hands the batch over itself, with the dispatcher and pacing ``serve``
uses, so a file can be sent with nothing else running. Only this batch's messages are taken,
and each is claimed with the store's compare-and-set, so a ``serve`` working at the same time
cannot make anything go twice. Interrupted (Ctrl-C or SIGTERM), claimed hand-offs finish and
the rest stay ``accepted`` for ``serve``. The sandbox used here simulates no delivery reports:
they would go to a ``serve`` that cannot check their signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import signal
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from smsgate.bootstrap import Runtime, Services, build_documents
from smsgate.config import ProviderName, Settings
from smsgate.db.batches import BatchProgress
from smsgate.domain.access import OPEN
from smsgate.domain.message import MessageStatus
from smsgate.engines.inprocess import InProcessEngine
from smsgate.providers.sandbox import SandboxProvider
from smsgate.services.batch_file import BatchFile, BatchFileReader
from smsgate.services.queueing import BatchReport, RowError

READ_CHUNK = 64 * 1024
POLL = 0.25  # seconds between looks at the batch's progress
SHOWN_ERRORS = 50  # refused rows listed in the summary; --json lists them all


def read_file(path: Path, progress: Progress) -> BatchFile:
    """Read and check the file as it streams, chunk by chunk, with a bar (bytes, rows/s).

    Raises BatchRefused for a file that cannot be read as rows (nothing is queued), OSError when
    the file cannot be opened.
    """
    reader = BatchFileReader()
    size = path.stat().st_size
    task = progress.add_task("reading", total=size or None, count=0, unit="rows")
    with path.open("rb") as file:
        while chunk := file.read(READ_CHUNK):
            reader.feed(chunk)
            progress.update(task, advance=len(chunk), count=len(reader.rows))
        upload = reader.close()
    rows = len(upload.rows)
    progress.update(task, completed=size, total=size, count=rows, description="read")
    progress.stop_task(task)
    return upload


@dataclass(slots=True)
class Queued:
    """What became of the file: the stored batch, and its progress when the command ended."""

    report: BatchReport
    progress: BatchProgress
    waited: bool = False  # --wait: followed until nothing waited or was being handed over
    handed_over_here: bool = False  # --wait without a broker: this process handed them over
    interrupted: bool = False  # Ctrl-C while waiting
    outcomes: dict[str, int] = field(default_factory=dict)  # this process's dispatches


async def queue_file(
    settings: Settings,
    upload: BatchFile,
    *,
    send_at: datetime | None,
    validity_s: int | None,
    wait: bool,
    progress: Progress,
) -> Queued:
    """Store the file's rows as one batch, announce it, and (with ``wait``) follow it out.

    Raises what the Enqueuer raises: BatchRefused, DomainError (a batch-wide send_at or
    validity), LimitExceeded, LimitsUnavailable, StoreUnavailable.
    """
    sandbox = None
    if settings.resolved_provider is ProviderName.SANDBOX:
        sandbox = SandboxProvider(sender=settings.plivo_sender_id)  # no simulated reports
    runtime = Runtime(settings, injected_provider=sandbox)
    try:
        services = await runtime.open()
        rows = len(upload.rows)
        storing = progress.add_task("checking, storing", total=rows, count=0, unit="rows")
        report = await services.enqueuer.submit_rows(
            upload.rows, send_at=send_at, validity_s=validity_s, caller=OPEN
        )
        progress.update(storing, completed=rows, count=rows, description="checked, stored")
        progress.stop_task(storing)
        state = await services.queue.progress(report.batch.id)
        assert state is not None  # just stored; batches are never deleted
        queued = Queued(report, state)
        if wait:
            await follow(settings, services, queued, progress)
        return queued
    finally:
        await runtime.close()
        if sandbox is not None:
            await sandbox.aclose()


async def follow(
    settings: Settings, services: Services, queued: Queued, progress: Progress
) -> None:
    """Watch the batch until no message waits or is being handed over; hand it over here
    when no broker will. Ctrl-C or SIGTERM stops the watch (and this process's hand-offs)
    gracefully."""
    batch = queued.report.batch
    here = services.engine.dispatches_here
    queued.waited, queued.handed_over_here = True, here
    # The in-process engine, as serve runs it, for this batch's messages only.
    hand_over = (
        InProcessEngine(
            services.dispatcher,
            services.queue,
            concurrency=settings.dispatch_concurrency,
            batch_id=batch.id,
        )
        if here
        else None
    )
    handing_over = (
        asyncio.create_task(hand_over.run(), context=contextvars.Context())
        if hand_over is not None
        else None
    )
    state = queued.progress
    total = state.stored
    label = "handing over" if here else "workers handing over"
    task = progress.add_task(label, total=total, count=0, of=total, unit="messages")
    # SIGTERM stops the watch as Ctrl-C does (asyncio.run cancels this task for SIGINT).
    loop, current = asyncio.get_running_loop(), asyncio.current_task()
    if current is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, current.cancel)
    try:
        while True:
            state = await services.queue.progress(batch.id) or state
            busy = state.pending + state.counts.get(MessageStatus.SENDING.value, 0)
            done = total - busy
            counts = _counts_text(state)
            progress.update(task, completed=done, count=done, description=f"{label}: {counts}")
            if busy == 0 and (hand_over is None or not hand_over.busy):
                break
            await asyncio.sleep(POLL)
    except asyncio.CancelledError:
        # Ctrl-C: asyncio.run cancels this task; leave gracefully instead of mid-send.
        queued.interrupted = True
        if current is not None:
            current.uncancel()  # handled: what follows (the graceful stop) runs as usual
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGTERM)
        if hand_over is not None and handing_over is not None:
            await hand_over.stop(grace=settings.send_grace)
            await asyncio.gather(handing_over, return_exceptions=True)
            queued.outcomes = dict(hand_over.outcomes)
    queued.progress = await services.queue.progress(batch.id) or state
    progress.stop_task(task)


def _counts_text(state: BatchProgress) -> str:
    shown = [f"{status} {n:,}" for status, n in sorted(state.counts.items()) if n]
    return " · ".join(shown) or "nothing stored"


def document(queued: Queued) -> dict[str, Any]:
    """The API's 202 document for the batch, with its counts by status at the end."""
    body = build_documents().batch(queued.report)
    body["counts"] = dict(sorted(queued.progress.counts.items()))
    body["pending"] = queued.progress.pending
    if queued.waited:
        body["handed_over_by"] = "send-bulk" if queued.handed_over_here else "workers"
    if queued.interrupted:
        body["interrupted"] = True
    return body


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


def refused_document(code: str, message: str, errors: list[RowError]) -> dict[str, Any]:
    """The error shape, with the rows when every row was refused."""
    body: dict[str, Any] = {"success": False, "error": message, "code": code}
    if errors:
        body["errors"] = [error.as_json() for error in errors]
    return body
