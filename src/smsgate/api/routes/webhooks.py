"""``/api/v1/webhooks/plivo/*``: what Plivo (or the sandbox) posts back to smsgate.

No API key guards these routes: Plivo cannot send one. Every request must carry a valid Plivo
signature instead (V3 or V2, made with the auth token over SMSGATE_PUBLIC_URL + path), or it
gets 403 and changes nothing. The answers are quick and always 200 for a signed request, even
for a message smsgate does not know, so that Plivo stops retrying.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.responses import Response

from smsgate.api.deps import runtime_of
from smsgate.api.errors import ApiError
from smsgate.api.schemas import ErrorOut
from smsgate.api.webhook_signature import verify_plivo_request
from smsgate.bootstrap import Services
from smsgate.logs import get_logger
from smsgate.services.callbacks import apply_status_report
from smsgate.services.inbound import handle_inbound

router = APIRouter(prefix="/api/v1/webhooks/plivo", tags=["webhooks"])
log = get_logger("smsgate.webhooks")

# Plivo posts a form; these are the fields smsgate reads (Plivo sends more, all kept).
_FIELDS = ("MessageUUID", "Status", "To", "From", "Units", "TotalAmount", "ErrorCode", "Text")
_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {name: {"type": "string"} for name in _FIELDS},
                    "additionalProperties": {"type": "string"},
                }
            }
        },
    }
}
_REFUSED: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorOut, "description": "Not signed by Plivo with our auth token"}
}
# An empty <Response/>: Plivo's XML for "nothing to do".
NO_REPLY = "<Response></Response>"


@router.post(
    "/status",
    summary="Plivo's delivery reports",
    operation_id="plivo_status_report",
    response_class=Response,
    responses={200: {"description": "Recorded, or ignored (unknown message)"}, **_REFUSED},
    openapi_extra=_FORM,
)
@router.get("/status", include_in_schema=False, operation_id="plivo_status_report_get")
async def status_report(request: Request) -> Response:
    services = _services(request)
    fields = await _signed_fields(request, services)
    result = await apply_status_report(fields, services.store)
    if result.ignored:
        log.info("status_report_ignored", reason=result.ignored)
    return Response(status_code=200)


@router.post(
    "/inbound",
    summary="Messages sent to our number",
    operation_id="plivo_inbound",
    response_class=Response,
    responses={
        200: {
            "description": "Plivo XML: the reply to a HELP, else an empty <Response/>",
            "content": {"application/xml": {"schema": {"type": "string"}}},
        },
        **_REFUSED,
    },
    openapi_extra=_FORM,
)
@router.get("/inbound", include_in_schema=False, operation_id="plivo_inbound_get")
async def inbound(request: Request) -> Response:
    services = _services(request)
    fields = await _signed_fields(request, services)
    settings = runtime_of(request).settings
    result = await handle_inbound(fields, services.inbound, services.opt_outs, settings.help_reply)
    reply = NO_REPLY if result.reply_xml is None else result.reply_xml
    return Response(reply, status_code=200, media_type="application/xml")


def _services(request: Request) -> Services:
    return runtime_of(request).services


async def _signed_fields(request: Request, services: Services) -> Mapping[str, str]:
    """The posted (or queried) fields, once the signature over them holds; else 403."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    form: dict[str, list[str]] | None = None
    if request.method == "POST":
        body = (await request.body()).decode("utf-8", errors="replace")
        form = parse_qs(body, keep_blank_values=True)
        values = form
    else:
        values = parse_qs(query, keep_blank_values=True)
    path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    path = path.split("?", 1)[0]
    if not verify_plivo_request(
        request.method,
        services.callback_base_url,
        path,
        query,
        request.headers,
        form,
        services.callback_token,
    ):
        log.warning("webhook_signature_refused", path=request.url.path)
        raise ApiError(403, "invalid_signature", "The request is not signed by Plivo.")
    return {name: items[-1] for name, items in values.items()}
