"""Senders and pools over real HTTP: the registry's API, the routes that name a sender or a
pool, and what reaches the emulator (exactly one of ``src`` and ``powerpack_uuid``)."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from smsgate.emulator import EmulatorServer
from tests.conftest import ServeApp

pytestmark = pytest.mark.integration

POWERPACK = "0e9d5d3e-8f6a-4f1b-9c51-1b2c3d4e5f60"
TO = "+14155552671"


def sends(emulator: EmulatorServer) -> list[dict[str, object]]:
    return [r.body for r in emulator.requests() if r.method == "POST" and isinstance(r.body, dict)]


def register(url: str, **sender: object) -> dict[str, object]:
    response = httpx.post(f"{url}/api/v1/senders", json=sender, timeout=10)
    assert response.status_code == 201, response.text
    document: dict[str, object] = response.json()
    return document


def send(url: str, **body: object) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/messages", json={"to": TO, "text": "hi", **body}, timeout=10)


def test_with_no_sender_registered_messages_go_from_plivo_sender_id(
    serve: ServeApp, emulator: EmulatorServer
) -> None:
    url = serve()
    listed = httpx.get(f"{url}/api/v1/senders", timeout=10).json()
    assert listed == {"data": [], "default_sender": "+14155550199"}
    assert httpx.post(f"{url}/api/send-sms", json={"to": TO, "text": "hi"}).status_code == 200
    (body,) = sends(emulator)
    assert body["src"] == "+14155550199"
    assert "powerpack_uuid" not in body


def test_a_pool_a_sender_and_a_powerpack_each_reach_plivo_as_plivo_takes_them(
    serve: ServeApp, emulator: EmulatorServer
) -> None:
    url = serve()
    number = register(url, address="+1 415 555 0100")
    register(url, address=POWERPACK, mps=10, pools=["bulk"])
    register(url, address="12345", countries=["US"], pools=["short"])

    seed = httpx.post(f"{url}/api/send-sms", json={"to": TO, "text": "hi"}, timeout=10)
    assert seed.status_code == 200  # the seed's route takes the default pool
    by_pool = send(url, pool="bulk")
    by_name = send(url, **{"from": "12345"})
    assert (by_pool.status_code, by_name.status_code) == (201, 201)

    seeded, pooled, named = sends(emulator)
    assert seeded["src"] == number["address"] == "+14155550100"
    assert pooled["powerpack_uuid"] == POWERPACK
    assert "src" not in pooled
    assert named["src"] == "12345"
    assert "powerpack_uuid" not in named
    assert (by_pool.json()["from"], by_pool.json()["pool"]) == (POWERPACK, "bulk")
    assert (by_name.json()["from"], by_name.json()["pool"]) == ("12345", None)

    # The message reads, the CSV export and the list all name the sender.
    shown = httpx.get(f"{url}/api/v1/messages/{by_pool.json()['id']}", timeout=10).json()
    assert (shown["from"], shown["pool"]) == (POWERPACK, "bulk")
    exported = httpx.get(f"{url}/api/v1/messages.csv", timeout=10).text
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(exported))}
    assert rows[by_pool.json()["id"]]["from"] == POWERPACK

    pools = httpx.get(f"{url}/api/v1/pools", timeout=10).json()["data"]
    assert {p["name"]: p["mps"] for p in pools} == {"bulk": 10.0, "default": 1.0, "short": 100.0}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"from": "+19999999999"}, 400, "unknown_sender"),
        ({"pool": "nobody"}, 400, "unknown_pool"),
        ({"from": "Acme"}, 400, "sender_not_allowed"),
        ({"from": "Acme", "pool": "default"}, 400, "invalid_request"),
        ({"from": 12}, 400, "invalid_field_type"),
        ({"pool": ""}, 400, "invalid_field_type"),
        ({"to": [TO, "+14155552672"], "pool": "nobody"}, 400, "unknown_pool"),
    ],
)
def test_a_sender_that_cannot_send_is_refused_before_anything_is_stored(
    serve: ServeApp, emulator: EmulatorServer, body: dict[str, object], status: int, code: str
) -> None:
    url = serve()
    register(url, address="Acme", countries=["GB"])
    response = send(url, **body)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert httpx.get(f"{url}/api/v1/messages", timeout=10).json()["data"] == []
    assert sends(emulator) == []


def test_a_batch_row_that_no_sender_may_send_is_refused_alone(
    serve: ServeApp, emulator: EmulatorServer
) -> None:
    url = serve(allowed_countries=("US", "GB"))
    register(url, address="Acme", countries=["GB"], pools=["ids"])
    response = send(url, to=["+447400123456", TO], pool="ids")
    assert response.status_code == 202, response.text
    document = response.json()
    assert document["accepted"] == 1
    assert [(e["index"], e["code"]) for e in document["errors"]] == [(1, "sender_not_allowed")]


@pytest.mark.parametrize(
    ("sender", "code"),
    [
        ({"address": "not a sender!"}, "invalid_sender"),
        ({"address": "Acme", "countries": ["US"]}, "sender_not_allowed"),
        ({"address": POWERPACK}, "mps_required"),
        ({"address": "+14155550100", "mps": 0}, "invalid_mps"),
        ({"address": "+14155550100", "mps": "fast"}, "invalid_field_type"),
        ({"address": "+14155550100", "kind": "short_code"}, "invalid_sender_kind"),
        ({"address": "+14155550100", "pools": ["No Spaces"]}, "invalid_pool"),
        ({"address": "+14155550100", "countries": ["ZZ"]}, "invalid_country"),
        ({"address": "+14155550100", "extra": 1}, "unknown_field"),
        ({"address": "x" * 65}, "invalid_field_type"),
    ],
)
def test_a_malformed_sender_is_refused_with_its_code(
    serve: ServeApp, sender: dict[str, object], code: str
) -> None:
    url = serve()
    response = httpx.post(f"{url}/api/v1/senders", json=sender, timeout=10)
    assert (response.status_code, response.json()["code"]) == (400, code), response.text


def test_senders_are_changed_and_removed_by_id_or_address(serve: ServeApp) -> None:
    url = serve()
    sender = register(url, address="+14155550100")
    again = httpx.post(f"{url}/api/v1/senders", json={"address": "14155550100"}, timeout=10)
    assert (again.status_code, again.json()["code"]) == (409, "sender_exists")
    changed = httpx.patch(
        f"{url}/api/v1/senders/+14155550100", json={"mps": 3, "pools": ["alerts"]}, timeout=10
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["mps"], changed.json()["pools"]) == (3.0, ["alerts"])
    assert httpx.get(f"{url}/api/v1/senders/{sender['id']}", timeout=10).json()["mps"] == 3.0
    assert httpx.delete(f"{url}/api/v1/senders/{sender['id']}", timeout=10).status_code == 204
    gone = httpx.get(f"{url}/api/v1/senders/{sender['id']}", timeout=10)
    assert (gone.status_code, gone.json()["code"]) == (404, "sender_not_found")
    missing = httpx.patch(f"{url}/api/v1/senders/nobody", json={"mps": 2}, timeout=10)
    assert missing.status_code == 404


def test_a_csv_row_names_its_own_sender_or_pool_and_the_rest_take_the_upload_s(
    serve: ServeApp, emulator: EmulatorServer
) -> None:
    url = serve()
    register(url, address="+14155550100")
    register(url, address="+14155550101", pools=["alerts"])
    register(url, address="12345", countries=["US"], pools=[])
    upload = (
        "to,text,from,pool\n"
        "+14155552671,a,12345,\n"
        "+14155552672,b,,alerts\n"
        "+14155552673,c,,\n"
        "+14155552674,d,+19999999999,\n"
        "+14155552675,e,12345,alerts\n"
    )
    response = httpx.post(
        f"{url}/api/v1/batches",
        params={"pool": "alerts"},
        content=upload.encode(),
        headers={"Content-Type": "text/csv"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    document = response.json()
    assert [(e["row"], e["code"]) for e in document["errors"]] == [
        (5, "unknown_sender"),
        (6, "invalid_request"),
    ]
    stored = {
        m["to"]: (m["from"], m["pool"])
        for m in httpx.get(f"{url}/api/v1/messages", timeout=10).json()["data"]
    }
    assert stored["+14155552671"] == ("12345", None)
    assert stored["+14155552672"][1] == "alerts"
    assert stored["+14155552673"][1] == "alerts"  # the upload's pool
    unknown = httpx.post(
        f"{url}/api/v1/batches",
        params={"pool": "nobody"},
        content=b"to,text\n+14155552676,f\n",
        headers={"Content-Type": "text/csv"},
        timeout=10,
    )
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_pool")
