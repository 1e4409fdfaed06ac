"""The OpenAPI document: FastAPI's, plus the routes served as plain Starlette routes.

It lists every answer the server can give, checked by schemathesis (``tests/api/
test_schema_fuzz.py``). FastAPI's own 422 is not one of them: a query or body FastAPI refuses
is answered 400 in smsgate's one error shape (``api/errors.py``), so that 422 is replaced, and
the answers of the layers in front of the routes (the API guard, the body cap, the store) are
added to the operations they guard.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from smsgate.api.errors import MAX_BODY_BYTES
from smsgate.api.guard import PROTECTED_PREFIX, SIGNED_PREFIX
from smsgate.api.routes import send_sms
from smsgate.api.schemas import BatchAcceptedOut, CreateMessagesIn, ErrorOut, MessageOut


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
        document = model.model_json_schema(ref_template="#/components/schemas/{model}")
        # The models it refers to go beside it, where the template points.
        models.update(document.pop("$defs", {}))
        models[model.__name__] = document
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
    error = ref(ErrorOut)
    for path, operations in schema["paths"].items():
        for item in operations.values():
            item["responses"] = _every_answer(path, item, error)
    for unused in ("HTTPValidationError", "ValidationError"):
        models.pop(unused, None)
    return schema


def _every_answer(path: str, operation: dict[str, Any], error: dict[str, str]) -> dict[str, Any]:
    """The operation's answers with FastAPI's 422 made smsgate's 400, and those of the layers
    in front of the route added: the guard, the body cap and the store."""
    answers: dict[str, Any] = dict(operation["responses"])

    def add(status: int, description: str) -> None:
        answers.setdefault(
            str(status),
            {"description": description, "content": {"application/json": {"schema": error}}},
        )

    validation = answers.get("422", {}).get("content", {}).get("application/json", {})
    if validation.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
        del answers["422"]
        add(400, "A parameter or the body is not valid")
    if path.startswith(PROTECTED_PREFIX):
        if not path.startswith(SIGNED_PREFIX):
            add(401, "A valid API key is required (once SMSGATE_API_KEYS or a stored key exists)")
            add(403, "A browser request started by another website, or a foreign host name")
            add(429, "Too many requests for this API key (SMSGATE_RATE_LIMIT; see Retry-After)")
        add(503, "smsgate's database is unavailable (see Retry-After)")
    if "requestBody" in operation:
        add(413, f"The body is over its cap ({MAX_BODY_BYTES // 1024} KiB for most routes)")
    return dict(sorted(answers.items()))


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeats with the same key and body get the first answer; Plivo is called "
    "once. Kept for SMSGATE_IDEMPOTENCY_TTL_HOURS.",
    "schema": {"type": "string", "maxLength": 255},
}
