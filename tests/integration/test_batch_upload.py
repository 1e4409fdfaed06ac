"""``POST /api/v1/batches``: a CSV upload queued as a batch, over real HTTP to the emulator.

As in test_queued_sending.py, the app runs under uvicorn with its in-process dispatcher and
the emulator records every send, so what went out is read from what Plivo would have received.
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from smsgate.emulator import EmulatorServer
from tests.conftest import ServeApp
from tests.support.queued import batch_counts, sends, wait_for

pytestmark = pytest.mark.integration

SERVE = ServeApp
CSV = {"content-type": "text/csv"}


def sent(emulator: EmulatorServer) -> Counter[tuple[str, str]]:
    """(destination, text) of every message the emulator took."""
    return Counter((r.body["dst"], r.body["text"]) for r in sends(emulator))  # type: ignore[index]


def csv_file(rows: list[list[str]], header: tuple[str, ...] = ("to", "text")) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def upload(
    url: str,
    content: bytes,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/batches",
        content=content,
        params=params,
        headers={**CSV, **(headers or {})},
        timeout=30,
    )


def stored_messages(url: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = httpx.get(f"{url}/api/v1/messages", timeout=10).json()["data"]
    return listed


def test_a_file_of_500_rows_sends_each_row_once_with_its_own_text(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve(sender_mps=0)
    rows = [[f"+1415555{n:04d}", f'Hi {n}, your "code" is {n:06d}'] for n in range(1000, 1500)]
    rows[7][1] = "Two lines,\nand a comma"
    rows[8][1] = "Grüße 👋"
    response = upload(url, csv_file(rows))
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["accepted"], body["refused"], body["errors"]) == (500, 0, [])
    # One line each, but for the text holding a line break: the rows after it start a line on.
    assert [m["row"] for m in body["messages"][6:10]] == [8, 9, 11, 12]
    assert [m["index"] for m in body["messages"][:3]] == [0, 1, 2]
    wait_for(lambda: len(sends(emulator)) >= 500, 30)
    wait_for(lambda: "accepted" not in batch_counts(url, body["batch_id"]), 10)
    time.sleep(0.3)
    assert sent(emulator) == Counter((to, text) for to, text in rows)
    counts = batch_counts(url, body["batch_id"])
    assert sum(counts.values()) == 500
    assert set(counts) <= {"queued", "sent", "delivered"}


def test_a_row_with_its_own_send_at_waits_for_it_while_the_others_go_now(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve()
    later = datetime.now(UTC) + timedelta(seconds=2)
    content = csv_file(
        [["+14155550001", "now", ""], ["+14155550002", "later", later.isoformat()]],
        header=("to", "text", "send_at"),
    )
    response = upload(url, content)
    assert response.status_code == 202, response.text
    wait_for(lambda: len(sends(emulator)) == 1, 5)
    assert sent(emulator) == Counter({("+14155550001", "now"): 1})
    wait_for(lambda: len(sends(emulator)) == 2, 5)
    (last,) = [r for r in sends(emulator) if r.body["text"] == "later"]  # type: ignore[index]
    assert abs(last.time - later.timestamp()) < 1.0


def test_the_batch_wide_send_at_applies_to_rows_that_leave_theirs_empty(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve()
    batch_time = datetime.now(UTC) + timedelta(seconds=1.5)
    content = csv_file(
        [["+14155550001", "batch time", ""], ["+14155550002", "own time", "2000-01-01T00:00:00Z"]],
        header=("to", "text", "send_at"),
    )
    response = upload(url, content, params={"send_at": batch_time.isoformat()})
    assert response.status_code == 202, response.text
    assert response.json()["send_at"] == batch_time.isoformat()
    wait_for(lambda: len(sends(emulator)) == 1, 5)  # a time already past means now
    assert sent(emulator) == Counter({("+14155550002", "own time"): 1})
    wait_for(lambda: len(sends(emulator)) == 2, 5)
    (last,) = [r for r in sends(emulator) if r.body["text"] == "batch time"]  # type: ignore[index]
    assert abs(last.time - batch_time.timestamp()) < 1.0


def test_each_refused_row_is_reported_by_its_line_and_the_others_are_sent(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve()
    httpx.post(f"{url}/api/v1/opt-outs", json={"number": "+14155550009"}, timeout=10)
    content = (
        b"to,text,send_at,validity\n"
        b"+14155550001,fine,,\n"  # line 2
        b"+1 415,short number,,\n"
        b'+14155550002,"a text\nover two lines",,\n'  # lines 4 and 5
        b"+14155550001,again,,\n"  # line 6: a number already in the batch
        b"+14155550003,,,\n"
        b"+14155550004," + b"x" * 1601 + b",,\n"
        b"+14155550005,hi,next week,\n"
        b"+14155550006,hi,2026-01-01T09:00:00,\n"
        b"+14155550007,hi,,1\n"
        b"+14155550008,hi,,soon\n"
        b"+14155550010,too,many,cells,here\n"
        b"\n"
        b"+14155550009,opted out,,\n"  # line 15
    )
    response = upload(url, content)
    assert response.status_code == 202, response.text
    body = response.json()
    assert [(m["row"], m["to"], m["status"]) for m in body["messages"]] == [
        (2, "+14155550001", "accepted"),
        (4, "+14155550002", "accepted"),
        (15, "+14155550009", "rejected"),
    ]
    assert [(e["row"], e["index"], e["code"]) for e in body["errors"]] == [
        (3, 1, "number_too_short"),
        (6, 3, "duplicate_recipient"),
        (7, 4, "empty_field"),
        (8, 5, "text_too_long"),
        (9, 6, "invalid_send_at"),
        (10, 7, "invalid_send_at"),
        (11, 8, "invalid_validity"),
        (12, 9, "invalid_validity"),
        (13, 10, "invalid_row"),
        (15, 11, "recipient_opted_out"),
    ]
    assert body["errors"][0]["to"] == "+1 415"
    assert all(e["error"] for e in body["errors"])
    assert (body["accepted"], body["refused"]) == (2, 10)
    wait_for(lambda: len(sends(emulator)) == 2, 5)
    assert sent(emulator) == Counter(
        {("+14155550001", "fine"): 1, ("+14155550002", "a text\nover two lines"): 1}
    )
    progress = httpx.get(f"{url}/api/v1/batches/{body['batch_id']}", timeout=10).json()
    assert (progress["recipients"], progress["invalid"]) == (12, 9)


def test_a_file_where_no_row_can_be_sent_is_refused_with_each_rows_problem(serve: SERVE) -> None:
    url = serve()
    response = upload(url, b"to,text\nnope,hi\n\n+14155550001,\n")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "no_valid_recipients"
    assert [(e["row"], e["code"]) for e in body["errors"]] == [
        (2, "invalid_number_format"),
        (4, "empty_field"),
    ]
    assert stored_messages(url) == []


def test_a_multipart_upload_with_a_bom_is_read_like_a_plain_one(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve()
    content = "\ufeffTo,Text\r\n+14155550001,Hello from a form\r\n".encode()
    response = httpx.post(
        f"{url}/api/v1/batches",
        files={"file": ("batch.csv", content, "application/vnd.ms-excel")},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    assert response.json()["messages"][0]["row"] == 2
    wait_for(lambda: len(sends(emulator)) == 1, 5)
    assert sent(emulator) == Counter({("+14155550001", "Hello from a form"): 1})


def test_a_body_that_arrives_in_small_pieces_is_read_as_it_comes(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve()
    content = csv_file([[f"+1415555{n:04d}", f"héllo {n}"] for n in range(1000, 1100)])

    def pieces() -> Iterator[bytes]:  # chunked, with characters cut in two
        for start in range(0, len(content), 333):
            yield content[start : start + 333]

    response = httpx.post(f"{url}/api/v1/batches", content=pieces(), headers=CSV, timeout=10)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 100


ONE_ROW = b"to,text\n+14155550001,hi\n"
CP1252 = {"content-type": "text/csv; charset=cp1252"}
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("content", "headers", "params", "status", "code"),
    [
        (b"to,txt\n+14155550001,hi\n", CSV, None, 400, "unknown_column"),
        (b"number,text\n+14155550001,hi\n", CSV, None, 400, "unknown_column"),
        (b"text\nhi\n", CSV, None, 400, "missing_column"),
        (b"", CSV, None, 400, "empty_recipients"),
        (b"to,text\r\n", CSV, None, 400, "empty_recipients"),
        (b"to,text\n+14155550001,caf\xe9\n", CSV, None, 400, "invalid_encoding"),
        (ONE_ROW, CP1252, None, 400, "invalid_encoding"),
        (b'to,text\n+14155550001,"hi\n', CSV, None, 400, "invalid_row"),
        (ONE_ROW, JSON, None, 415, "unsupported_media_type"),
        (ONE_ROW, CSV, {"send_at": "tomorrow"}, 400, "invalid_send_at"),
        (ONE_ROW, CSV, {"send_at": "2026-01-01T09:00:00"}, 400, "invalid_send_at"),
        (ONE_ROW, CSV, {"send_at": "2099-01-01T00:00:00Z"}, 400, "invalid_send_at"),
        (ONE_ROW, CSV, {"validity": "1"}, 400, "invalid_validity"),
        (ONE_ROW, CSV, {"validity": "an hour"}, 400, "invalid_validity"),
        (ONE_ROW, {**CSV, "Idempotency-Key": "k" * 256}, None, 400, "invalid_idempotency_key"),
    ],
)
def test_an_upload_that_cannot_be_queued_is_refused_and_stores_nothing(
    serve: SERVE,
    content: bytes,
    headers: dict[str, str],
    params: dict[str, str] | None,
    status: int,
    code: str,
) -> None:
    url = serve()
    response = httpx.post(
        f"{url}/api/v1/batches", content=content, headers=headers, params=params, timeout=10
    )
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json()["success"] is False
    assert stored_messages(url) == []


def test_10000_rows_are_accepted_and_one_more_refuses_the_file(serve: SERVE) -> None:
    url = serve()
    rows = [[f"+1415555{n:04d}", "hi"] for n in range(10_000)]
    tomorrow = {"send_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    too_many = upload(url, csv_file([*rows, ["+14155560000", "hi"]]), params=tomorrow)
    assert (too_many.status_code, too_many.json()["code"]) == (400, "too_many_recipients")
    assert stored_messages(url) == []
    exactly = upload(url, csv_file(rows), params=tomorrow)
    assert exactly.status_code == 202, exactly.text
    assert exactly.json()["accepted"] == 10_000


def test_a_file_over_4_mib_is_refused_whether_its_length_is_declared_or_not(
    serve: SERVE,
) -> None:
    url = serve()
    row = b"+14155550001," + b"x" * 500 + b"\n"
    content = b"to,text\n" + row * (4 * 1024 * 1024 // len(row) + 1)
    declared = upload(url, content)
    assert (declared.status_code, declared.json()["code"]) == (413, "body_too_large")
    assert "4096 KiB" in declared.json()["error"]

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(content), 64 * 1024):
            yield content[start : start + 64 * 1024]

    streamed = httpx.post(f"{url}/api/v1/batches", content=pieces(), headers=CSV, timeout=30)
    assert (streamed.status_code, streamed.json()["code"]) == (413, "body_too_large")
    assert stored_messages(url) == []
    # The cap is this route's: the other routes keep theirs.
    big_json = httpx.post(
        f"{url}/api/send-sms",
        content=b'{"to": "+14155550001", "text": "' + b"x" * 70_000 + b'"}',
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert (big_json.status_code, big_json.json()["code"]) == (413, "body_too_large")


def test_a_repeated_idempotency_key_returns_the_first_batch_however_the_file_is_sent(
    serve: SERVE, emulator: EmulatorServer
) -> None:
    url = serve()
    content = csv_file([["+14155550001", "once"], ["+14155550002", "once"]])
    key = {"Idempotency-Key": "upload-1"}
    first = upload(url, content, headers=key)
    again = upload(url, content, headers=key)
    as_form = httpx.post(
        f"{url}/api/v1/batches",
        files={"file": ("batch.csv", content, "text/csv")},
        headers=key,
        timeout=10,
    )
    assert first.status_code == again.status_code == as_form.status_code == 202
    assert first.json() == again.json() == as_form.json()
    other_file = upload(url, content + b"+14155550003,once\n", headers=key)
    assert (other_file.status_code, other_file.json()["code"]) == (422, "idempotency_key_reused")
    other_params = upload(url, content, params={"validity": "60"}, headers=key)
    assert other_params.status_code == 422
    wait_for(lambda: len(sends(emulator)) >= 2, 5)
    time.sleep(0.3)
    assert len(sends(emulator)) == 2
    assert len(stored_messages(url)) == 2


def test_the_route_is_documented(serve: SERVE) -> None:
    url = serve()
    operation = httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"]["/api/v1/batches"]
    post = operation["post"]
    assert post["summary"]
    assert set(post["requestBody"]["content"]) == {"text/csv", "multipart/form-data"}
    assert {p["name"] for p in post["parameters"]} == {
        "send_at",
        "validity",
        "from",
        "pool",
        "Idempotency-Key",
    }
