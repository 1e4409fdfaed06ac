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
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import Progress

from smsgate.bootstrap import Runtime, Services, build_documents
from smsgate.cli.bulk_summary import print_summary
from smsgate.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_NOT_SENT,
    exit_for,
    fail,
    fail_for,
    log_to_stderr,
    sending_settings,
    upgrade_database,
)
from smsgate.config import ProviderName, Settings
from smsgate.db.batches import BatchProgress
from smsgate.db.errors import StoreUnavailable
from smsgate.domain.access import OPEN
from smsgate.domain.errors import DomainError
from smsgate.domain.message import MessageStatus
from smsgate.engines.inprocess import InProcessEngine
from smsgate.providers.sandbox import SandboxProvider
from smsgate.services.batch_file import (
    BatchFile,
    BatchFileReader,
    parse_send_at,
    parse_validity,
)
from smsgate.services.limits import LimitExceeded, LimitsUnavailable
from smsgate.services.queueing import BatchRefused, BatchReport, RowError

READ_CHUNK = 64 * 1024
POLL = 0.25  # seconds between looks at the batch's progress


def send_bulk(
    file: Annotated[
        Path,
        typer.Argument(
            help="A CSV file: a header naming to and text (and optionally send_at and "
            "validity), then one message a row; as POST /api/v1/batches takes it.",
            dir_okay=False,
        ),
    ],
    send_at: Annotated[
        str | None,
        typer.Option(
            "--send-at",
            help="When rows without their own send_at are sent: ISO 8601 with a time zone, "
            "up to 30 days ahead (default: now).",
        ),
    ] = None,
    validity: Annotated[
        str | None,
        typer.Option(
            "--validity",
            help="Seconds (5 to 604800) a row without its own validity may wait to be handed "
            "over before it expires, unsent.",
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Follow the batch until every message is handed over or final. Without "
            "SMSGATE_BROKER_URL this command hands them over itself (paced like serve).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the API's 202 document, with counts by status.")
    ] = False,
) -> None:
    """Queue a CSV file of messages through this machine's services, with a progress bar.

    Exits 0 if every row was accepted, 1 if some were refused, 2 for a bad file or setting.
    """
    from smsgate.cli.progress import progress_bar

    try:
        batch_send_at = parse_send_at((send_at or "").strip())
    except ValueError:
        fail("--send-at is not an ISO 8601 time, like 2026-12-01T09:00:00Z")
    try:
        batch_validity = parse_validity((validity or "").strip())
    except ValueError:
        fail("--validity is not a whole number of seconds")
    settings = sending_settings()
    console = Console(highlight=False)

    def refused(code: str, message: str, exit_code: int, rows: int = 0, **more: Any) -> NoReturn:
        body = refused_document(code, message, more.get("errors", []))
        if as_json:
            typer.echo(orjson.dumps(body).decode())
        else:
            if body.get("errors"):
                print_summary(console, body, rows)
            typer.echo(f"smsgate: nothing was queued: {message} [{code}]", err=True)
        raise typer.Exit(exit_code)

    with progress_bar() as progress:
        try:
            upload = read_file(file, progress)
        except OSError as exc:
            drop_bars(progress)
            fail(f"cannot read {file}: {exc.strerror or exc}")
        except BatchRefused as exc:
            drop_bars(progress)
            refused(exc.code, exc.message, EXIT_BAD_INPUT)
        log_to_stderr(settings)
        upgrade_database(settings)
        try:
            queued = asyncio.run(
                queue_file(
                    settings,
                    upload,
                    send_at=batch_send_at,
                    validity_s=batch_validity,
                    wait=wait,
                    progress=progress,
                )
            )
        except DomainError as exc:  # refused rows, a limit, or the batch-wide send_at/validity
            drop_bars(progress)
            problem = exit_for(exc)
            assert problem is not None
            rows = exc.rows if isinstance(exc, BatchRefused) else []
            message = problem.message
            if not isinstance(exc, BatchRefused | LimitExceeded | LimitsUnavailable):
                message = f"{message} (--send-at, --validity)"
            refused(problem.code, message, problem.exit_code, len(upload.rows), errors=rows)
        except StoreUnavailable as exc:
            drop_bars(progress)
            fail_for(exc, then="nothing was queued")
    body = document(queued)
    if as_json:
        typer.echo(orjson.dumps(body).decode())
    else:
        print_summary(console, body, len(upload.rows), queued)
    if body["refused"]:
        raise typer.Exit(EXIT_NOT_SENT)


def drop_bars(progress: Progress) -> None:
    """Take the bars down before an error is shown: their last state would mislead."""
    for task in list(progress.task_ids):
        progress.remove_task(task)
    progress.stop()


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
    body = build_documents(None).batch(queued.report)  # it holds no money: no currency
    body["counts"] = dict(sorted(queued.progress.counts.items()))
    body["pending"] = queued.progress.pending
    if queued.waited:
        body["handed_over_by"] = "send-bulk" if queued.handed_over_here else "workers"
    if queued.interrupted:
        body["interrupted"] = True
    return body


def refused_document(code: str, message: str, errors: list[RowError]) -> dict[str, Any]:
    """The error shape, with the rows when every row was refused."""
    from smsgate.api.responses import error_body

    return error_body(code, message, {"errors": [e.as_json() for e in errors]} if errors else None)
