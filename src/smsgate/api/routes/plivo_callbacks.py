"""``/api/v1/webhooks/plivo/*``: what Plivo (or the sandbox) posts back to smsgate.

No API key guards these routes: Plivo cannot send one. Every request must carry a valid Plivo
signature instead (V3 or V2, made with the auth token over SMSGATE_PUBLIC_URL + path), or it
gets 403 and changes nothing. The answers are quick and always 200 for a signed request, even
for a message smsgate does not know, so that Plivo stops retrying.

The route knows HTTP only: the provider's ``CallbackReader`` (built by bootstrap) checks the
signature, reads the form into a report, and writes the answer document.
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
from smsgate.bootstrap import Services
from smsgate.logs import get_logger
from smsgate.services.delivery_reports import apply_delivery_report
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
    report = services.callback_reader.delivery_report(fields)
    result = await apply_delivery_report(report, services.store)
    if result.ignored:
        log.info("status_report_ignored", reason=result.ignored)
    elif result.transition is not None and result.transition.applied:
        services.metrics.status_reports.labels(result.transition.new.value).inc()
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
    report = services.callback_reader.inbound_report(fields)
    reply_to_help = services.settings.help_reply
    result = await handle_inbound(report, services.inbound, services.opt_outs, reply_to_help)
    reply = services.callback_reader.reply_document(result.reply)
    return Response(reply.body, status_code=200, media_type=reply.media_type)


def _services(request: Request) -> Services:
    return runtime_of(request).services


async def _signed_fields(request: Request, services: Services) -> Mapping[str, str]:
    """The posted (or queried) fields, once the signature over them holds; else 403."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    form: dict[str, list[str]] | None = None
    if request.method == "POST":
        form = read_form(await request.body())
        if form is None:
            log.warning("webhook_form_refused", path=request.url.path)
            raise ApiError(403, "invalid_signature", "The request is not signed by Plivo.")
        values = form
    else:
        values = parse_qs(query, keep_blank_values=True)
    path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    path = path.split("?", 1)[0]
    if not services.callback_reader.verify(request.method, path, query, request.headers, form):
        log.warning("webhook_signature_refused", path=request.url.path)
        raise ApiError(403, "invalid_signature", "The request is not signed by Plivo.")
    return single_values(values)


def read_form(body: bytes) -> dict[str, list[str]] | None:
    """Every field of a form body with all its values, blank ones included, as the signature
    covers them; bytes that are not UTF-8 read as U+FFFD.

    None for a field without a name or without "=": Plivo writes each as name=value, blank
    or not, and V3 signs names and values run together, so "a=bc" and "a&bc" (two blank
    fields) would share a signature, as would any number of "=" (nameless and blank).
    """
    text = body.decode("utf-8", errors="replace")
    for field in text.split("&"):
        name, equals, _ = field.partition("=")
        if field and not (name and equals):
            return None
    return parse_qs(text, keep_blank_values=True)


def single_values(values: Mapping[str, list[str]]) -> dict[str, str]:
    """One value a field, for the handlers. A field given more than once with different
    values is left out: V3 signs a field's values sorted, so the signature cannot say which
    came last, and swapping them must not change what smsgate reads. (Plivo sends each field
    once.)"""
    return {name: items[0] for name, items in values.items() if len(set(items)) == 1}
