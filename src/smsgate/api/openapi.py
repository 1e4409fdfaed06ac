"""The OpenAPI document: FastAPI's, plus the routes served as plain Starlette routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from smsgate.api.routes import send_sms
from smsgate.api.schemas import BatchAcceptedOut, CreateMessagesIn, MessageOut


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    components: dict[str, Any] = schema.setdefault("components", {})
    models: dict[str, Any] = components.setdefault("schemas", {})

    def ref(model: type[BaseModel]) -> dict[str, str]:
        models[model.__name__] = model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    operation = send_sms.openapi_operation(ref)
    components["securitySchemes"] = {
        "apiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "Required on /api/* when SMSGATE_API_KEYS is set.",
        }
    }
    create = send_sms.openapi_operation(
        ref,
        success=("201", MessageOut, "One number: stored and accepted by Plivo"),
        also=("202", BatchAcceptedOut, "Queued: a list, a send_at or mode queued"),
        operation_id="create_message",
        summary="Store and send one SMS now, or queue many",
        request=CreateMessagesIn,
    )
    for item in (operation, create):
        item["security"] = [{"apiKey": []}, {}]
        item["parameters"] = [IDEMPOTENCY_KEY]
    paths = schema.get("paths", {})
    paths.setdefault("/api/v1/messages", {})["post"] = create
    schema["paths"] = {"/api/send-sms": {"post": operation}, **paths}
    return schema


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeats with the same key and body get the first answer; Plivo is called "
    "once. Kept for SMSGATE_IDEMPOTENCY_TTL_HOURS.",
    "schema": {"type": "string", "maxLength": 255},
}
