"""``smsgate messages list`` and ``messages show``: the store read directly, for the operator.

One run goes through a subprocess, as a person runs it; the others run the command in this
process, with its logging left alone (that is what makes them fast).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from smsgate import cli
from smsgate.cli import messages
from smsgate.config import get_settings
from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.rows import NewMessage, Outcome
from smsgate.db.store import MessageStore
from smsgate.domain.message import MessageStatus
from tests.cli.test_cli import environment, smsgate

SECRET_TEXT = "Your code is 123456"


@dataclass(frozen=True)
class Stored:
    url: str
    undelivered: str  # oldest: +14155550100, error 30, with a late "sent" report kept
    waiting: str  # +14155550101, accepted
    newest: str  # +14155550100 again, queued


async def store_messages(url: str) -> Stored:
    engine = make_engine(url)
    store = MessageStore(make_sessions(engine))

    def new(to: str, text: str) -> NewMessage:
        return NewMessage(
            to=to,
            text=text,
            encoding="GSM-7",
            segments=1,
            provider="plivo",
            sender="+14155550199",
            estimated_cost=Decimal("0.00350"),
        )

    try:
        first = await store.add(new("+14155550100", SECRET_TEXT), claimed=True)
        await store.record(
            first.id, MessageStatus.QUEUED, source="provider", outcome=Outcome("uuid-first")
        )
        await store.record(
            first.id,
            MessageStatus.UNDELIVERED,
            source="callback",
            outcome=Outcome(error_code="30", units=1, amount=Decimal("0.00350")),
            detail={"Status": "undelivered", "ErrorCode": "30"},
        )
        await store.record(  # late: kept in the timeline, the status stays
            first.id, MessageStatus.SENT, source="callback", detail={"Status": "sent"}
        )
        second = await store.add(new("+14155550101", "Hello Bob"))
        third = await store.add(new("+14155550100", "Hello again"), claimed=True)
        await store.record(
            third.id, MessageStatus.QUEUED, source="provider", outcome=Outcome("uuid-third")
        )
        return Stored(url, first.id, second.id, third.id)
    finally:
        await store.close()
        await engine.dispose()


@pytest.fixture
def stored(migrated_sqlite_template: Path, tmp_path: Path) -> Stored:
    database = tmp_path / "smsgate.db"
    shutil.copyfile(migrated_sqlite_template, database)
    return asyncio.run(store_messages(f"sqlite:///{database}"))


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(stored: Stored, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.setenv("SMSGATE_DATABASE_URL", stored.url)
    monkeypatch.setenv("SMSGATE_DEFAULT_REGION", "US")
    # Logging is the process's: configuring it here would point it at the runner's streams.
    monkeypatch.setattr(messages, "log_to_stderr", lambda *_args, **_kwargs: None)

    def run(*args: str) -> Result:
        get_settings.cache_clear()
        return CliRunner().invoke(cli.app, ["messages", *args])

    return run


def ids_in(output: str) -> list[str]:
    return [line.split()[0] for line in output.splitlines()[1:]]


def test_list_is_a_table_newest_first_with_full_numbers_and_no_texts(
    stored: Stored, tmp_path: Path
) -> None:
    done = smsgate(
        "messages", "list", env=environment(SMSGATE_DATABASE_URL=stored.url), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    header, *lines = done.stdout.splitlines()
    columns = ["ID", "CREATED", "(UTC)", "TO", "STATUS", "SEG", "EST.", "COST", "ERROR"]
    assert header.split() == columns
    assert ids_in(done.stdout) == [stored.newest, stored.waiting, stored.undelivered]
    assert lines[0].split()[3:] == ["+14155550100", "queued", "1", "0.00350"]
    assert lines[1].split()[3:] == ["+14155550101", "accepted", "1", "0.00350"]
    assert lines[2].split()[3:] == ["+14155550100", "undelivered", "1", "0.00350", "30"]
    for text in (SECRET_TEXT, "123456", "Hello Bob", "Hello again"):
        assert text not in done.stdout + done.stderr


def test_list_filters_by_status_number_time_and_limit(stored: Stored, invoke: Invoke) -> None:
    by_status = invoke("list", "--status", "undelivered")
    assert by_status.exit_code == 0, by_status.output
    assert ids_in(by_status.stdout) == [stored.undelivered]
    by_number = invoke("list", "--to", "(415) 555-0100")  # national form, with the region
    assert ids_in(by_number.stdout) == [stored.newest, stored.undelivered]
    assert ids_in(invoke("list", "--limit", "1").stdout) == [stored.newest]
    assert len(ids_in(invoke("list", "--since", "2000-01-01").stdout)) == 3
    later = invoke("list", "--since", "2999-01-01T00:00:00+01:00")
    assert later.exit_code == 0
    assert later.stdout == ""
    assert "No messages match." in later.stderr
    as_json = invoke("list", "--json", "--status", "accepted")
    (line,) = as_json.stdout.splitlines()  # one JSON object per message
    assert json.loads(line)["id"] == stored.waiting
    assert json.loads(line)["to"] == "+14155550101"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("list", "--since", "yesterday"), "--since is not an ISO 8601"),
        (("list", "--to", "oops"), "--to: "),
        (("list", "--status", "lost"), "'lost' is not one of"),
        (("list", "--limit", "0"), "--limit"),
        (("show", "01NOSUCHMESSAGE0000000000"), "there is no message '01NOSUCHMESSAGE"),
    ],
)
def test_bad_filters_and_unknown_ids_exit_2(
    invoke: Invoke, args: tuple[str, ...], said: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert said in result.stderr


def test_show_gives_the_fields_the_error_in_words_and_the_timeline(
    stored: Stored, invoke: Invoke
) -> None:
    shown = invoke("show", stored.undelivered)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert out.startswith(f"Message {stored.undelivered}\n")
    assert "  to        +14155550100\n" in out
    assert "  status    undelivered\n" in out
    assert "  provider  plivo, message UUID uuid-first\n" in out
    assert f"  text      {SECRET_TEXT!r}\n" in out  # the one text asked for
    assert "  cost      estimated 0.00350, charged 0.00350 for 1 unit(s)\n" in out
    assert "  error     Plivo error 30: Spam detected: carrier filtering" in out
    timeline = out.split("Timeline (UTC)\n")[1].splitlines()
    assert [line.split()[2] for line in timeline] == [
        "accepted",
        "sending",
        "queued",
        "undelivered",
        "sent",
    ]
    assert "ErrorCode=30 (Spam detected" in timeline[3]
    assert timeline[4].endswith("(kept; the status did not move)")
    assert "kept" not in "".join(timeline[:4])

    as_json = invoke("show", stored.undelivered, "--json")
    document = json.loads(as_json.stdout)
    assert document["id"] == stored.undelivered
    assert document["error"]["meaning"].startswith("Spam detected")
    assert [event["status"] for event in document["events"]] == [
        "accepted",
        "sending",
        "queued",
        "undelivered",
        "sent",
    ]
    assert [event["applied"] for event in document["events"]] == [True] * 4 + [False]


def test_list_and_show_name_the_price_tables_currency(stored: Stored, invoke: Invoke) -> None:
    """Issue #13, item 17: the table stays one line per message on stdout; the currency of
    its costs is said on stderr, and ``show`` has a line of its own for it."""
    listed = invoke("list")
    assert listed.exit_code == 0, listed.output
    assert len(listed.stdout.splitlines()) == 4  # the header and three messages, as before
    assert "EST. COST is in USD, the price table's currency." in listed.stderr
    shown = invoke("show", stored.undelivered)
    assert "  cost      estimated 0.00350, charged 0.00350 for 1 unit(s)\n  currency  USD\n" in (
        shown.stdout
    )
    assert json.loads(invoke("show", stored.undelivered, "--json").stdout)["currency"] == "USD"
    (line, *_) = invoke("list", "--json").stdout.splitlines()
    assert json.loads(line)["currency"] == "USD"


def test_the_currency_is_the_configured_tables_and_a_bad_table_still_reads(
    stored: Stored, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    table = tmp_path / "prices.json"
    table.write_text('{"currency": "EUR", "source": "t", "as_of": "2026-11-28", "rates": {}}')
    monkeypatch.setenv("SMSGATE_PRICE_TABLE", str(table))
    shown = invoke("show", stored.undelivered)
    assert shown.exit_code == 0, shown.output
    assert "  currency  EUR\n" in shown.stdout
    table.write_text("not json")
    unreadable = invoke("show", stored.undelivered, "--json")
    assert unreadable.exit_code == 0, unreadable.output
    assert json.loads(unreadable.stdout)["currency"] is None  # not named when not known
    assert "amounts are shown without a currency" in unreadable.stderr
