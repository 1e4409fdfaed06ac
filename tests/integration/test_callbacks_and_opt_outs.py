"""Delivery reports, inbound messages and the opt-out list, on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.inbound import InboundSms, InboundStore
from smsgate.db.opt_outs import OptOutSource, OptOutStore
from smsgate.db.rows import Message, NewMessage, Outcome
from smsgate.db.store import MessageStore
from smsgate.domain.message import MessageStatus as S
from smsgate.providers.plivo.callbacks import delivery_report, help_reply_xml, inbound_report
from smsgate.services.delivery_reports import (
    NO_UUID,
    UNKNOWN_UUID,
    UNSUPPORTED_STATUS,
    StatusReportResult,
    apply_delivery_report,
)
from smsgate.services.inbound import InboundResult, Keyword, handle_inbound

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

TO = "+14155552671"
OURS = "+14155550199"
HELP = "Acme alerts: reply STOP to stop. Msg&data rates may apply."


@dataclass
class Stores:
    messages: MessageStore
    opt_outs: OptOutStore
    inbound: InboundStore


@pytest.fixture
async def stores(migrated: str) -> AsyncIterator[Stores]:
    engine = make_engine(migrated)
    sessions = make_sessions(engine)
    try:
        yield Stores(MessageStore(sessions), OptOutStore(sessions), InboundStore(sessions))
    finally:
        await engine.dispose()


async def sent_message(store: MessageStore, uuid: str = "uuid-1") -> Message:
    """A message Plivo accepted as ``uuid``: queued, as the send path leaves it."""
    message = await store.add(NewMessage(TO, "hello", "GSM-7", 1, "plivo"))
    await store.claim(message.id)
    await store.record(
        message.id, S.QUEUED, source="provider", outcome=Outcome(provider_message_uuid=uuid)
    )
    return message


def report(status: str, uuid: str = "uuid-1", **fields: str) -> dict[str, str]:
    """A status callback's fields as Plivo posts them (reference §3)."""
    return {
        "MessageUUID": uuid,
        "ParentMessageUUID": uuid,
        "To": TO.lstrip("+"),
        "From": OURS.lstrip("+"),
        "Type": "sms",
        "Status": status,
        "Units": "2",
        "TotalRate": "0.00325",
        "TotalAmount": "0.00650",
        "ErrorCode": "",
        "MCC": "310",
        "MNC": "260",
        "PowerpackUUID": "",
        "Sequence": "1",
        **fields,
    }


async def apply_report(fields: dict[str, str], store: MessageStore) -> StatusReportResult:
    """A status callback's fields, read as Plivo's reader does, applied."""
    return await apply_delivery_report(delivery_report(fields), store)


async def receive(
    fields: dict[str, str], inbound_store: InboundStore, opt_outs: OptOutStore, help_reply: str
) -> InboundResult:
    """An inbound post's fields, read as Plivo's reader does, handled."""
    return await handle_inbound(inbound_report(fields), inbound_store, opt_outs, help_reply)


async def stored(store: MessageStore, message_id: str) -> Message:
    message = await store.get(message_id)
    assert message is not None
    return message


# --- delivery reports -------------------------------------------------------------------------


async def test_reports_in_order_walk_the_message_to_delivered(stores: Stores) -> None:
    message = await sent_message(stores.messages)
    for n, status in enumerate(["queued", "sent", "delivered"], start=1):
        result = await apply_report(report(status, Sequence=str(n)), stores.messages)
        assert result.message_id == message.id
        assert result.ignored is None
    final = await stored(stores.messages, message.id)
    assert (final.status, final.units, final.amount, final.error_code) == (
        S.DELIVERED,
        2,
        Decimal("0.00650"),
        None,
    )
    callbacks = [e for e in final.events if e.source == "callback"]
    assert [(e.status, e.applied) for e in callbacks] == [
        (S.QUEUED, False),  # the send already left it queued
        (S.SENT, True),
        (S.DELIVERED, True),
    ]
    assert callbacks[-1].detail == report("delivered", Sequence="3")


async def test_a_failure_report_carries_plivos_error_code_and_its_meaning(stores: Stores) -> None:
    message = await sent_message(stores.messages)
    result = await apply_report(
        report("undelivered", ErrorCode="30", Units="1", TotalAmount="0.00325"), stores.messages
    )
    assert result.transition is not None
    assert result.transition.applied
    final = await stored(stores.messages, message.id)
    assert (final.status, final.error_code, final.units, final.amount) == (
        S.UNDELIVERED,
        "30",
        1,
        Decimal("0.00325"),
    )
    assert final.error_reason is not None
    assert final.error_reason.startswith("Spam detected")


async def test_a_late_report_is_kept_but_never_moves_the_status_back(stores: Stores) -> None:
    message = await sent_message(stores.messages)
    await apply_report(report("delivered", Sequence="3"), stores.messages)
    late = await apply_report(
        report("sent", Sequence="2", Units="9", TotalAmount="9.99"), stores.messages
    )
    assert late.transition is not None
    assert not late.transition.applied
    assert late.transition.status == S.DELIVERED
    final = await stored(stores.messages, message.id)
    assert (final.status, final.units, final.amount) == (S.DELIVERED, 2, Decimal("0.00650"))
    assert [e.status for e in final.events if e.source == "callback"] == [S.DELIVERED, S.SENT]


async def test_a_repeated_report_adds_an_event_and_changes_nothing_else(stores: Stores) -> None:
    message = await sent_message(stores.messages)
    first = await apply_report(report("delivered"), stores.messages)
    before = await stored(stores.messages, message.id)
    again = await apply_report(report("delivered"), stores.messages)
    after = await stored(stores.messages, message.id)
    assert first.transition is not None
    assert first.transition.applied
    assert again.transition is not None
    assert not again.transition.applied
    assert (after.status, after.units, after.amount, after.updated_at) == (
        before.status,
        before.units,
        before.amount,
        before.updated_at,
    )
    assert len(after.events) == len(before.events) + 1


async def test_concurrent_final_reports_settle_on_exactly_one(stores: Stores) -> None:
    message = await sent_message(stores.messages)
    results = await asyncio.gather(
        *(
            apply_report(report(status, ErrorCode="20"), stores.messages)
            for status in ["delivered", "undelivered", "failed"] * 3
        )
    )
    assert sum(1 for r in results if r.transition is not None and r.transition.applied) == 1
    final = await stored(stores.messages, message.id)
    assert final.status in {S.DELIVERED, S.UNDELIVERED, S.FAILED}


async def test_a_report_for_an_unknown_uuid_is_ignored_and_logged_masked(stores: Stores) -> None:
    message = await sent_message(stores.messages)
    with capture_logs() as logs:
        result = await apply_report(report("delivered", uuid="nobody"), stores.messages)
    assert result == type(result)(None, None, UNKNOWN_UUID)
    assert (await stored(stores.messages, message.id)).status == S.QUEUED
    assert [log["event"] for log in logs] == ["status_report_for_unknown_message"]
    assert TO.lstrip("+") not in str(logs)
    assert logs[0]["to"] == "1415***2671"


async def test_a_report_without_a_uuid_is_ignored(stores: Stores) -> None:
    fields = report("delivered")
    del fields["MessageUUID"]
    result = await apply_report(fields, stores.messages)
    assert (result.message_id, result.transition, result.ignored) == (None, None, NO_UUID)


@pytest.mark.parametrize("status", ["read", "", "DELIVERED!", "\x00"])
async def test_an_unknown_status_is_ignored_not_an_error(stores: Stores, status: str) -> None:
    message = await sent_message(stores.messages)
    result = await apply_report(report(status), stores.messages)
    assert result.message_id == message.id
    assert result.transition is None
    assert result.ignored is not None
    assert result.ignored.startswith(UNSUPPORTED_STATUS)
    assert (await stored(stores.messages, message.id)).status == S.QUEUED


async def test_status_is_read_in_any_case_and_spacing(stores: Stores) -> None:
    message = await sent_message(stores.messages)
    await apply_report(report(" Delivered "), stores.messages)
    assert (await stored(stores.messages, message.id)).status == S.DELIVERED


BAD_NUMBERS = [
    pytest.param({"Units": "two", "TotalAmount": "cheap"}, None, None, id="words"),
    pytest.param({"Units": "", "TotalAmount": ""}, None, None, id="blank"),
    pytest.param({"Units": "-1", "TotalAmount": "-0.5"}, None, None, id="negative"),
    pytest.param({"Units": "1e3", "TotalAmount": "NaN"}, None, None, id="nan-and-exponent"),
    pytest.param({"Units": "99999999999", "TotalAmount": "1e400"}, None, None, id="huge"),
    pytest.param({"Units": "٣", "TotalAmount": "Infinity"}, None, None, id="other-digits"),
    pytest.param({"Units": "1_0", "TotalAmount": "99999999.5"}, None, None, id="overflow"),
    pytest.param(
        {"Units": " 3 ", "TotalAmount": "0.0065049"}, 3, Decimal("0.00650"), id="padded-rounded"
    ),
]


@pytest.mark.parametrize(("fields", "units", "amount"), BAD_NUMBERS)
async def test_numbers_that_do_not_parse_are_left_out_not_fatal(
    stores: Stores, fields: dict[str, str], units: int | None, amount: Decimal | None
) -> None:
    message = await sent_message(stores.messages)
    result = await apply_report(
        report("failed", ErrorCode="not-a-code-at-all", **fields), stores.messages
    )
    assert result.transition is not None
    assert result.transition.applied
    final = await stored(stores.messages, message.id)
    assert (final.status, final.units, final.amount) == (S.FAILED, units, amount)
    assert (final.error_code, final.error_reason) == (None, None)
    assert final.events[-1].detail is not None
    assert final.events[-1].detail["ErrorCode"] == "not-a-code-at-all"


async def test_a_success_error_code_is_no_error(stores: Stores) -> None:
    message = await sent_message(stores.messages)
    await apply_report(report("delivered", ErrorCode="000"), stores.messages)
    assert (await stored(stores.messages, message.id)).error_code is None


async def test_text_no_database_can_store_is_made_storable(stores: Stores) -> None:
    """PostgreSQL refuses NUL characters; the raw fields are kept with a stand-in instead."""
    message = await sent_message(stores.messages)
    await apply_report(report("sent", MCC="3\x0010", Odd="\ud800"), stores.messages)
    final = await stored(stores.messages, message.id)
    assert final.status == S.SENT
    assert final.events[-1].detail is not None
    assert final.events[-1].detail["MCC"] == "3\ufffd10"
    assert final.events[-1].detail["Odd"] == "?"


# --- the opt-out list -------------------------------------------------------------------------


async def test_an_opt_out_is_added_once_listed_and_removed(stores: Stores) -> None:
    opt_outs = stores.opt_outs
    assert await opt_outs.get(TO) is None
    assert await opt_outs.add(TO, OptOutSource.API)
    assert not await opt_outs.add(TO, OptOutSource.KEYWORD)
    assert await opt_outs.get(TO) is not None
    (entry,) = await opt_outs.list()
    assert (entry.number, entry.source) == (TO, OptOutSource.API)  # the first source stays
    assert entry.created_at.tzinfo is not None
    assert await opt_outs.get(TO) == entry
    assert await opt_outs.remove(TO)
    assert not await opt_outs.remove(TO)
    assert await opt_outs.get(TO) is None
    assert await opt_outs.get(TO) is None


async def test_the_list_is_in_number_order_and_pages_after_a_number(stores: Stores) -> None:
    numbers = [f"+1415555267{n}" for n in (3, 0, 4, 1, 2)]
    for number in numbers:
        await stores.opt_outs.add(number, OptOutSource.API)
    everything = [o.number for o in await stores.opt_outs.list()]
    assert everything == sorted(numbers)
    first = await stores.opt_outs.list(limit=2)
    rest = await stores.opt_outs.list(limit=10, after=first[-1].number)
    assert [o.number for o in first + rest] == sorted(numbers)
    assert await stores.opt_outs.list(after=sorted(numbers)[-1]) == []


async def test_many_concurrent_adds_store_the_number_once(stores: Stores) -> None:
    added = await asyncio.gather(
        *(stores.opt_outs.add(TO, OptOutSource.KEYWORD) for _ in range(20))
    )
    assert added.count(True) == 1
    assert [o.number for o in await stores.opt_outs.list()] == [TO]


@pytest.mark.parametrize("number", ["14155552671", "", "+0123", "+1415555267112345", "STOP"])
async def test_only_e164_numbers_go_on_the_list(stores: Stores, number: str) -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        await stores.opt_outs.add(number, OptOutSource.API)


# --- inbound messages -------------------------------------------------------------------------


def inbound(text: str, uuid: str = "in-1", **fields: str) -> dict[str, str]:
    """An inbound post as Plivo makes it (reference §7): numbers without "+"."""
    return {
        "From": TO.lstrip("+"),
        "To": OURS.lstrip("+"),
        "Type": "sms",
        "Text": text,
        "MessageUUID": uuid,
        "Units": "1",
        "TotalRate": "0",
        "TotalAmount": "0",
        "MessageIntent": "",
        "PowerpackUUID": "",
        **fields,
    }


async def test_stop_opts_the_sender_out_and_start_opts_them_back_in(stores: Stores) -> None:
    stop = await receive(inbound(" Stop \n"), stores.inbound, stores.opt_outs, HELP)
    assert (stop.stored, stop.keyword, stop.sender, stop.opt_out_changed, stop.reply) == (
        True,
        Keyword.OPT_OUT,
        TO,
        True,
        None,
    )
    (entry,) = await stores.opt_outs.list()
    assert (entry.number, entry.source) == (TO, OptOutSource.KEYWORD)
    start = await receive(inbound("START", uuid="in-2"), stores.inbound, stores.opt_outs, HELP)
    assert (start.keyword, start.opt_out_changed) == (Keyword.OPT_IN, True)
    assert await stores.opt_outs.get(TO) is None


async def test_plivos_opt_out_intent_counts_whatever_the_text(stores: Stores) -> None:
    result = await receive(
        inbound("please no more", MessageIntent="optout"), stores.inbound, stores.opt_outs, HELP
    )
    assert result.keyword is Keyword.OPT_OUT
    opt_out = await stores.opt_outs.get(TO)
    assert opt_out is not None
    assert opt_out.source == OptOutSource.PLIVO


async def test_a_keyword_inside_a_sentence_changes_nothing(stores: Stores) -> None:
    result = await receive(inbound("Stop it!"), stores.inbound, stores.opt_outs, HELP)
    assert (result.stored, result.keyword, result.reply) == (True, Keyword.NONE, None)
    assert await stores.opt_outs.list() == []


async def test_help_is_answered_with_message_xml_from_our_number(stores: Stores) -> None:
    result = await receive(inbound("help"), stores.inbound, stores.opt_outs, HELP)
    assert result.keyword is Keyword.HELP
    assert result.reply is not None
    assert help_reply_xml(result.reply.src, result.reply.dst, result.reply.text) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Message src="14155550199" dst="14155552671">'
        "Acme alerts: reply STOP to stop. Msg&amp;data rates may apply.</Message></Response>"
    )
    silent = await receive(inbound("INFO", uuid="in-2"), stores.inbound, stores.opt_outs, "")
    assert (silent.keyword, silent.reply) == (Keyword.HELP, None)


async def test_a_retried_post_is_stored_once(stores: Stores) -> None:
    first = await receive(inbound("hello 👋"), stores.inbound, stores.opt_outs, HELP)
    again = await receive(inbound("hello 👋"), stores.inbound, stores.opt_outs, HELP)
    assert (first.stored, again.stored) == (True, False)
    (message,) = await stores.inbound.list()
    assert (message.from_number, message.to_number, message.text) == (TO, OURS, "hello 👋")
    assert (message.provider_message_uuid, message.units, message.intent) == ("in-1", 1, None)
    assert message.raw == inbound("hello 👋")
    assert message.received_at.tzinfo is not None


async def test_concurrent_retries_of_one_post_store_it_once(stores: Stores) -> None:
    results = await asyncio.gather(
        *(receive(inbound("STOP"), stores.inbound, stores.opt_outs, HELP) for _ in range(10))
    )
    assert [r.stored for r in results].count(True) == 1
    assert len(await stores.inbound.list()) == 1
    assert await stores.opt_outs.get(TO) is not None


async def test_a_retried_start_does_not_undo_a_later_stop(stores: Stores) -> None:
    """START, then STOP, then Plivo's retry of the START: the number stays opted out."""
    await receive(inbound("START", uuid="in-1"), stores.inbound, stores.opt_outs, HELP)
    await receive(inbound("STOP", uuid="in-2"), stores.inbound, stores.opt_outs, HELP)
    retry = await receive(inbound("START", uuid="in-1"), stores.inbound, stores.opt_outs, HELP)
    assert (retry.stored, retry.opt_out_changed) == (False, False)
    assert await stores.opt_outs.get(TO) is not None


async def test_a_retried_stop_is_applied_again(stores: Stores) -> None:
    """A crash after storing but before the list changed is mended by Plivo's retry."""
    await stores.inbound.add(
        InboundSms(TO, OURS, "STOP", datetime.now(UTC), provider_message_uuid="in-1")
    )
    retry = await receive(inbound("STOP"), stores.inbound, stores.opt_outs, HELP)
    assert (retry.stored, retry.opt_out_changed) == (False, True)
    assert await stores.opt_outs.get(TO) is not None


async def test_a_short_code_sender_is_stored_but_never_listed(stores: Stores) -> None:
    result = await receive(inbound("STOP", From="72345"), stores.inbound, stores.opt_outs, HELP)
    assert (result.stored, result.keyword, result.sender, result.opt_out_changed) == (
        True,
        Keyword.OPT_OUT,
        None,
        False,
    )
    (message,) = await stores.inbound.list()
    assert message.from_number == "72345"
    assert await stores.opt_outs.list() == []


async def test_odd_fields_are_stored_without_failing(stores: Stores) -> None:
    fields = inbound(
        "nul \x00 and \ud83d lone",
        uuid="u" * 100,
        From="+1" + "9" * 30,
        Units="lots",
        MessageIntent="something-much-longer-than-sixteen",
    )
    result = await receive(fields, stores.inbound, stores.opt_outs, HELP)
    assert result.stored
    (message,) = await stores.inbound.list()
    assert message.text == "nul \ufffd and ? lone"
    assert len(message.from_number) == 16
    assert message.provider_message_uuid == "u" * 64
    assert message.units is None
    assert message.intent == "something-much-l"


async def test_posts_without_a_uuid_are_each_stored(stores: Stores) -> None:
    for _ in range(2):
        result = await receive(inbound("hi", uuid=""), stores.inbound, stores.opt_outs, HELP)
        assert result.stored
    assert len(await stores.inbound.list()) == 2


async def test_inbound_messages_list_newest_first_in_pages(stores: Stores) -> None:
    for n in range(5):
        await receive(inbound(f"msg {n}", uuid=f"in-{n}"), stores.inbound, stores.opt_outs, HELP)
    page = await stores.inbound.list(limit=2)
    rest = await stores.inbound.list(limit=10, before_id=page[-1].id)
    assert [m.text for m in page + rest] == [f"msg {n}" for n in reversed(range(5))]


async def test_inbound_logs_hold_masked_numbers_and_never_the_text(stores: Stores) -> None:
    with capture_logs() as logs:
        await receive(inbound("my secret code 1234"), stores.inbound, stores.opt_outs, HELP)
    assert [log["event"] for log in logs] == ["inbound_message"]
    assert "secret" not in str(logs)
    assert TO.lstrip("+") not in str(logs)
    assert logs[0]["sender"] == "+1415***2671"
