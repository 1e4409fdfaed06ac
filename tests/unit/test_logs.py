"""Structured logs: JSON lines, request ids from context, and the turn-flushed sink."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
import structlog

from smsgate.logs import TurnFlushedSink, configure_logging, get_logger


class CountingStream(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_outside_an_event_loop_each_line_is_flushed_at_once() -> None:
    stream = CountingStream()
    sink = TurnFlushedSink(stream)
    sink.msg(b'{"a": 1}')
    sink.msg(b'{"b": 2}')
    assert stream.getvalue() == b'{"a": 1}\n{"b": 2}\n'
    assert stream.flushes == 2


def test_inside_an_event_loop_lines_of_one_turn_share_one_flush() -> None:
    """Three lines written in one turn reach the stream together, flushed once after it."""
    stream = CountingStream()
    sink = TurnFlushedSink(stream)

    async def write_three() -> int:
        for n in range(3):
            sink.msg(f'{{"n": {n}}}'.encode())
        flushes_during_turn = stream.flushes
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return flushes_during_turn

    assert asyncio.run(write_three()) == 0
    assert stream.flushes == 1
    assert stream.getvalue().splitlines() == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']


def test_a_broken_stream_does_not_break_the_caller() -> None:
    stream = CountingStream()
    sink = TurnFlushedSink(stream)
    stream.close()
    sink.flush()  # no exception: logging must never take a request down


def test_json_lines_carry_the_event_level_time_logger_and_request_id(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    configure_logging("info", "json")
    try:
        structlog.contextvars.bind_contextvars(request_id="req-1")
        get_logger("smsgate.test").info("something_happened", to="+1415***2671", count=2)
        get_logger("smsgate.test").debug("not_shown")
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
    (line,) = capsysbinary.readouterr().out.splitlines()
    event = json.loads(line)
    assert event["event"] == "something_happened"
    assert event["level"] == "info"
    assert event["logger_name"] == "smsgate.test"
    assert event["request_id"] == "req-1"
    assert event["to"] == "+1415***2671"
    assert event["timestamp"].endswith("Z")
