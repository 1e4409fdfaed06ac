"""The API page at ``/docs``: Swagger UI, from files shipped in a package, not from a CDN.

The fastapi-offline package carries Swagger UI's script and style sheet; they are served
under an address that names the package's version, so a browser keeps them for a year and a
new version is a new address. The page's own script (``static/docs.js``) starts Swagger UI
on the OpenAPI document the page names, so the page needs no inline script: it renders
offline, under the console's Content Security Policy (``api/security_headers.py``), and runs
no third-party script on the console's origin. ``/redoc``, FastAPI's other page, sends its
visitors here.
"""

from __future__ import annotations

import os
from importlib.metadata import version

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from smsgate.api.routes.page import TEMPLATES

ASSETS = f"/docs/static/{version('fastapi-offline')}"
A_YEAR = "public, max-age=31536000, immutable"


class _Versioned(StaticFiles):
    """Files whose address changes with their content: cached for good."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = A_YEAR
        return response


def install_docs(app: FastAPI) -> None:
    """The app is made with ``docs_url=None`` and ``redoc_url=None``: these stand instead."""
    openapi_url = app.openapi_url or "/openapi.json"

    async def docs(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        return TEMPLATES.TemplateResponse(
            request,
            "docs.html",
            {"title": app.title, "root": root, "assets": root + ASSETS, "openapi": openapi_url},
        )

    async def redoc(request: Request) -> Response:
        return RedirectResponse(request.scope.get("root_path", "") + "/docs")

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS, _Versioned(packages=[("fastapi_offline", "static")]), name="docs-static")
