"""The control API under ``/_emulator/``: inspect what arrived, inject faults, script outcomes.

It has no authentication: the emulator is a test double and must only listen where the
tests run (loopback by default), never where untrusted clients can reach it.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from smsgate.emulator.faults import Faults, InvalidFaults
from smsgate.emulator.keys import STATE
from smsgate.emulator.numbers import clean_number
from smsgate.emulator.records import FINAL_STATUSES
from smsgate.emulator.responses import json_response
from smsgate.emulator.state import check_final_status

routes = web.RouteTableDef()


@routes.get("/_emulator/requests")
async def list_requests(request: web.Request) -> web.Response:
    """Recorded Plivo API requests, oldest first; ``?limit=N`` keeps the newest N."""
    state = request.app[STATE]
    try:
        limit = int(request.query.get("limit", len(state.requests)))
    except ValueError:
        return _bad_request("limit must be a whole number")
    recorded = list(state.requests)[-limit:] if limit > 0 else []
    return json_response({"total": state.request_count, "requests": recorded})


@routes.delete("/_emulator/requests")
async def clear_requests(request: web.Request) -> web.Response:
    request.app[STATE].clear_requests()
    return json_response({"cleared": True})


@routes.get("/_emulator/stats")
async def stats(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].stats())


@routes.get("/_emulator/faults")
async def get_faults(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].faults.as_json())


@routes.put("/_emulator/faults")
async def put_faults(request: web.Request) -> web.Response:
    """Replace the faults with the JSON object sent; omitted fields take their defaults."""
    try:
        faults = Faults.from_json(await _json(request))
    except (InvalidFaults, TypeError) as exc:
        return _bad_request(str(exc))
    request.app[STATE].set_faults(faults)
    return json_response(faults.as_json())


@routes.delete("/_emulator/faults")
async def reset_faults(request: web.Request) -> web.Response:
    request.app[STATE].set_faults(Faults())
    return json_response(Faults().as_json())


@routes.get("/_emulator/outcomes")
async def list_outcomes(request: web.Request) -> web.Response:
    outcomes = request.app[STATE].outcomes
    return json_response({dst: _outcome_json(*outcome) for dst, outcome in outcomes.items()})


@routes.put("/_emulator/outcomes/{dst}")
async def put_outcome(request: web.Request) -> web.Response:
    """Script how messages to ``dst`` end: ``{"status": "undelivered", "error_code": "30"}``."""
    data = await _json(request)
    if not isinstance(data, dict):
        return _bad_request("outcome must be a JSON object")
    status, error_code = data.get("status"), data.get("error_code", "")
    try:
        final = check_final_status(status if isinstance(status, str) else "")
    except ValueError:
        return _bad_request(f"status must be one of {FINAL_STATUSES}")
    if not isinstance(error_code, str):
        return _bad_request("error_code must be a string")
    request.app[STATE].outcomes[clean_number(request.match_info["dst"])] = (final, error_code)
    return json_response(_outcome_json(final, error_code))


@routes.delete("/_emulator/outcomes")
async def clear_outcomes(request: web.Request) -> web.Response:
    request.app[STATE].outcomes.clear()
    return json_response({"cleared": True})


@routes.get("/_emulator/callbacks")
async def list_callbacks(request: web.Request) -> web.Response:
    """Every attempt to deliver a status callback, oldest first."""
    return json_response({"attempts": list(request.app[STATE].callback_attempts)})


@routes.post("/_emulator/reset")
async def reset(request: web.Request) -> web.Response:
    """Forget requests, messages, outcomes and callbacks, and clear the faults."""
    request.app[STATE].reset()
    return json_response({"reset": True})


async def _json(request: web.Request) -> object:
    raw = await request.read()
    try:
        return orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            body=orjson.dumps({"error": f"body is not valid JSON: {exc}"}),
            content_type="application/json",
        ) from exc


def _bad_request(error: str) -> web.Response:
    return json_response({"error": error}, 400)


def _outcome_json(status: str, error_code: str) -> dict[str, str]:
    return {"status": status, "error_code": error_code}
