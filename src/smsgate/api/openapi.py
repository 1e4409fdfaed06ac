"""The OpenAPI document: FastAPI's, plus the routes served as plain Starlette routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from smsgate.api.routes import send_sms


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
    operation["security"] = [{"apiKey": []}, {}]
    schema["paths"] = {"/api/send-sms": {"post": operation}, **schema.get("paths", {})}
    return schema
