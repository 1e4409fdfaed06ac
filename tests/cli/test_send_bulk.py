"""``smsgate send-bulk FILE.csv``: the file read as the API reads it, queued through this
machine's services under the same limits, and, with ``--wait``, handed over and followed.

A few runs go through a subprocess, as a person runs the command (exit codes, output); the
rest call what the command calls, which is much faster.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress
from typer.testing import CliRunner

from smsgate.cli import app
from smsgate.cli.send_bulk import Queued, queue_file
from smsgate.config import Settings, get_settings
from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, EmulatorServer
from smsgate.services.batch_file import BatchFileReader
from smsgate.services.queueing import BatchRefused
from tests.cli.test_cli import environment, smsgate
from tests.support.redis import private_redis

SENDER = "+14155550199"


@pytest.fixture
def database(migrated_sqlite_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "smsgate.db"
    shutil.copyfile(migrated_sqlite_template, path)
    return path


def stored(database: Path) -> list[tuple[str, str, str | None, str | None]]:
    """(to, status, batch, text) of every message, oldest first."""
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT to_number, status, batch_id, text FROM messages ORDER BY id"
        ).fetchall()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_are_queued_and_refused_rows_are_listed_by_line(
    database: Path, tmp_path: Path
) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO opt_outs (number, source, created_at) VALUES (?, 'keyword', ?)",
            ("+14155550103", "2026-01-01 00:00:00.000000"),
        )
    csv_file = write(
        tmp_path / "list.csv",
        "To,Text,send_at\n"  # the header in any case, like the API
        "+14155550100,Hi Ann,\n"
        "\n"  # a blank line: skipped, but counted
        '+14155550101,"Hi Bob, see you",\n'
        "oops,Hi,\n"
        "+1 415 555 0100,Hi again,\n"
        "+14155550102,Later,tomorrow\n"
        "+14155550103,Hi Cy,\n",
    )
    done = smsgate(
        "send-bulk",
        str(csv_file),
        env=environment(SMSGATE_DATABASE_URL=f"sqlite:///{database}"),
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr  # some rows refused
    out = done.stdout
    assert "line 5: invalid_number_format:" in out
    assert "line 6: duplicate_recipient:" in out
    assert "line 7: invalid_send_at:" in out
    assert "line 8: recipient_opted_out:" in out
    assert "rows in the file" in out
    assert "│ accepted " in out
    assert "│   duplicate_recipient " in out
    summary = {
        cells[0].strip(): cells[1].strip()
        for line in out.splitlines()
        if line.startswith("│") and len(cells := line.strip("│").split("│")) == 2
    }
    assert summary["rows in the file"] == "6"
    assert summary["accepted"] == "2"
    assert summary["refused"] == "4"
    assert summary["accepted"] == "2"
    assert summary["rejected"] == "1"  # the opted-out number: stored, never sent
    assert "2 waiting to be handed over" in out
    rows = stored(database)
    assert [(to, status, text) for to, status, _, text in rows] == [
        ("+14155550100", "accepted", "Hi Ann"),
        ("+14155550101", "accepted", "Hi Bob, see you"),
        ("+14155550103", "rejected", "Hi Cy"),
    ]
    assert len({batch for _, _, batch, _ in rows}) == 1
    assert "reading" not in out  # the bars go to stderr
    assert "read" in done.stderr


def test_wait_hands_the_batch_to_plivo_and_prints_json_with_the_final_counts(
    database: Path, tmp_path: Path, emulator: EmulatorServer
) -> None:
    numbers = [f"+1415555{n:04d}" for n in range(100, 130)]
    csv_file = write(
        tmp_path / "list.csv", "to,text\n" + "".join(f"{n},Order {n} shipped\n" for n in numbers)
    )
    env = environment(
        SMSGATE_DATABASE_URL=f"sqlite:///{database}",
        PLIVO_AUTH_ID=DEFAULT_AUTH_ID,
        PLIVO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        PLIVO_SENDER_ID=SENDER,
        PLIVO_API_URL=emulator.base_url,
        SMSGATE_SENDER_MPS="0",
        # The operator is no API key: a key's daily message limit does not apply to it.
        SMSGATE_DAILY_MESSAGE_LIMIT="1",
    )
    done = smsgate("send-bulk", str(csv_file), "--wait", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)  # stdout is the document alone
    assert body["accepted"] == 30
    assert body["refused"] == 0
    assert body["errors"] == []
    assert [m["row"] for m in body["messages"]] == list(range(2, 32))
    assert body["counts"] == {"queued": 30}  # every one handed to Plivo, which took it
    assert body["pending"] == 0
    assert body["handed_over_by"] == "send-bulk"  # no broker: the command did it
    sends = [r for r in emulator.requests() if r.method == "POST"]
    assert sorted(r.body["dst"] for r in sends) == numbers  # type: ignore[index]
    assert {r.body["text"] for r in sends} == {f"Order {n} shipped" for n in numbers}  # type: ignore[index]
    assert {status for _, status, _, _ in stored(database)} == {"queued"}


def test_with_a_broker_the_workers_hand_the_batch_over_and_wait_follows_them(
    database: Path, tmp_path: Path, emulator: EmulatorServer
) -> None:
    numbers = [f"+1415555{n:04d}" for n in range(100, 110)]
    csv_file = write(tmp_path / "list.csv", "to,text\n" + "".join(f"{n},Hi\n" for n in numbers))
    with private_redis() as redis:
        env = environment(
            SMSGATE_DATABASE_URL=f"sqlite:///{database}",
            SMSGATE_BROKER_URL=redis.url,
            PLIVO_AUTH_ID=DEFAULT_AUTH_ID,
            PLIVO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
            PLIVO_SENDER_ID=SENDER,
            PLIVO_API_URL=emulator.base_url,
            SMSGATE_SENDER_MPS="0",
        )
        with (tmp_path / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "smsgate", "worker", "--threads", "4"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            done = smsgate("send-bulk", str(csv_file), "--wait", "--json", env=env, cwd=tmp_path)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["handed_over_by"] == "workers"
    assert body["counts"] == {"queued": 10}
    assert sorted(r.body["dst"] for r in emulator.requests() if r.method == "POST") == numbers  # type: ignore[index]


def test_a_bad_file_or_option_exits_2_storing_nothing(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before any service is opened: run in this process, which is much faster."""
    monkeypatch.setenv("SMSGATE_DATABASE_URL", f"sqlite:///{database}")
    no_text = write(tmp_path / "no-text.csv", "to\n+14155550100\n")
    body = write(tmp_path / "body.csv", "to,body\n+14155550100,Hi\n")
    not_utf8 = tmp_path / "latin1.csv"
    not_utf8.write_bytes("to,text\n+14155550100,Grüße\n".encode("latin-1"))
    good = write(tmp_path / "good.csv", "to,text\n+14155550100,Hi\n")
    runs = {
        "no text column": ([str(no_text)], "has no column 'text'"),
        "unknown column": ([str(body), "--json"], '"code":"unknown_column"'),
        "not utf-8": ([str(not_utf8)], "[invalid_encoding]"),
        "bad send-at": ([str(good), "--send-at", "next tuesday"], "--send-at is not an ISO"),
        "bad validity": ([str(good), "--validity", "1h"], "--validity is not a whole number"),
        "no file": ([str(tmp_path / "missing.csv")], "cannot read"),
    }
    for name, (args, said) in runs.items():
        get_settings.cache_clear()
        result = CliRunner().invoke(app, ["send-bulk", *args])
        assert result.exit_code == 2, (name, result.output)
        assert said in result.stdout + result.stderr, (name, result.output)
        assert "reading" not in result.stderr  # the bar of a failed read is taken down
    assert stored(database) == []


def test_a_batch_refused_as_a_whole_exits_with_its_code_and_stores_nothing(
    database: Path, tmp_path: Path, emulator: EmulatorServer
) -> None:
    url = f"sqlite:///{database}"
    good = write(tmp_path / "good.csv", "to,text\n+14155550100,Hi\n+14155550101,Hi\n")
    far = (datetime.now(UTC) + timedelta(days=45)).isoformat()
    # Two messages at the shipped US rate (0.0035) are over a daily spend of 0.005, when they
    # go to Plivo (the emulator): the sandbox's count against no spend.
    spend = environment(
        SMSGATE_DATABASE_URL=url,
        SMSGATE_DAILY_SPEND_LIMIT="0.005",
        PLIVO_AUTH_ID=DEFAULT_AUTH_ID,
        PLIVO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        PLIVO_SENDER_ID="+14155550199",
        PLIVO_API_URL=emulator.base_url,
    )
    with ThreadPoolExecutor(2) as pool:
        too_far = pool.submit(
            smsgate,
            "send-bulk",
            str(good),
            "--send-at",
            far,
            env=environment(SMSGATE_DATABASE_URL=url),
            cwd=tmp_path,
        )
        over = pool.submit(smsgate, "send-bulk", str(good), "--json", env=spend, cwd=tmp_path)
        scheduled, spent = too_far.result(), over.result()
    assert scheduled.returncode == 2, scheduled.stderr
    assert "more than 30 days ahead" in scheduled.stderr
    assert "[invalid_send_at]" in scheduled.stderr
    assert spent.returncode == 1, spent.stderr
    assert json.loads(spent.stdout)["code"] == "spend_limit_reached"
    assert stored(database) == []


def read(path: Path) -> BatchFileReader:
    reader = BatchFileReader()
    reader.feed(path.read_bytes())
    return reader


def quiet() -> Progress:
    return Progress(console=Console(file=io.StringIO()))


def run(settings: Settings, path: Path, **options: object) -> Queued:
    upload = read(path).close()
    return asyncio.run(
        queue_file(
            settings,
            upload,
            send_at=options.get("send_at"),  # type: ignore[arg-type]
            validity_s=None,
            wait=bool(options.get("wait")),
            progress=quiet(),
        )
    )


def test_the_destination_limit_counts_the_operators_batches_through_redis(
    plivo_settings: Settings, tmp_path: Path
) -> None:
    csv_file = write(tmp_path / "list.csv", "to,text\n+14155550100,Hi\n+14155550101,Hi\n")
    with private_redis() as redis:
        changes = {"redis_url": redis.url, "destination_limit": "1/hour"}
        settings = plivo_settings.model_copy(update=changes)
        first = run(settings, csv_file)
        assert first.report.errors == []
        with pytest.raises(BatchRefused) as refused:
            run(settings, csv_file)  # as a second run of the command would
    assert refused.value.code == "no_valid_recipients"
    assert [(row.line, row.code) for row in refused.value.rows] == [
        (2, "destination_limit_exceeded"),
        (3, "destination_limit_exceeded"),
    ]


def test_wait_retries_a_hand_off_that_sent_nothing_until_plivo_takes_it(
    plivo_settings: Settings, emulator: EmulatorServer, tmp_path: Path
) -> None:
    csv_file = write(tmp_path / "list.csv", "to,text\n+14155550100,Hi\n")
    # Four 503s: the adapter's own retries are spent, so the message is released and the
    # command's hand-over takes it again after the backoff.
    emulator.set_faults(status=503, times=4)
    queued = run(plivo_settings.model_copy(update={"sender_mps": 0}), csv_file, wait=True)
    assert queued.handed_over_here
    assert not queued.interrupted
    assert queued.progress.counts == {"queued": 1}
    assert queued.outcomes == {"retry": 1, "handed_over": 1}
    assert [r.status for r in emulator.requests() if r.method == "POST"] == [503] * 4 + [202]


def test_sigterm_while_waiting_leaves_scheduled_messages_queued_and_sends_nothing(
    database: Path, tmp_path: Path, emulator: EmulatorServer
) -> None:
    csv_file = write(tmp_path / "list.csv", "to,text\n+14155550100,Hi\n+14155550101,Hi\n")
    env = environment(
        SMSGATE_DATABASE_URL=f"sqlite:///{database}",
        PLIVO_AUTH_ID=DEFAULT_AUTH_ID,
        PLIVO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        PLIVO_SENDER_ID=SENDER,
        PLIVO_API_URL=emulator.base_url,
    )
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    command = [sys.executable, "-m", "smsgate", "send-bulk", str(csv_file), "--wait"]
    process = subprocess.Popen(
        [*command, "--send-at", later],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(stored(database)) < 2:  # stored, and waiting for the hour to come
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the batch was never stored"
            time.sleep(0.1)
        time.sleep(0.3)  # into the wait
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err  # every row was accepted; the watch just stopped
    assert "Stopped waiting: 2 not handed over yet" in " ".join(out.split())
    assert {status for _, status, _, _ in stored(database)} == {"accepted"}
    assert emulator.requests() == []
