"""The Plivo routes: send a message, get a message, get the account, get prices.

The send handler is the emulator's hot path (thousands of requests a second in the
benchmark), so it does no logging and only the work Plivo's answer needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Final

import orjson
import phonenumbers
from aiohttp import web

from smsgate.emulator.auth import authenticate, basic_credentials
from smsgate.emulator.faults import Faults
from smsgate.emulator.keys import CALLBACKS, STATE
from smsgate.emulator.records import RATE_PER_UNIT, MessageRecord, RequestRecord, money
from smsgate.emulator.responses import json_response, new_api_id, plivo_error, raw_response
from smsgate.emulator.state import EmulatorState
from smsgate.emulator.validation import InvalidSend, SendRequest, validate_send

_FORMS: Final = ("application/x-www-form-urlencoded", "multipart/form-data")


async def send_message(request: web.Request) -> web.StreamResponse:
    """``POST /v1/Account/{auth_id}/Message/``, with the current faults applied."""
    state = request.app[STATE]
    if state.faults.src is None:
        faults, hit = state.take_send_faults()
        if hit and faults.drop == "before_request":
            return _drop(request)
        body, body_error = await _read_body(request)
    else:  # the faults are for one sender: the body says whether this send is from it
        body, body_error = await _read_body(request)
        faults, hit = state.take_send_faults(_source(body))
    messages: list[MessageRecord] = []
    if hit and faults.drop is None:
        response = _injected(faults)
    else:
        response, messages = _accept(request, state, body, body_error)
    dropped = hit and faults.drop == "before_response"
    _record(request, state, body, None if dropped else response.status)
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if dropped:
        request.app[CALLBACKS].schedule(messages)  # the send happened; only the answer is lost
        return _drop(request)
    if any(message.url for message in messages):
        # Answer first, so the queued callback cannot overtake the 202, as with Plivo. A
        # client that hung up meanwhile still gets its callbacks: the send was accepted.
        with contextlib.suppress(ConnectionError):
            await response.prepare(request)
            await response.write_eof()
        request.app[CALLBACKS].schedule(messages)
    return response


async def get_message(request: web.Request) -> web.Response:
    """``GET /v1/Account/{auth_id}/Message/{message_uuid}/``."""
    state = request.app[STATE]
    response = authenticate(request, state)
    if response is None:
        message = state.messages.get(request.match_info["message_uuid"])
        if message is None:
            response = plivo_error(404, "not found")
        else:
            response = json_response(message.as_api_json(new_api_id(), time.time()))
    _record(request, state, None, response.status)
    return response


async def get_account(request: web.Request) -> web.Response:
    """``GET /v1/Account/{auth_id}/``: a cheap authenticated read, shaped like the SDK fixture."""
    state = request.app[STATE]
    response = authenticate(request, state) or json_response(
        {
            "account_type": "standard",
            "address": "",
            "api_id": new_api_id(),
            "auth_id": state.auth_id,
            "auto_recharge": False,
            "billing_mode": "prepaid",
            "cash_credits": "100.00000",
            "city": "",
            "name": "smsgate emulator",
            "resource_uri": f"/v1/Account/{state.auth_id}/",
            "state": "",
            "timezone": "UTC",
        }
    )
    _record(request, state, None, response.status)
    return response


async def list_messages(request: web.Request) -> web.Response:
    """``GET /v1/Account/{auth_id}/Message/``: messages newest first, filtered (reference §3).

    Supported filters: ``to_number``, ``from_number``, ``message_state``,
    ``message_direction`` and ``message_time`` with ``__gt``/``__gte``/``__lt``/``__lte``;
    ``limit`` (at most 20) and ``offset``.
    """
    state = request.app[STATE]
    response = authenticate(request, state)
    if response is None:
        try:
            response = json_response(_message_page(state, request.query, request.path))
        except ValueError as exc:
            response = plivo_error(400, str(exc))
    _record(request, state, None, response.status)
    return response


def _message_page(state: EmulatorState, query: Mapping[str, str], path: str) -> dict[str, object]:
    limit = int(query.get("limit", "20"))
    offset = int(query.get("offset", "0"))
    if not 1 <= limit <= 20 or offset < 0:
        raise ValueError("limit must be between 1 and 20, offset 0 or more")
    now = time.time()
    bounds = {
        op: _plivo_timestamp(query[f"message_time__{op}"])
        for op in ("gt", "gte", "lt", "lte")
        if f"message_time__{op}" in query
    }
    wanted_to = query.get("to_number", "").lstrip("+")
    wanted_from = query.get("from_number", "").lstrip("+")
    found = []
    for message in reversed(list(state.messages.values())):
        created = message.created
        if wanted_to and message.to_number.lstrip("+") != wanted_to:
            continue
        if wanted_from and message.from_number.lstrip("+") != wanted_from:
            continue
        if query.get("message_direction", "outbound") != "outbound":
            continue
        if "gt" in bounds and not created > bounds["gt"]:
            continue
        if "gte" in bounds and not created >= bounds["gte"]:
            continue
        if "lt" in bounds and not created < bounds["lt"]:
            continue
        if "lte" in bounds and not created <= bounds["lte"]:
            continue
        document = message.as_api_json("", now)
        if "message_state" in query and document["message_state"] != query["message_state"]:
            continue
        del document["api_id"]
        found.append(document)
    page = found[offset : offset + limit]
    more = offset + limit < len(found)
    return {
        "api_id": new_api_id(),
        "meta": {
            "limit": limit,
            "offset": offset,
            "total_count": len(found),
            "next": f"{path}?limit={limit}&offset={offset + limit}" if more else None,
            "previous": None,
        },
        "objects": page,
    }


def _plivo_timestamp(value: str) -> float:
    """Plivo's filter times: ``YYYY-mm-dd HH:MM[:SS[.ffffff]]``, in UTC."""
    for pattern in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise ValueError(f"message_time must look like 2026-11-28 12:00:00, not {value[:40]!r}")


async def get_pricing(request: web.Request) -> web.Response:
    """``GET /v1/Account/{auth_id}/Pricing/?country_iso=XX``: the SMS part of Plivo's answer.

    Every country gets the emulator's one invented rate; a code that names no country is
    answered 404, and a missing one 400, as Plivo does.
    """
    state = request.app[STATE]
    response = authenticate(request, state)
    if response is None:
        region = request.query.get("country_iso", "").upper()
        if not region:
            response = plivo_error(400, "country_iso is required")
        elif phonenumbers.country_code_for_region(region) == 0:
            response = plivo_error(404, "not found")
        else:
            rate = money(RATE_PER_UNIT)
            response = json_response(
                {
                    "api_id": new_api_id(),
                    "country": region,
                    "country_code": phonenumbers.country_code_for_region(region),
                    "country_iso": region,
                    "message": {
                        "inbound": {"rate": money(0)},
                        "outbound": {"rate": rate},
                        "outbound_networks_list": [{"group_name": region, "rate": rate}],
                    },
                }
            )
    _record(request, state, None, response.status)
    return response


def _accept(
    request: web.Request, state: EmulatorState, body: object, body_error: str | None
) -> tuple[web.Response, list[MessageRecord]]:
    denied = authenticate(request, state)
    if denied is not None:
        return denied, []
    if body_error is not None or not isinstance(body, dict):
        return plivo_error(400, body_error or "request body must be a JSON object"), []
    try:
        send = validate_send(body)
    except InvalidSend as exc:
        return plivo_error(400, str(exc)), []
    messages = [_queue(state, send, dst, request.remote or "") for dst in send.destinations.valid]
    answer: dict[str, object] = {
        "api_id": new_api_id(),
        "message": "message(s) queued",
        "message_uuid": [message.uuid for message in messages],
    }
    if send.destinations.invalid:
        answer["invalid_number"] = list(send.destinations.invalid)
    return json_response(answer, 202), messages


def _queue(state: EmulatorState, send: SendRequest, dst: str, ip: str) -> MessageRecord:
    message = MessageRecord(
        uuid=str(uuid.uuid4()),
        auth_id=state.auth_id,
        from_number=send.src,
        to_number=dst,
        type=send.type,
        text=send.text,
        units=send.units,
        outcome=state.outcome_for(dst),
        powerpack_uuid=send.powerpack_uuid,
        url=send.url,
        method=send.method,
        requester_ip=ip,
        created=time.time(),
        step_s=state.callback_delay_s,
    )
    state.add_message(message)
    return message


def _source(body: object) -> str | None:
    """The sender a send names (``src``, else ``powerpack_uuid``), if it names one."""
    if not isinstance(body, dict):
        return None
    source = body.get("src") or body.get("powerpack_uuid")
    return str(source) if source is not None else None


async def _read_body(request: web.Request) -> tuple[object, str | None]:
    """The decoded body (JSON value or form fields) and an error if it cannot be read."""
    if request.content_type in _FORMS:
        form = await request.post()
        return {name: value for name, value in form.items() if isinstance(value, str)}, None
    raw = await request.read()
    if not raw:
        return {}, None
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace"), "request body is not valid JSON"


def _injected(faults: Faults) -> web.Response:
    status = faults.status or 500
    headers = None
    if status == 429 and faults.retry_after is not None:
        headers = {"Retry-After": str(faults.retry_after)}
    if faults.body is not None:
        return raw_response(status, faults.body, headers)
    return plivo_error(status, _reason(status), headers)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a valid but unnamed status, such as 499
        return "error"


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer.

    aiohttp then finds the transport closing, skips writing the returned response and
    ends the connection quietly (it logs the "premature disconnection" at debug level).
    """
    if request.transport is not None:
        request.transport.close()
    return web.Response()


def _record(request: web.Request, state: EmulatorState, body: object, status: int | None) -> None:
    credentials = basic_credentials(request)
    state.record(
        RequestRecord(
            time=time.time(),
            method=request.method,
            path=request.path,
            auth_user=credentials[0] if credentials else None,
            content_type=request.headers.get("Content-Type", ""),
            body=body,
            status=status,
        )
    )
